/// One layer of the sandbox and whether this launch has it. `--explain` prints these, and a
/// launch refuses to start while any is `.missing` (fail closed).
public struct Protection: Sendable {
    public enum State: Sendable, Equatable {
        case enforced
        /// Not available here, and the user did not opt down: the launch is refused.
        case missing(reason: String)
        /// Not available here, and the user passed `--allow-degraded FEATURE`.
        case degraded(reason: String)
    }

    /// The name `--allow-degraded` takes, e.g. `landlock-scope`.
    public var feature: String
    public var state: State
    public var detail: String

    public init(feature: String, state: State, detail: String) {
        self.feature = feature
        self.state = state
        self.detail = detail
    }

    /// The features `--allow-degraded` accepts.
    public static let features = [
        "namespaces", "cgroup", "landlock", "landlock-truncate", "landlock-network",
        "landlock-scope", "seccomp", "supervisor",
    ]
}
