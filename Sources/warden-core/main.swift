import Glibc
import WardenPolicy

// A repeated `warden run` whose plan is cached starts the agent without parsing policy or
// building the argument parser's command tree; anything else goes through the full CLI.
LaunchTiming.mark("main")
if let status = FastRun.attempt(Array(CommandLine.arguments.dropFirst())) {
    LaunchTiming.mark("exit")
    LaunchTiming.report()
    exit(status)
}
Warden.main()
