import CSandbox
import CSeccomp
import Glibc
import WardenPolicy

/// One line of the seccomp program's meaning, for `--explain`.
public struct SyscallRule: Sendable, Hashable {
    public var syscall: String
    public var action: String   // "EPERM", "ENOSYS"
    public var condition: String?
    public var why: String
}

/// The BPF program, exported by libseccomp in the parent so the child only loads bytes.
public struct SeccompProgram: Sendable {
    public var bytes: [UInt8]
    public var rules: [SyscallRule]
    /// The calls the program hands to the supervisor, by number; empty without one.
    public var intercepts: [Intercept] = []
    public var instructionCount: Int { bytes.count / 8 }
    public var notifies: Bool { !intercepts.isEmpty }
}

/// A syscall the filter sends to the supervisor (SECCOMP_RET_USER_NOTIF), and what the
/// supervisor is to do with it.
public struct Intercept: Sendable, Hashable {
    public enum Kind: Int, Sendable {
        /// Always refused with `errno`: the filter only notifies when its denial applies.
        case deny = 0
        /// An open whose flags ask for writing: allowed inside the write zones.
        case open = 1
        /// unlink, rename, mkdir, chmod and the like: allowed inside the write zones.
        case pathChange = 2
        case exec = 3
        case connect = 4
    }
    public var nr: Int32
    public var name: String
    public var kind: Kind
    public var errno: Int32
    /// The rule, for the audit: "denied by @keyring at profiles/code.yaml:12:5".
    public var why: String
    public var set: String?
    public var location: SourceLocation?
}

private let actionAllow: UInt32 = 0x7fff_0000
private let actionNotify: UInt32 = 0x7fc0_0000
private let actionKillProcess: UInt32 = 0x8000_0000
private func actionErrno(_ err: Int32) -> UInt32 { 0x0005_0000 | (UInt32(err) & 0xffff) }

/// Flags whose presence in `clone`/`unshare` would create a namespace. CLONE_NEWTIME shares
/// its bit with the exit signal in `clone`, so it is checked for `unshare` only.
private let namespaceFlags: [(String, UInt64)] = [
    ("CLONE_NEWNS", UInt64(warden_CLONE_NEWNS)), ("CLONE_NEWUSER", UInt64(warden_CLONE_NEWUSER)),
    ("CLONE_NEWPID", UInt64(warden_CLONE_NEWPID)), ("CLONE_NEWNET", UInt64(warden_CLONE_NEWNET)),
    ("CLONE_NEWIPC", UInt64(warden_CLONE_NEWIPC)), ("CLONE_NEWUTS", UInt64(warden_CLONE_NEWUTS)),
    ("CLONE_NEWCGROUP", UInt64(warden_CLONE_NEWCGROUP)),
]

struct SeccompBuilder {
    private let ctx: UnsafeMutableRawPointer
    private(set) var rules: [SyscallRule] = []
    private var fullyDenied: Set<String> = []
    /// With a supervisor, denials are notified instead of failing silently in the kernel; the
    /// supervisor answers with the same errno and records the attempt.
    var notify = false
    private(set) var intercepts: [Int32: Intercept] = [:]

    private mutating func action(_ name: String, _ nr: Int32, _ err: Int32, kind: Intercept.Kind, why: String,
                                 set: String? = nil, location: SourceLocation? = nil) -> UInt32 {
        guard notify else { return actionErrno(err) }
        if intercepts[nr] == nil {
            intercepts[nr] = Intercept(nr: nr, name: name, kind: kind, errno: err, why: why, set: set, location: location)
        }
        return actionNotify
    }

    init() throws {
        guard let ctx = seccomp_init(actionAllow) else {
            throw SandboxError.setup(stage: "seccomp_init", errno: ENOMEM)
        }
        self.ctx = ctx
        // i386 (`int 0x80`) and x32 numbers are not the native table: kill rather than let a
        // deny list written for x86_64 numbers miss them.
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, actionKillProcess), "seccomp_attr_set badarch")
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), "seccomp_attr_set optimize")
    }

    private func check(_ rc: Int32, _ stage: String) throws {
        if rc < 0 { throw SandboxError.setup(stage: stage, errno: -rc) }
    }

    private func number(_ name: String) -> Int32? {
        let nr = seccomp_syscall_resolve_name(name)
        // Negative numbers are pseudo-syscalls that do not exist on this architecture.
        return nr >= 0 ? nr : nil
    }

    mutating func deny(_ name: String, errno err: Int32 = EPERM, why: String, silent: Bool = false,
                       set: String? = nil, location: SourceLocation? = nil) throws {
        guard let nr = number(name), !fullyDenied.contains(name) else { return }
        let act = silent ? actionErrno(err) : action(name, nr, err, kind: .deny, why: why, set: set, location: location)
        try check(seccomp_rule_add_array(ctx, act, nr, 0, nil), "seccomp_rule_add \(name)")
        fullyDenied.insert(name)
        rules.append(SyscallRule(syscall: name, action: act == actionNotify ? "notify, \(errnoName(err))" : errnoName(err),
                                 condition: nil, why: why))
    }

    /// Hands `name` to the supervisor when any of `alternatives` holds (each a list of
    /// comparisons that must all hold; an empty list: always).
    mutating func intercept(_ name: String, _ kind: Intercept.Kind, when alternatives: [[scmp_arg_cmp]] = [[]],
                            errno err: Int32 = EACCES, why: String) throws {
        guard notify, let nr = number(name), !fullyDenied.contains(name), intercepts[nr] == nil else { return }
        intercepts[nr] = Intercept(nr: nr, name: name, kind: kind, errno: err, why: why, set: nil, location: nil)
        for var cmps in alternatives {
            let rc = cmps.withUnsafeMutableBufferPointer { buf in
                seccomp_rule_add_array(ctx, actionNotify, nr, UInt32(buf.count), buf.baseAddress)
            }
            try check(rc, "seccomp_rule_add \(name) (notify)")
        }
        if alternatives.contains(where: \.isEmpty) { fullyDenied.insert(name) }
        rules.append(SyscallRule(syscall: name, action: "notify", condition: nil, why: why))
    }

    /// Denies `name` when every comparison holds (libseccomp ANDs the comparisons of one rule).
    mutating func deny(_ name: String, when conditions: [scmp_arg_cmp],
                       describe: String, errno err: Int32 = EPERM, why: String) throws {
        // An unconditional denial already covers it; libseccomp would reject the overlap.
        guard let nr = number(name), !fullyDenied.contains(name) else { return }
        var cmps = conditions
        let act = action(name, nr, err, kind: .deny, why: why)
        let rc = cmps.withUnsafeMutableBufferPointer { buf in
            seccomp_rule_add_array(ctx, act, nr, UInt32(buf.count), buf.baseAddress)
        }
        try check(rc, "seccomp_rule_add \(name) (\(describe))")
        rules.append(SyscallRule(syscall: name, action: notify ? "notify, \(errnoName(err))" : errnoName(err), condition: describe, why: why))
    }

    /// Denies `name` unless argument `arg` equals `value`.
    mutating func denyUnless(_ name: String, arg: UInt32, equals value: UInt64, describe: String, why: String) throws {
        guard let nr = number(name), !fullyDenied.contains(name) else { return }
        var cmp = scmp_arg_cmp(arg: arg, op: SCMP_CMP_NE, datum_a: value, datum_b: 0)
        let act = action(name, nr, EPERM, kind: .deny, why: why)
        try check(seccomp_rule_add_array(ctx, act, nr, 1, &cmp), "seccomp_rule_add \(name)")
        rules.append(SyscallRule(syscall: name, action: notify ? "notify, EPERM" : "EPERM", condition: describe, why: why))
    }

    /// Every number above the last syscall libseccomp's table names, up to `last`, fails with
    /// ENOSYS: a syscall added to the kernel after that table was made has been reviewed by
    /// no policy (no profile can even name it), so it is refused until it has been. ENOSYS is
    /// what an older kernel answers, and libc falls back from it; silent, like clone3.
    mutating func denyUnreviewed(through last: Int32) throws {
        var first: Int32 = last
        while first > 0, Self.name(first) == nil { first -= 1 }
        first += 1
        guard first <= last else { return }
        for nr in first...last {
            try check(seccomp_rule_add_array(ctx, actionErrno(ENOSYS), nr, 0, nil), "seccomp_rule_add #\(nr)")
        }
        rules.append(SyscallRule(syscall: "#\(first)–#\(last)", action: "ENOSYS",
                                 condition: nil, why: "newer than the syscall table the policies were checked against (libseccomp's, up to #\(first - 1)): not reviewed"))
    }

    private static func name(_ nr: Int32) -> String? {
        guard let p = seccomp_syscall_resolve_num_arch(UInt32(SCMP_ARCH_NATIVE), nr) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    func export() throws -> [UInt8] {
        let fd = warden_memfd("warden-seccomp")
        guard fd >= 0 else { throw SandboxError.setup(stage: "memfd_create", errno: -fd) }
        defer { close(fd) }
        try check(seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
        let size = Int(lseek(fd, 0, SEEK_END))
        lseek(fd, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: size)
        let got = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, size) }
        guard got == size else { throw SandboxError.setup(stage: "read exported BPF", errno: errno) }
        return bytes
    }

    /// Human-readable pseudo-code of the program (libseccomp's PFC format), for `--explain --bpf`.
    func exportText() -> String {
        let fd = warden_memfd("warden-seccomp-pfc")
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        guard seccomp_export_pfc(ctx, fd) == 0 else { return "" }
        let size = Int(lseek(fd, 0, SEEK_END))
        lseek(fd, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: size)
        _ = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, size) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func release() { seccomp_release(ctx) }
}

/// (argument & mask) == value
func masked(_ arg: UInt32, _ mask: UInt64, _ value: UInt64) -> scmp_arg_cmp {
    scmp_arg_cmp(arg: arg, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
}

enum SeccompPlan {
    /// The profile's denied sets, then the rules every sandbox gets whatever the profile says.
    static func build(profile: Profile, networkOff: Bool, supervised: Bool = false,
                      withText: Bool = false) throws -> (SeccompProgram, String) {
        var b = try SeccompBuilder()
        defer { b.release() }
        b.notify = supervised
        // clone3 keeps its flags in memory BPF cannot read: ENOSYS makes libc fall back to
        // clone, whose flags the rules below inspect. EPERM would break thread creation.
        // Silent: libc tries it on every fork, and it is a fallback, not an attempt.
        try b.deny("clone3", errno: ENOSYS, why: "clone3 flags are invisible to seccomp; libc falls back to clone",
                   silent: true)
        for io in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            try b.deny(io, why: "io_uring performs I/O without passing through seccomp")
        }
        for d in profile.deniedSyscalls where d.name != "clone3" {
            let via = d.viaSet.map { "\($0) at \(d.location)" } ?? "\(d.location)"
            try b.deny(d.name, why: "denied by \(via)", set: d.viaSet, location: d.location)
        }
        if supervised { try addIntercepts(&b, profile: profile, networkOff: networkOff) }
        for (flag, bit) in namespaceFlags {
            try b.deny("clone", when: [masked(0, bit, bit)], describe: "flags & \(flag)", why: "no new namespaces")
            try b.deny("unshare", when: [masked(0, bit, bit)], describe: "flags & \(flag)", why: "no new namespaces")
        }
        try b.deny("unshare", when: [masked(0, 0x80, 0x80)], describe: "flags & CLONE_NEWTIME", why: "no new namespaces")
        try b.deny("setns", why: "no joining other namespaces")
        // The kernel ignores the upper 32 bits of the ioctl request, so compare the lower 32
        // only: `TIOCSTI | 1<<32` must not slip past. EACCES, not EPERM: the kernel's own
        // answer for a terminal that is not the caller's is EPERM, and a test (or a user
        // reading strace) must be able to tell that the filter is what refused.
        try b.deny("ioctl", when: [masked(1, 0xffff_ffff, 0x5412)], describe: "request == TIOCSTI (32-bit)",
                   errno: EACCES, why: "no keystroke injection into a terminal")
        try b.deny("ioctl", when: [masked(1, 0xffff_ffff, 0x541C)], describe: "request == TIOCLINUX (32-bit)",
                   errno: EACCES, why: "no console injection")
        // A memfd lives outside every Landlock hierarchy, so executing one would bypass the
        // exec allowlist: memfds must be sealed non-executable, and fd-based exec is refused.
        try b.deny("memfd_create", when: [masked(1, 0x8, 0)], describe: "flags lack MFD_NOEXEC_SEAL",
                   why: "an executable memfd bypasses the exec allowlist")
        try b.deny("execveat", when: [masked(4, 0x1000, 0x1000)], describe: "flags & AT_EMPTY_PATH",
                   why: "exec of an open fd bypasses the exec allowlist")
        // personality(0xffffffff) only queries; every change is refused, since flags such as
        // READ_IMPLIES_EXEC (every readable mapping executable) or ADDR_NO_RANDOMIZE weaken
        // memory protections. (libseccomp allows one comparison per argument, so "has a bad
        // bit and is not a query" cannot be expressed; "is not a query" can.)
        try b.denyUnless("personality", arg: 0, equals: 0xffff_ffff, describe: "persona != 0xffffffff (a change, not a query)",
                         why: "no weakening of memory protections")
        if networkOff {
            try b.denyUnless("socket", arg: 0, equals: UInt64(AF_UNIX), describe: "domain != AF_UNIX",
                             why: "network is off in the profile")
        }
        // x86_64: numbers from 512 on are the x32 table's (refused with the x32 bit, ENOSYS
        // without it); anything above is not a syscall.
        try b.denyUnreviewed(through: 511)
        let bytes = try b.export()
        let text = withText ? b.exportText() : ""
        let intercepts = b.intercepts.values.sorted { $0.nr < $1.nr }
        return (SeccompProgram(bytes: bytes, rules: b.rules, intercepts: intercepts), text)
    }

    /// The operations the supervisor must see to record them. Only the kernel's answer after
    /// CONTINUE counts for allowed ones: Landlock re-checks every path the supervisor let
    /// through, on the object the kernel actually resolves.
    static func addIntercepts(_ b: inout SeccompBuilder, profile: Profile, networkOff: Bool) throws {
        for name in ["execve", "execveat"] {
            try b.intercept(name, .exec, why: "exec only the profile's tools")
        }
        // Write intent only: a read-only open never leaves the kernel.
        let intent: (UInt32) -> [[scmp_arg_cmp]] = { arg in
            [[masked(arg, 0x3, 0x1)], [masked(arg, 0x3, 0x2)], [masked(arg, 0x40, 0x40)], [masked(arg, 0x200, 0x200)]]
        }
        try b.intercept("open", .open, when: intent(1), why: "write only inside the write zones")
        try b.intercept("openat", .open, when: intent(2), why: "write only inside the write zones")
        try b.intercept("creat", .open, why: "write only inside the write zones")
        // openat2 keeps its flags in a struct BPF cannot read.
        try b.intercept("openat2", .open, why: "write only inside the write zones")
        for name in ["unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
                     "link", "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "fchmodat2", "chown", "lchown",
                     "fchownat", "truncate", "mknod", "mknodat"] {
            try b.intercept(name, .pathChange, why: "change files only inside the write zones")
        }
        if networkOff || profile.network != .on {
            try b.intercept("connect", .connect, why: networkOff ? "network is off in the profile"
                            : "TCP only to the profile's ports")
        }
    }
}
