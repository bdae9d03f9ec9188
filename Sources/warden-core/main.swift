import Glibc
import WardenPolicy

// A repeated `warden run` whose plan is cached starts the agent without parsing policy or
// building the argument parser's command tree; so does a standby warden starts itself.
// Anything else goes through the full CLI.
LaunchTiming.mark("main")
let arguments = Array(CommandLine.arguments.dropFirst())
if let status = FastRun.attempt(arguments) {
    LaunchTiming.mark("exit")
    LaunchTiming.report()
    exit(status)
}
if let settings = StandbySettings(serveLine: arguments) { exit(settings.run()) }
Warden.main()
