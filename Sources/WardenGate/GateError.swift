import Glibc

/// A failure of the gate itself (as opposed to a refused changeset, `GateRejection`).
public enum GateError: Error, Sendable, CustomStringConvertible {
    case io(operation: String, errno: Int32)
    case store(String)
    /// Another writer holds the lock beyond the wait.
    case busy(String)

    public var description: String {
        switch self {
        case let .io(operation, e): return "\(operation): \(String(cString: strerror(e)))"
        case let .store(message): return "gate store: \(message)"
        case let .busy(message): return message
        }
    }
}
