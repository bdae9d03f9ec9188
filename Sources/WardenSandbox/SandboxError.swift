import Glibc

/// Why a launch did not happen. Each case maps to its own exit code in the CLI.
public enum SandboxError: Error, CustomStringConvertible, Sendable {
    /// A protection the plan needs is missing on this machine (fail closed).
    case unavailable(feature: String, reason: String)
    /// Setting up a layer failed in the runner, before the child existed.
    case setup(stage: String, errno: Int32)
    /// The child reported a failure before exec: {stage, errno}.
    case child(stage: String, errno: Int32)
    /// The command cannot be run at all (not found, not allowed by the profile).
    case command(String)

    public var description: String {
        switch self {
        case let .unavailable(feature, reason):
            return "refusing to launch: \(reason); pass --allow-degraded \(feature) to run without it"
        case let .setup(stage, err):
            return "\(stage): \(errnoName(err)) (\(String(cString: strerror(err))))"
        case let .child(stage, err):
            return "\(stage): \(errnoName(err)) (\(String(cString: strerror(err))))"
        case let .command(message):
            return message
        }
    }
}

private let errnoNames: [Int32: String] = [
    EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
    E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
    ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
    EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
    ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", ETXTBSY: "ETXTBSY", EFBIG: "EFBIG",
    ENOSPC: "ENOSPC", EROFS: "EROFS", EPIPE: "EPIPE", ENAMETOOLONG: "ENAMETOOLONG",
    ENOSYS: "ENOSYS", ELOOP: "ELOOP", EOPNOTSUPP: "EOPNOTSUPP", EAFNOSUPPORT: "EAFNOSUPPORT",
    ECONNREFUSED: "ECONNREFUSED", ENETUNREACH: "ENETUNREACH",
]

public func errnoName(_ err: Int32) -> String {
    errnoNames[err] ?? "errno \(err)"
}
