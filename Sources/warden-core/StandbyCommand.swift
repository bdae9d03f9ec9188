import ArgumentParser
import CSandbox
import Glibc
import WardenPolicy
import WardenSandbox

struct StandbyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standby",
        abstract: "Prepare a launch ahead, so that the next matching `warden run` starts at once.",
        discussion: """
        A standby makes everything a `warden run` with the same options
        makes (the view, cgroup, namespaces, mounts, Landlock ruleset,
        seccomp, supervisor) and then waits, in the background, for a
        command. The next `warden run` with the same profile, workspace
        and options hands it its command, environment and terminal, and
        the run is the one it would have made itself: same protections,
        same gate, same audit row, about half the launch time.

        After each run a fresh standby takes its place; one that waits
        longer than --idle ends. --count keeps several waiting for the
        same options, so that a burst of runs (agents started together)
        gets one each. A standby declines (the run launches
        itself) when its view or plan went out of date (the workspace
        changed, a profile was edited), when the run comes from another
        directory, or when the command does not bind (not found, not in
        the tools). `warden run --no-standby` always launches itself.

          warden standby --profile code    # prints "standby ready: SOCKET"
          warden run --profile code -- make
          warden standby --profile code --count 4   # three more
          warden standby --profile code --stop      # all of them

        Only the user who made it can use it, and never from inside a
        sandbox. SIGTERM, SIGINT and SIGHUP end a waiting standby cleanly.
        """
    )

    /// A run uses this standby only when its values of these are the same.
    @OptionGroup var launch: LaunchArguments

    @Option(name: .long, help: "End the standby if no run claims it for this long (e.g. 90s, 10m, 1h).")
    var idle = "10m"

    @Option(name: .long, help: "How many standbys to keep waiting for these options (1-\(Standby.slots)); each serves one run at a time.")
    var count = 1

    @Flag(name: .long, help: "End the standbys made with these options instead of making one.")
    var stop = false

    /// Which of the key's sockets this one listens on (see `Standby.slots`).
    @Option(name: .long, help: .hidden)
    var slot = 0

    @Flag(name: .long, help: .hidden)
    var serve = false

    @Option(name: .long, help: .hidden)
    var lockFD: Int32 = -1

    @Option(name: .long, help: .hidden)
    var readyFD: Int32 = -1

    func validate() throws {
        if parseDuration(idle) == nil {
            throw ValidationError("--idle '\(idle)' is not a duration (e.g. 90s, 10m, 1h)")
        }
        if !(1...Standby.slots).contains(count) {
            throw ValidationError("--count \(count): between 1 and \(Standby.slots) standbys may wait for the same options")
        }
        if !(0..<Standby.slots).contains(slot) {
            throw ValidationError("--slot \(slot) is not a slot (0-\(Standby.slots - 1))")
        }
    }

    func run() throws {
        let settings = StandbySettings(profile: launch.profile, workspace: launch.workspace,
                                       timeout: launch.timeout.flatMap(parseDuration), allowDegraded: Set(launch.allowDegraded),
                                       json: launch.json, audit: launch.audit.map(absolutePath), view: launch.viewOptions,
                                       idle: parseDuration(idle) ?? 600, count: count, slot: slot, stop: stop, serve: serve,
                                       readyFD: readyFD, lockFD: lockFD)
        throw ExitCode(settings.run())
    }
}
