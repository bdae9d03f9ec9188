import Dispatch
import Glibc
import WardenAudit
import WardenGate
import WardenSandbox

/// What earlier runs left (cgroups of crashed runners, the discarded views in the trash),
/// removed at the lowest priority once this run's agent has started: done during the launch,
/// it took half a millisecond from it (the removal's inode frees contend with the view's
/// creation even at nice 19). A run whose agent ends first leaves the rest to the next run,
/// unless the trash holds more than `backlog` views: then it waits for the work at exit, so
/// that a loop of quick runs cannot pile discarded views up.
final class Housekeeping: @unchecked Sendable {
    static let backlog = 8
    private let gate: Gate?
    private let done = DispatchSemaphore(value: 0)
    private var started = false

    init(gate: Gate?) { self.gate = gate }

    func start() {
        guard !started else { return }
        started = true
        let gate = self.gate, done = self.done
        startBackgroundThread {
            // On Linux the nice value is per thread, and 0 names the calling one.
            setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            RunCgroup.removeStale()
            gate?.emptyTrash()
            done.signal()
        }
    }

    /// At exit: waits for the work only when the trash has piled up.
    func finish() {
        guard started, (gate?.trashedViews() ?? 0) > Self.backlog else { return }
        wait()
    }

    /// Starts the work if need be and waits for it: a standby does it all before it says it
    /// is ready, so that none of it runs alongside the run it takes.
    func wait() {
        start()
        done.wait()
        done.signal()
    }
}
