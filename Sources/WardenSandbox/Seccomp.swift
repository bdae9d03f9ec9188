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
    public var instructionCount: Int { bytes.count / 8 }
}

private let actionAllow: UInt32 = 0x7fff_0000
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

    mutating func deny(_ name: String, errno err: Int32 = EPERM, why: String) throws {
        guard let nr = number(name), !fullyDenied.contains(name) else { return }
        try check(seccomp_rule_add_array(ctx, actionErrno(err), nr, 0, nil), "seccomp_rule_add \(name)")
        fullyDenied.insert(name)
        rules.append(SyscallRule(syscall: name, action: errnoName(err), condition: nil, why: why))
    }

    /// Denies `name` when every comparison holds (libseccomp ANDs the comparisons of one rule).
    mutating func deny(_ name: String, when conditions: [scmp_arg_cmp],
                       describe: String, errno err: Int32 = EPERM, why: String) throws {
        // An unconditional denial already covers it; libseccomp would reject the overlap.
        guard let nr = number(name), !fullyDenied.contains(name) else { return }
        var cmps = conditions
        let rc = cmps.withUnsafeMutableBufferPointer { buf in
            seccomp_rule_add_array(ctx, actionErrno(err), nr, UInt32(buf.count), buf.baseAddress)
        }
        try check(rc, "seccomp_rule_add \(name) (\(describe))")
        rules.append(SyscallRule(syscall: name, action: errnoName(err), condition: describe, why: why))
    }

    /// Denies `name` unless argument `arg` equals `value`.
    mutating func denyUnless(_ name: String, arg: UInt32, equals value: UInt64, describe: String, why: String) throws {
        guard let nr = number(name), !fullyDenied.contains(name) else { return }
        var cmp = scmp_arg_cmp(arg: arg, op: SCMP_CMP_NE, datum_a: value, datum_b: 0)
        try check(seccomp_rule_add_array(ctx, actionErrno(EPERM), nr, 1, &cmp), "seccomp_rule_add \(name)")
        rules.append(SyscallRule(syscall: name, action: "EPERM", condition: describe, why: why))
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
    static func build(profile: Profile, networkOff: Bool, withText: Bool = false) throws -> (SeccompProgram, String) {
        var b = try SeccompBuilder()
        defer { b.release() }
        // clone3 keeps its flags in memory BPF cannot read: ENOSYS makes libc fall back to
        // clone, whose flags the rules below inspect. EPERM would break thread creation.
        try b.deny("clone3", errno: ENOSYS, why: "clone3 flags are invisible to seccomp; libc falls back to clone")
        for io in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            try b.deny(io, why: "io_uring performs I/O without passing through seccomp")
        }
        for d in profile.deniedSyscalls where d.name != "clone3" {
            let via = d.viaSet.map { "\($0) at \(d.location)" } ?? "\(d.location)"
            try b.deny(d.name, why: "denied by \(via)")
        }
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
        let bytes = try b.export()
        let text = withText ? b.exportText() : ""
        return (SeccompProgram(bytes: bytes, rules: b.rules), text)
    }
}
