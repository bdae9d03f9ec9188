import CSandbox
import Glibc
import WardenPolicy

/// Landlock access rights, masked to what the running kernel's ABI knows. Handling every right
/// the ABI has is what makes an unlisted path inaccessible: a right the ruleset does not handle
/// is simply allowed.
public struct LandlockRights: Sendable {
    public let abi: Int
    /// False when the user opted down from truncate control (`--allow-degraded landlock-truncate`).
    public let truncate: Bool

    public init(abi: Int, truncate: Bool = true) {
        self.abi = abi
        self.truncate = truncate
    }

    /// The running kernel's ABI, or the reason Landlock is unavailable.
    public static func probe() -> Result<Int, SandboxError> {
        let abi = warden_landlock_abi()
        if abi > 0 { return .success(Int(abi)) }
        let why = -abi == EOPNOTSUPP ? "disabled at boot (add landlock to the lsm= kernel parameter)"
            : "not supported by this kernel (\(errnoName(-abi)))"
        return .failure(.unavailable(feature: "landlock", reason: "Landlock is \(why)"))
    }

    public var handledFS: UInt64 {
        var rights: UInt64 = 0
        for bit in 0...12 { rights |= 1 << UInt64(bit) }
        if abi >= 2 { rights |= UInt64(WARDEN_LL_FS_REFER) }
        if abi >= 3 && truncate { rights |= UInt64(WARDEN_LL_FS_TRUNCATE) }
        if abi >= 5 { rights |= UInt64(WARDEN_LL_FS_IOCTL_DEV) }
        return rights
    }

    public var handlesNetwork: Bool { abi >= 4 }
    public var handlesScopes: Bool { abi >= 6 }

    public var read: UInt64 { UInt64(WARDEN_LL_FS_READ_FILE | WARDEN_LL_FS_READ_DIR) }
    public var execute: UInt64 { UInt64(WARDEN_LL_FS_EXECUTE | WARDEN_LL_FS_READ_FILE) }

    /// Everything a role needs to change a tree, but never to execute in it or to create
    /// device nodes, sockets or FIFOs there.
    public var write: UInt64 {
        var rights = read | UInt64(WARDEN_LL_FS_WRITE_FILE | WARDEN_LL_FS_REMOVE_DIR | WARDEN_LL_FS_REMOVE_FILE
            | WARDEN_LL_FS_MAKE_DIR | WARDEN_LL_FS_MAKE_REG | WARDEN_LL_FS_MAKE_SYM)
        if abi >= 2 { rights |= UInt64(WARDEN_LL_FS_REFER) }
        if abi >= 3 { rights |= UInt64(WARDEN_LL_FS_TRUNCATE) }
        return rights & handledFS
    }

    /// Only these rights may be granted on a rule whose target is a regular file.
    public var fileOnly: UInt64 {
        UInt64(WARDEN_LL_FS_EXECUTE | WARDEN_LL_FS_WRITE_FILE | WARDEN_LL_FS_READ_FILE
            | WARDEN_LL_FS_TRUNCATE | WARDEN_LL_FS_IOCTL_DEV) & handledFS
    }

    public var devices: UInt64 { UInt64(WARDEN_LL_FS_READ_FILE | WARDEN_LL_FS_WRITE_FILE) }

    /// Human names, for `--explain`.
    public static func describe(_ rights: UInt64) -> String {
        let names: [(UInt64, String)] = [
            (UInt64(WARDEN_LL_FS_EXECUTE), "execute"), (UInt64(WARDEN_LL_FS_READ_FILE), "read_file"),
            (UInt64(WARDEN_LL_FS_READ_DIR), "read_dir"), (UInt64(WARDEN_LL_FS_WRITE_FILE), "write_file"),
            (UInt64(WARDEN_LL_FS_TRUNCATE), "truncate"), (UInt64(WARDEN_LL_FS_MAKE_REG), "make_reg"),
            (UInt64(WARDEN_LL_FS_MAKE_DIR), "make_dir"), (UInt64(WARDEN_LL_FS_MAKE_SYM), "make_sym"),
            (UInt64(WARDEN_LL_FS_REMOVE_FILE), "remove_file"), (UInt64(WARDEN_LL_FS_REMOVE_DIR), "remove_dir"),
            (UInt64(WARDEN_LL_FS_REFER), "refer"),
        ]
        return names.filter { rights & $0.0 != 0 }.map(\.1).joined(separator: ",")
    }
}

/// One Landlock path rule of the plan, kept for `--explain` and for the audit's "which rule".
public struct PathRule: Sendable, Hashable {
    public var path: String
    public var access: UInt64
    public var why: String
}

/// Builds the ruleset in the parent, before fork; the child only calls landlock_restrict_self.
struct LandlockRuleset {
    let fd: Int32

    init(rights: LandlockRights, rules: [PathRule], netPorts: [UInt16]?, scoped: Bool) throws {
        let scopes: UInt64 = scoped ? UInt64(WARDEN_LL_SCOPE_SIGNAL | WARDEN_LL_SCOPE_ABSTRACT_UNIX_SOCKET) : 0
        // netPorts == nil: TCP not handled (network on); [] handled with no port allowed.
        let net: UInt64 = rights.handlesNetwork && netPorts != nil
            ? UInt64(WARDEN_LL_NET_BIND_TCP | WARDEN_LL_NET_CONNECT_TCP) : 0
        let fd = warden_landlock_create_ruleset(rights.handledFS, net, scopes)
        guard fd >= 0 else {
            throw SandboxError.setup(stage: "landlock_create_ruleset", errno: -fd)
        }
        self.fd = fd
        // One C call for all rules: per-rule Swift-to-C crossings cost as much as the syscalls.
        let owned: [UnsafeMutablePointer<CChar>?] = rules.map { strdup($0.path) }
        defer { owned.forEach { free($0) } }
        let access = rules.map { $0.access & rights.handledFS }
        var failed: Int32 = -1
        let rc = owned.withUnsafeBufferPointer { paths in
            paths.withMemoryRebound(to: UnsafePointer<CChar>?.self) { p in
                warden_landlock_add_paths(fd, p.baseAddress, access, Int32(rules.count), rights.fileOnly, &failed)
            }
        }
        if rc < 0 {
            close(fd)
            let path = failed >= 0 && Int(failed) < rules.count ? rules[Int(failed)].path : "?"
            throw SandboxError.setup(stage: "landlock_add_rule \(path)", errno: -rc)
        }
        if net != 0, let ports = netPorts {
            for port in ports {
                let rc = warden_landlock_add_port(fd, UInt64(port), UInt64(WARDEN_LL_NET_CONNECT_TCP))
                if rc < 0 {
                    close(fd)
                    throw SandboxError.setup(stage: "landlock_add_rule tcp:\(port)", errno: -rc)
                }
            }
        }
    }
}
