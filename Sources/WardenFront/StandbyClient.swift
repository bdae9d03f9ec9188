import CSandbox
import Glibc

/// The `warden run` side.
public enum StandbyClient {
    /// Runs the command through the standby for `key`, if one is waiting, and exits with the
    /// run's status; nil: no standby took it (none is there, it was made
    /// for another plan, or it found its view or plan out of date), so the caller launches
    /// the command itself.
    /// - Parameter environment: `NAME=value` entries, as in `environ`.
    public static func run(directory: String, key: String, argv: [String], environment: [String], cwd: String) -> Int32? {
        let request = Standby.Request(kind: .run, key: key, cwd: cwd, argv: argv, environment: environment)
        // Runs of a burst start at different slots, so that they seldom queue for the same
        // standby; one that finds its taken (EOF) or declining moves on to the next.
        let first = Int(getpid()) % Standby.slots
        for i in 0..<Standby.slots {
            let path = Standby.socketPath(directory: directory, key: key, slot: (first + i) % Standby.slots)
            guard access(path, F_OK) == 0, let fd = Standby.connect(path) else { continue }
            if let status = run(fd, request) { return status }
        }
        return nil
    }

    /// One standby's answer to `request`: nil when it did not take the command.
    private static func run(_ fd: Int32, _ request: Standby.Request) -> Int32? {
        defer { close(fd) }
        // Signals go to the standby from now on: it passes them to the agent, also those that
        // come while it is still taking the command. If this process dies, the standby sees
        // EOF and ends the run.
        var pid: pid_t = 0, uid: uid_t = 0
        if warden_peer(fd, &pid, &uid) == 0, pid > 0 { warden_forward_signals(pid) }
        // One byte: "declined", or "accepted", which the standby says before the command
        // reaches its agent; the status (four bytes) follows at the run's end. Nothing (EOF)
        // means it never took the command, and launching it elsewhere is safe. After
        // "accepted" it is not: the command may have run, and must not run twice.
        guard Standby.send(fd, request, fds: [0, 1, 2]), let reply = readExactly(fd, 1),
              reply[0] == Standby.accepted else {
            warden_forward_signals(0)
            return nil
        }
        guard let status = readExactly(fd, 4) else {
            fputs("warden: the standby that took the command ended without its exit status; the command was not run again\n", stderr)
            return 70  // WardenExit.internalError
        }
        let code = status.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(as: Int32.self)) }
        // Nothing of this process needs tearing down (no store, no threads): _exit skips the
        // runtime's exit handlers, a third of a millisecond of a launch this short.
        LaunchTiming.mark("exit")
        LaunchTiming.report()
        fflush(stdout)
        fflush(stderr)
        _exit(code)
    }
}

