// Batches audit events off the supervisor's notification thread. The agent's syscall waits
// until the supervisor answers, so record() must cost a lock and an append, never a disk
// write; a background thread commits batches. A failing disk must not stop the run either:
// the writer counts what it could not store and reports it at the end instead of throwing.

import Foundation

public final class AuditWriter: @unchecked Sendable {
    /// What happened to everything recorded, returned once by `finish()`.
    public struct Summary: Sendable, Equatable {
        /// Rows committed to the store.
        public var written: Int
        /// Rows recorded but not stored (failed batch, overflow, recorded after finish).
        public var lost: Int
        /// True when every recorded event was committed.
        public var complete: Bool
        /// The first failure, as a message for the end-of-run line; nil when complete.
        public var firstError: String?
        /// Tallies of every recorded event, stored or not, with `lost` filled in.
        public var counts: RunCounts
    }

    private let core: Core

    /// - Parameters:
    ///   - batchSize: events per transaction, and the queue length that wakes the flusher early.
    ///   - flushInterval: seconds between flushes when fewer than `batchSize` are queued; the
    ///     bound on how stale `warden audit --follow` can be.
    ///   - maxQueued: events allowed to wait for the disk, the batches being committed
    ///     included. Past it, record() drops and counts instead of growing memory without
    ///     bound under a notification flood the disk cannot keep up with (about 150 bytes
    ///     an event plus its strings: the default is a few hundred MB at worst).
    ///   - onCommit: called on the writer thread after each committed batch with the total
    ///     committed so far (tests use it to know what must survive a kill).
    public init(store: AuditStore, batchSize: Int = 1000, flushInterval: Double = 0.05,
                maxQueued: Int = 1_000_000, onCommit: (@Sendable (Int) -> Void)? = nil) {
        precondition(batchSize > 0 && maxQueued >= batchSize && flushInterval > 0)
        core = Core(store: store, batchSize: batchSize, flushInterval: flushInterval,
                    maxQueued: maxQueued, onCommit: onCommit)
        let core = self.core
        startBackgroundThread { core.flushLoop() }
    }

    deinit {
        _ = core.finish()
    }

    /// Queues one event. Never blocks on SQLite and never fails: trouble shows up in the
    /// summary `finish()` returns.
    public func record(_ event: AuditEvent) {
        core.record(event)
    }

    /// Commits everything queued, stops the writer thread and reports. Later calls return
    /// the same summary; events recorded after it are counted as lost.
    @discardableResult
    public func finish() -> Summary {
        core.finish()
    }
}

/// The state shared by the caller's threads and the writer thread; the writer thread holds
/// this rather than the AuditWriter, so dropping the writer without finish() still stops it.
private final class Core: @unchecked Sendable {
    let store: AuditStore
    let batchSize: Int
    let flushInterval: Double
    let maxQueued: Int
    let onCommit: (@Sendable (Int) -> Void)?

    // Everything below is guarded by `condition`.
    let condition = NSCondition()
    /// Filled batches waiting for the flusher, then the one being filled. Batches rather
    /// than one growing array: appending never copies more than one batch's worth, so a
    /// backlog makes no single record() slow.
    var full: [[AuditEvent]] = []
    var current: [AuditEvent]
    var queued = 0
    /// Emptied batches handed back by the flusher with their capacity, so record() rarely
    /// allocates, and the events' memory is released on the flusher's thread.
    var spares: [[AuditEvent]] = []
    var counts = RunCounts()
    var written = 0
    var lost = 0
    var firstError: String?
    var finishing = false
    var threadDone = false
    var summary: AuditWriter.Summary?

    init(store: AuditStore, batchSize: Int, flushInterval: Double, maxQueued: Int,
         onCommit: (@Sendable (Int) -> Void)?) {
        self.store = store
        self.batchSize = batchSize
        self.flushInterval = flushInterval
        self.maxQueued = maxQueued
        self.onCommit = onCommit
        current = []
        current.reserveCapacity(batchSize)
    }

    func record(_ event: AuditEvent) {
        condition.lock()
        counts.add(event)
        if finishing {
            noteLoss(1, "an event was recorded after finish()")
        } else if queued >= maxQueued {
            noteLoss(1, "more than \(maxQueued) events were waiting for the disk; the excess was dropped")
        } else {
            current.append(event)
            queued += 1
            if current.count == batchSize {
                full.append(current)
                current = spares.popLast() ?? []
                current.reserveCapacity(batchSize)
                // Signal only when a batch fills, not on every append: waking the flusher
                // is a syscall, and its timed wait picks up partial batches anyway.
                condition.signal()
            }
        }
        condition.unlock()
    }

    func finish() -> AuditWriter.Summary {
        condition.lock()
        defer { condition.unlock() }
        if let summary { return summary }
        finishing = true
        condition.broadcast()
        while !threadDone { condition.wait() }
        var final = counts
        final.lost = lost
        let result = AuditWriter.Summary(written: written, lost: lost, complete: lost == 0,
                                         firstError: firstError, counts: final)
        summary = result
        return result
    }

    /// Caller holds the lock.
    private func noteLoss(_ n: Int, _ why: String) {
        lost += n
        if firstError == nil { firstError = why }
    }

    func flushLoop() {
        condition.lock()
        while true {
            let deadline = Date(timeIntervalSinceNow: flushInterval)
            while full.isEmpty && !finishing {
                if !condition.wait(until: deadline) { break }
            }
            // On the timer (or at the end) the partial batch goes too.
            var batches: [[AuditEvent]] = []
            swap(&batches, &full)
            if !current.isEmpty {
                batches.append(current)
                current = spares.popLast() ?? []
                current.reserveCapacity(batchSize)
            }
            if batches.isEmpty {
                if finishing { break }
                continue
            }
            let taken = batches.reduce(0) { $0 + $1.count }
            condition.unlock()
            // popLast moves each batch out, so it is uniquely owned and removeAll below
            // empties it in place (releasing the events here, outside the lock) instead of
            // copying it.
            batches.reverse()
            var emptied: [[AuditEvent]] = []
            while var batch = batches.popLast() {
                commit(batch)
                batch.removeAll(keepingCapacity: true)
                if emptied.count < 4 { emptied.append(batch) }
            }
            condition.lock()
            queued -= taken
            spares += emptied.prefix(max(0, 4 - spares.count))
        }
        threadDone = true
        condition.broadcast()
        condition.unlock()
    }

    /// One transaction for one batch. A busy store is retried: another runner holding the
    /// write lock past the busy timeout is a slow neighbour, not a reason to drop rows.
    /// Anything else (disk full, I/O error) loses the batch, counted, and the writer keeps
    /// going, because the next batch may fit and the run must not stop over its audit.
    private func commit(_ batch: [AuditEvent]) {
        let attempts = 3
        for attempt in 1...attempts {
            do {
                try store.insert(batch)
                condition.lock()
                written += batch.count
                let total = written
                condition.unlock()
                onCommit?(total)
                return
            } catch let error as AuditError where error.isBusy && attempt < attempts {
                continue
            } catch {
                condition.lock()
                noteLoss(batch.count, "\(error)")
                condition.unlock()
                return
            }
        }
    }
}
