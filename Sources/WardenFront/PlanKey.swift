import CSandbox
import Glibc

/// Where compiled launches are kept, and the key a launch is filed under: what, besides the
/// stamped files, decides a plan. Both the front (to find a standby) and the plan cache (to
/// find a compiled launch) need them, so they are computed here once.
public enum PlanKey {
    /// `WARDEN_CACHE=off` disables the cache; `WARDEN_CACHE=DIR` puts it in DIR. Otherwise
    /// $XDG_CACHE_HOME/warden, ~/.cache/warden, or /var/tmp/warden-cache-UID when there is no
    /// usable home. Nil when no directory passes the ownership check.
    public static func cacheDirectory(_ variable: (String) -> String?) -> String? {
        let euid = geteuid()
        if let setting = variable("WARDEN_CACHE") {
            if setting == "off" || setting.isEmpty { return nil }
            return trusted(setting, create: true, owner: euid)
        }
        if let xdg = variable("XDG_CACHE_HOME"), xdg.hasPrefix("/"),
           let c = trusted(xdg + "/warden", create: FilePaths.isDirectory(xdg), owner: euid) {
            return c
        }
        if let home = variable("HOME"), home.hasPrefix("/"), ownedDirectory(home, by: euid) {
            let parent = home + "/.cache"
            if !FilePaths.exists(parent) { mkdir(parent, 0o700) }
            if let c = trusted(parent + "/warden", create: ownedDirectory(parent, by: euid), owner: euid) { return c }
        }
        return trusted("/var/tmp/warden-cache-\(euid)", create: true, owner: euid)
    }

    private static func ownedDirectory(_ path: String, by uid: uid_t) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR && st.st_uid == uid
    }

    /// The directory must be ours and closed to everyone else: whoever can write an entry
    /// decides what the next launch enforces.
    private static func trusted(_ path: String, create: Bool, owner: uid_t) -> String? {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard create, errno == ENOENT, mkdir(path, 0o700) == 0 || errno == EEXIST else { return nil }
            guard lstat(path, &st) == 0 else { return nil }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == owner, st.st_mode & 0o077 == 0 else { return nil }
        return path
    }

    /// Two invocations with the same key and unchanged stamps compile to the same launch.
    /// - Parameter engine: the binary that compiles and enforces plans (its identity is part
    ///   of the key: a rebuilt warden never uses an older one's plans).
    public static func key(profile: String, workspace: String, cwd: String, allowDegraded: [String],
                           engine: String, _ variable: (String) -> String?) -> String {
        var parts = ["exe=\(identity(engine))", "profile=\(profile)", "workspace=\(workspace)",
                     "uid=\(getuid()):\(geteuid()):\(getgid())", "landlock=\(warden_landlock_abi())",
                     "PATH=\(variable("PATH") ?? "")",
                     "pretend=\(variable("WARDEN_PRETEND_MISSING") ?? "")",
                     "degraded=" + (allowDegraded.isEmpty ? "" : allowDegraded.joined(separator: ","))]
        // A profile given as a path is found relative to the working directory.
        if profile.contains("/") || profile.hasSuffix(".yaml") || profile.hasSuffix(".yml") { parts.append("cwd=\(cwd)") }
        // Not joined(separator:): its first use resolves an associated type at run time.
        var key = ""
        for part in parts { key += key.isEmpty ? part : "\n" + part }
        return key
    }

    private static func identity(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "unknown" }
        return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// A file name for `key` (FNV-1a, 16 hex digits): the entry itself holds the full key.
    public static func digest(_ key: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
