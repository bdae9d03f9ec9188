import Glibc
import WardenPolicy

/// What every sandbox may read of the host besides its profile's own read set: the system's
/// programs and libraries, and the harmless part of /etc. The user's home is never in it.
enum SystemPaths {
    static let readTrees = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                            "/sys/devices/system/cpu"]

    /// Devices a normal program opens; everything else under /dev stays out of reach.
    static let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]

    /// Entries of /etc that hold secrets or privilege configuration. Landlock cannot subtract
    /// a path from a granted tree, so /etc is granted entry by entry, minus these.
    static let etcSecrets: Set<String> = [
        "shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "ssh", "security",
        ".pwd.lock", "subuid", "subuid-", "subgid", "subgid-", "credstore", "credstore.encrypted",
        "docker", "containerd", "wireguard", "NetworkManager", "ssl",
    ]

    static func etcEntries() -> [String] {
        var result: [String] = []
        for name in directoryEntries("/etc") where !etcSecrets.contains(name) {
            result.append("/etc/\(name)")
        }
        // /etc/ssl holds the CA certificates TLS clients need, and private keys beside them.
        for name in directoryEntries("/etc/ssl") where name != "private" {
            result.append("/etc/ssl/\(name)")
        }
        return result
    }

    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The ELF interpreter (PT_INTERP) a binary names, e.g. /lib64/ld-linux-x86-64.so.2.
    /// Landlock checks EXECUTE on the interpreter as well as on the program.
    static func elfInterpreter(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 64)
        guard pread(fd, &header, 64, 0) == 64, header[0] == 0x7f, header[1] == 0x45,
              header[2] == 0x4c, header[3] == 0x46, header[4] == 2 /* 64-bit */ else { return nil }
        func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u64(_ b: [UInt8], _ o: Int) -> Int {
            (0..<8).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) }
        }
        let phoff = u64(header, 32), phentsize = u16(header, 54), phnum = u16(header, 56)
        guard phentsize >= 56, phnum < 256 else { return nil }
        var ph = [UInt8](repeating: 0, count: phentsize)
        for i in 0..<phnum {
            guard pread(fd, &ph, phentsize, off_t(phoff + i * phentsize)) == phentsize else { return nil }
            let type = Int(ph[0]) | Int(ph[1]) << 8 | Int(ph[2]) << 16 | Int(ph[3]) << 24
            guard type == 3 /* PT_INTERP */ else { continue }
            let offset = u64(ph, 8), size = u64(ph, 32)
            guard size > 1, size < 4096 else { return nil }
            var buf = [UInt8](repeating: 0, count: size)
            guard pread(fd, &buf, size, off_t(offset)) == size else { return nil }
            return String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
        }
        return nil
    }

    /// A tool installed outside the system trees (e.g. /opt/swift/usr/bin/swift) needs its
    /// own prefix readable for its libraries: the parent of its bin directory.
    static func toolPrefix(of path: String) -> String? {
        let real = FilePaths.realPath(path) ?? path
        var parts = real.split(separator: "/").map(String.init)
        guard parts.count >= 3, parts[parts.count - 2] == "bin" || parts[parts.count - 2] == "sbin" else { return nil }
        parts.removeLast(2)
        let prefix = "/" + parts.joined(separator: "/")
        if readTrees.contains(where: { prefix == $0 || prefix.hasPrefix($0 + "/") }) { return nil }
        return prefix
    }
}

/// Device and inode, the identity Landlock uses: two paths name the same tool when these match.
func fileIdentity(_ path: String) -> (UInt64, UInt64)? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return (UInt64(st.st_dev), UInt64(st.st_ino))
}
