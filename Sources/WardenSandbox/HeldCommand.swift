import CSandbox
import Glibc

/// A standby's command, once a `warden run` claimed it.
public struct HeldCommand {
    /// The standby's plan bound to the claiming run's command and environment.
    public let plan: LaunchPlan
    /// The claiming run's stdin, stdout and stderr, for the agent.
    public let stdio: [Int32]
    /// Called once the agent has the command (the caller's side of the hand-over).
    public let sent: () -> Void

    public init(plan: LaunchPlan, stdio: [Int32], sent: @escaping () -> Void = {}) {
        self.plan = plan
        self.stdio = stdio
        self.sent = sent
    }
}

/// A standby ended without being claimed (see `Launcher.run`'s `hold`).
public struct StandbyEnded: Error {
    public init() {}
}

extension Launcher {
    /// The agent's environment: the plan's, with warden's own control variables set by the
    /// runner alone (never passed through from the caller).
    static func agentEnvironment(_ plan: LaunchPlan, controlled: Bool, selfTool: String?) -> [String] {
        let ours = (controlled ? ["WARDEN_CONTROL_FD=\(WARDEN_CONTROL_FD)"] : []) + (selfTool.map { ["WARDEN_EXE=\($0)"] } ?? [])
        return plan.environment.filter { !$0.hasPrefix("WARDEN_CONTROL_FD=") && !$0.hasPrefix("WARDEN_EXE=") } + ours
    }

    /// Hands a waiting standby child its command (see spawn.c), laid out as warden_send_command reads it.
    static func sendCommand(_ sock: Int32, _ held: HeldCommand, controlled: Bool, selfTool: String?) -> Int32 {
        let env = agentEnvironment(held.plan, controlled: controlled, selfTool: selfTool)
        var blob: [UInt8] = []
        for s in [held.plan.executable] + held.plan.argv + env {
            blob.append(contentsOf: s.utf8)
            blob.append(0)
        }
        return blob.withUnsafeBytes { b in
            held.stdio.withUnsafeBufferPointer { fds in
                warden_send_command(sock, b.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(b.count),
                                    UInt32(held.plan.argv.count), UInt32(env.count), fds.baseAddress, Int32(fds.count))
            }
        }
    }
}
