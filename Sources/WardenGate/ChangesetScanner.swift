import CFileOps
import Glibc

/// Reads a changeset out of an overlayfs upper directory (or a frozen copy of one): a regular
/// file is a write, a 0/0 character device a deletion (whiteout), a directory with the overlay
/// `opaque` xattr a replacement, a symlink a link. The walk never follows a symlink, opens
/// every directory relative to its parent's fd, and judges sizes from metadata: a forbidden or
/// oversized entry becomes a finding, and past the entry cap the walk stops.
public enum ChangesetScanner {
    public static func scan(upper: String, base: Int64, limits: GateLimits = GateLimits()) throws -> Changeset {
        let rootFD = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { throw GateError.io(operation: "open \(upper)", errno: errno) }
        var entries: [Changeset.Entry] = []
        var findings: [GateFinding] = []
        var seen = 0
        var total: Int64 = 0
        var stack: [(dir: OpaquePointer, rel: [UInt8], depth: Int)] = []
        guard let rootDir = fdopendir(rootFD) else {
            close(rootFD)
            throw GateError.io(operation: "opendir \(upper)", errno: errno)
        }
        stack.append((rootDir, [], 0))
        defer { for s in stack { closedir(s.dir) } }

        walk: while let top = stack.last {
            errno = 0
            guard let dirent = readdir(top.dir) else {
                closedir(top.dir)
                stack.removeLast()
                continue
            }
            let name: [UInt8] = withUnsafePointer(to: dirent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) }
            }
            if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            seen += 1
            if seen > limits.maxEntries {
                findings.append(GateFinding("", .limit, "more than \(limits.maxEntries) entries; the rest were not read"))
                break walk
            }
            let rel = top.rel.isEmpty ? name : top.rel + [UInt8(ascii: "/")] + name
            let path = String(decoding: rel, as: UTF8.self)
            let fd = dirfd(top.dir)
            var st = stat()
            guard fstatat(fd, name.map { CChar(bitPattern: $0) } + [0], &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw GateError.io(operation: "stat \(path)", errno: errno)
            }
            let full = upper + "/" + path
            switch st.st_mode & S_IFMT {
            case S_IFCHR where st.st_rdev == 0:
                entries.append(.init(rawPath: rel, action: .delete))
            case S_IFDIR:
                let opaque = xattr(full, "trusted.overlay.opaque") == "y" || xattr(full, "user.overlay.opaque") == "y"
                entries.append(.init(rawPath: rel, action: .directory(mode: UInt32(st.st_mode) & 0o7777, opaque: opaque)))
                if UInt32(st.st_mode) & 0o6000 != 0 {
                    findings.append(GateFinding(path, .type, "a directory with setuid/setgid bits"))
                }
                if top.depth + 1 >= limits.maxDepth {
                    findings.append(GateFinding(path, .limit, "nested deeper than \(limits.maxDepth) directories"))
                    continue
                }
                let child = openat(fd, name.map { CChar(bitPattern: $0) } + [0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0, let dir = fdopendir(child) else {
                    throw GateError.io(operation: "open \(path)", errno: errno)
                }
                stack.append((dir, rel, top.depth + 1))
            case S_IFREG:
                let size = Int64(st.st_size)
                var bad = false
                if UInt32(st.st_mode) & 0o6000 != 0 { findings.append(GateFinding(path, .type, "setuid/setgid bits")); bad = true }
                if st.st_nlink > 1 { findings.append(GateFinding(path, .type, "a hard link (\(st.st_nlink) names)")); bad = true }
                if xattrPresent(full, "security.capability") {
                    findings.append(GateFinding(path, .type, "a file capability (security.capability)")); bad = true
                }
                if size > limits.maxFileBytes {
                    findings.append(GateFinding(path, .limit, "\(size) bytes (limit \(limits.maxFileBytes) per file)")); bad = true
                }
                total += size
                if !bad {
                    entries.append(.init(rawPath: rel, action: .write(source: full, mode: UInt32(st.st_mode) & 0o777, size: size)))
                }
            case S_IFLNK:
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlinkat(fd, name.map { CChar(bitPattern: $0) } + [0], &buf, 4096)
                guard n >= 0 else { throw GateError.io(operation: "readlink \(path)", errno: errno) }
                let target = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                entries.append(.init(rawPath: rel, action: .symlink(target: target)))
            default:
                findings.append(GateFinding(path, .type, "a \(kindName(st.st_mode)); only files, directories and symlinks are accepted"))
            }
        }
        if total > limits.maxTotalBytes {
            findings.append(GateFinding("", .limit, "\(total) bytes in all (limit \(limits.maxTotalBytes))"))
        }
        entries.sort { $0.rawPath.lexicographicallyPrecedes($1.rawPath) }
        return Changeset(base: base, entries: entries, scanFindings: findings)
    }

    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFCHR: return "character device"
        case S_IFBLK: return "block device"
        case S_IFIFO: return "FIFO"
        case S_IFSOCK: return "socket"
        default: return "file of unknown type"
        }
    }

    static func xattr(_ path: String, _ name: String) -> String? {
        var buf = [UInt8](repeating: 0, count: 16)
        let n = lgetxattr(path, name, &buf, buf.count)
        return n >= 0 ? String(decoding: buf[..<n], as: UTF8.self) : nil
    }

    static func xattrPresent(_ path: String, _ name: String) -> Bool {
        lgetxattr(path, name, nil, 0) >= 0
    }
}
