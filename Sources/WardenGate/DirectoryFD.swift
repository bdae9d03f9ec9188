import CFileOps
import Foundation
import Glibc

/// A directory the gate works beneath. Every lookup is `openat2` with RESOLVE_BENEATH,
/// RESOLVE_NO_SYMLINKS and RESOLVE_NO_MAGICLINKS relative to this fd: a symlink planted as a
/// middle component, or a `..`, fails the lookup instead of leading the gate out.
final class DirectoryFD {
    let fd: Int32
    let path: String

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw GateError.io(operation: "open \(path)", errno: errno) }
        self.fd = fd
        self.path = path
    }

    /// Takes ownership of `fd`.
    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// The directory at `rel` beneath this one ("" is this one).
    func directory(_ rel: String) throws -> DirectoryFD {
        if rel.isEmpty { return DirectoryFD(fd: dup(fd), path: path) }
        let child = warden_openat2(fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, warden_resolve_strict())
        guard child >= 0 else { throw GateError.io(operation: "open \(path)/\(rel)", errno: -child) }
        return DirectoryFD(fd: child, path: path + "/" + rel)
    }

    /// `mkdir -p` beneath this directory, each step resolved strictly.
    func makeDirectories(_ rel: String, mode: mode_t = 0o755) throws -> DirectoryFD {
        var current = try directory("")
        for component in rel.split(separator: "/") {
            let name = String(component)
            if mkdirat(current.fd, name, mode) != 0 && errno != EEXIST {
                throw GateError.io(operation: "mkdir \(current.path)/\(name)", errno: errno)
            }
            current = try current.directory(name)
        }
        return current
    }

    /// lstat of a name directly in this directory; nil when absent.
    func stat(_ name: String) throws -> stat? {
        try name.withCString { try stat(raw: $0) }
    }

    /// The same for a name as the kernel gives it (`typedRawEntries`).
    func stat(raw name: UnsafePointer<CChar>) throws -> stat? {
        var st = Glibc.stat()
        if fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { return st }
        if errno == ENOENT { return nil }
        throw GateError.io(operation: "stat \(path)/\(String(cString: name))", errno: errno)
    }

    func exists(_ name: String) throws -> Bool { try stat(name) != nil }

    func sync() throws {
        guard fsync(fd) == 0 else { throw GateError.io(operation: "fsync \(path)", errno: errno) }
    }

    /// Writes `data` to `name` here through a temporary name and a rename, so a reader sees
    /// the old content or the new; `durable: false` skips the fsyncs, for what may be lost.
    func writeAtomically(_ name: String, _ data: Data, durable: Bool = true) throws {
        let temp = name + ".tmp"
        let out = openat(fd, temp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw GateError.io(operation: "create \(path)/\(temp)", errno: errno) }
        defer { close(out) }
        try data.withUnsafeBytes { buf in try writeAll(out, buf, what: "\(path)/\(temp)") }
        if durable, fsync(out) != 0 { throw GateError.io(operation: "fsync \(path)/\(temp)", errno: errno) }
        guard renameat(fd, temp, fd, name) == 0 else { throw GateError.io(operation: "rename \(path)/\(name)", errno: errno) }
        if durable { try sync() }
    }

    func read(_ name: String, max: Int = 64 << 20) throws -> Data? {
        let input = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if input < 0 && errno == ENOENT { return nil }
        guard input >= 0 else { throw GateError.io(operation: "open \(path)/\(name)", errno: errno) }
        defer { close(input) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(input, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw GateError.io(operation: "read \(path)/\(name)", errno: errno) }
            if n == 0 { return data }
            data.append(contentsOf: buf[..<n])
            if data.count > max { throw GateError.io(operation: "read \(path)/\(name)", errno: EFBIG) }
        }
    }

    /// Removes `name` and everything beneath it, without following symlinks (`forceRemove`).
    func removeTree(_ name: String) throws { try forceRemove(name, in: self) }

    /// Each entry's name as the kernel gives it, with its NUL, and its d_type.
    func typedRawEntries() throws -> [(name: [CChar], type: UInt8)] {
        guard let stream = fdopendir(dup(fd)) else { throw GateError.io(operation: "opendir \(path)", errno: errno) }
        defer { closedir(stream) }
        rewinddir(stream)
        var out: [(name: [CChar], type: UInt8)] = []
        while let e = readdir(stream) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { p in Array(UnsafeBufferPointer(start: p, count: strlen(p) + 1)) }
            }
            if name != [46, 0] && name != [46, 46, 0] { out.append((name, e.pointee.d_type)) }
        }
        return out
    }

    func rawEntries() throws -> [[CChar]] { try typedRawEntries().map(\.name) }

    func entries() throws -> [String] {
        try typedRawEntries().map { $0.name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }
    }
}

func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, what: String) throws {
    var done = 0
    while done < buf.count {
        let n = write(fd, buf.baseAddress! + done, buf.count - done)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw GateError.io(operation: "write \(what)", errno: errno) }
        done += n
    }
}

/// (parent, last component) of a workspace-relative path.
func splitParent(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    return (String(path[..<slash]), String(path[path.index(after: slash)...]))
}
