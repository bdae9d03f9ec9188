// Picks this run's denials out of the system-wide stream of audit records.
//
// The multicast group carries every record of the machine, other sandboxes' included. A
// Landlock access record names only a domain id, which user space cannot learn in advance;
// the domain's "allocated" record, which the kernel emits once, right after the domain's
// first logged denial and in the same event, names the pid that called
// landlock_restrict_self. The runner knows that pid (the agent's, as the host sees it), so:
// hold access records until their domain's creator is known, keep the ones whose creator is
// our agent, drop the rest. Records of one event share a serial; the SYSCALL record that
// follows (with the denied process's pid and the errno) completes it, EOE closes it.

struct LandlockDenied: Equatable {
    var timeNS: Int64
    var serial: UInt64
    var access: LandlockAccessRecord
    /// The process that was refused (from the event's SYSCALL record), 0 when unknown.
    var pid: Int32
    /// The errno the call returned, when the SYSCALL record says (`exit=-13`).
    var errno: Int32?
}

struct LandlockRecordStream {
    /// The pid that called landlock_restrict_self for this run; nil until the runner knows it.
    private(set) var creator: Int32?
    /// This run's domain, once seen.
    private(set) var domain: String?
    /// Every domain whose allocation was logged meanwhile, and its creator.
    private var creators: [String: Int32] = [:]
    private var open: [UInt64: Event] = [:]
    /// Complete events whose domain's creator is not known yet (bounded).
    private var waiting: [LandlockDenied] = []
    static let maxWaiting = 10_000
    static let maxOpen = 256
    /// Records this stream could not keep (waiting overflow).
    private(set) var dropped = 0
    /// Every denial of our domain, logged or not, as its deallocation record counts them:
    /// set once the domain is freed (some tens of milliseconds after the agent's exit).
    private(set) var domainDenials: Int?

    private struct Event {
        var timeNS: Int64
        var access: [LandlockAccessRecord] = []
        var pid: Int32 = 0
        var errno: Int32?
    }

    /// Feeds one record; returns the denials of this run it completed.
    mutating func add(type: UInt16, text: String) -> [LandlockDenied] {
        guard let record = AuditRecordText(text) else { return [] }
        switch type {
        case AuditRecordType.landlockAccess:
            guard let access = LandlockAccessRecord(record) else { return [] }
            open[record.serial, default: Event(timeNS: record.timeNS)].access.append(access)
            return closeOldest()
        case AuditRecordType.landlockDomain:
            if record["status"] == "allocated", let id = record["domain"], let pid = record["pid"].flatMap({ Int32($0) }) {
                creators[id] = pid
                if pid == creator { domain = id }
            } else if record["status"] == "deallocated", let id = record["domain"], id == domain {
                domainDenials = record["denials"].flatMap { Int($0) }
            }
            return []
        case AuditRecordType.syscall:
            guard open[record.serial] != nil else { return [] }
            open[record.serial]?.pid = record["pid"].flatMap { Int32($0) } ?? 0
            if record["success"] == "no", let exit = record["exit"].flatMap({ Int32($0) }), exit < 0 {
                open[record.serial]?.errno = -exit
            }
            return []
        case AuditRecordType.endOfEvent:
            return close(record.serial)
        default:
            return []
        }
    }

    /// The runner learned which pid created the domain: releases what was waiting for it.
    mutating func setCreator(_ pid: Int32) -> [LandlockDenied] {
        creator = pid
        if domain == nil { domain = creators.first { $0.value == pid }?.key }
        return resolve()
    }

    /// Closes every open event (the run is over and the log flushed).
    mutating func finish() -> [LandlockDenied] {
        var out: [LandlockDenied] = []
        for serial in open.keys.sorted() { out += close(serial) }
        return out
    }

    private mutating func close(_ serial: UInt64) -> [LandlockDenied] {
        guard let event = open.removeValue(forKey: serial) else { return [] }
        for access in event.access {
            waiting.append(LandlockDenied(timeNS: event.timeNS, serial: serial, access: access, pid: event.pid,
                                          errno: event.errno))
        }
        return resolve()
    }

    /// An event without an EOE (a denial outside any syscall) must not stay open for ever.
    private mutating func closeOldest() -> [LandlockDenied] {
        guard open.count > Self.maxOpen, let oldest = open.keys.min() else { return [] }
        return close(oldest)
    }

    /// Hands out the waiting denials of our domain. Once the creator is known everything
    /// else is someone else's: our domain's allocation record comes in the same event as its
    /// first denial, before that event closes, so a domain not known by then was allocated
    /// (and first logged) before this collector was listening, which ours cannot have been.
    private mutating func resolve() -> [LandlockDenied] {
        guard creator != nil else {
            if waiting.count > Self.maxWaiting {
                dropped += waiting.count - Self.maxWaiting
                waiting.removeFirst(waiting.count - Self.maxWaiting)
            }
            return []
        }
        let ours = waiting.filter { $0.access.domain == domain }
        waiting = []
        return ours
    }
}
