import Glibc

// A repeated `warden run` whose plan is cached starts the agent without parsing policy or
// building the argument parser's command tree; anything else goes through the full CLI.
if let status = FastRun.attempt(Array(CommandLine.arguments.dropFirst())) {
    exit(status)
}
Warden.main()
