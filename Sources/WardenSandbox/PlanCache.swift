import CSandbox
import Glibc
import WardenPolicy

/// Compiled launches kept between runs, so that a repeated `warden run` skips YAML parsing,
/// PATH lookup, ELF reading and the seccomp compiler: together they cost several times what
/// the sandbox itself costs to set up.
///
/// An entry is used only when everything it was compiled from is unchanged: the warden binary,
/// the arguments and environment that shape the plan (the key), and a stamp of every file and
/// directory the plan depends on (profile and policy files by content, PATH directories, tools,
/// zones and /etc by stat). Anything else is a miss, and a miss is only slower. The cache lives
/// where only the invoking user can write (checked on every use); an agent can neither read
/// nor write it, since a sandbox never reaches the user's home or another uid's directory.
public struct PlanCache: Sendable {
    public let directory: String

    static let magic: [UInt8] = Array("warden-plan-v3\n".utf8)

    public init(directory: String) { self.directory = directory }

    /// The binary whose plans these are (its identity is part of every key): this one.
    public static let engine = "/proc/self/exe"

    /// The user's plan cache (see `PlanKey.cacheDirectory`); nil when it is off or unusable.
    public static func standard(environment: [String: String]) -> PlanCache? {
        PlanKey.cacheDirectory { environment[$0] }.map(PlanCache.init(directory:))
    }

    /// The key (`PlanKey.key`) of a launch this binary compiles.
    public static func key(profile: String, workspace: String, cwd: String, environment: [String: String],
                           allowDegraded: Set<String>) -> String {
        PlanKey.key(profile: profile, workspace: workspace, cwd: cwd, allowDegraded: allowDegraded.sorted(),
                    engine: engine) { environment[$0] }
    }

    private func entryPath(_ key: String) -> String {
        directory + "/" + PlanKey.digest(key) + ".plan"
    }

    /// The cached launch for `key`, or nil when there is none or anything it depends on changed.
    public func load(key: String) -> CompiledLaunch? {
        guard var r = current(key: key)?.reader else { return nil }
        do {
            let compiled = try CompiledLaunch.decode(from: &r)
            return r.atEnd ? compiled : nil
        } catch {
            return nil
        }
    }

    /// What the entry for `key` depends on, read once, so that a standby can check before
    /// each run that nothing changed since it made its plan without reading the entry again.
    public func stamps(key: String) -> PlanStamps? {
        current(key: key).map { PlanStamps(stamps: $0.stamps) }
    }

    /// The entry's reader, past its key and stamps, when both still hold.
    private func current(key: String) -> (reader: PlanReader, stamps: [Stamp])? {
        let fd = open(entryPath(key), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(),
              st.st_mode & 0o022 == 0, st.st_size > 0, st.st_size < 16 << 20 else { return nil }
        guard let bytes = readExactly(fd, Int(st.st_size)), bytes.starts(with: Self.magic) else { return nil }
        var r = PlanReader(bytes, from: Self.magic.count)
        do {
            guard try r.str() == key else { return nil }
            let stamps = try r.array { try Stamp.decode(&$0) }
            guard PlanStamps(stamps: stamps).hold else { return nil }
            return (r, stamps)
        } catch {
            return nil
        }
    }

    /// Saves `compiled` under `key`. Best effort: a cache that cannot be written only means
    /// the next launch compiles again.
    public func store(_ compiled: CompiledLaunch, key: String, workspace: String, cwd: String,
                      searchPath: String) {
        guard let stamps = Self.stamps(for: compiled, workspace: workspace, cwd: cwd, searchPath: searchPath)
        else { return }
        var w = PlanWriter()
        w.bytes = Self.magic
        w.str(key)
        w.array(stamps) { $1.encode(&$0) }
        compiled.encode(into: &w)
        let final = entryPath(key)
        let temp = final + ".\(getpid()).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let ok = w.bytes.withUnsafeBytes { buf -> Bool in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        close(fd)
        // Rename makes the entry appear whole or not at all to a concurrent launch.
        if !ok || rename(temp, final) != 0 { unlink(temp) }
        prune()
    }

    static let maxEntries = 256

    /// Every workspace and profile gets its own entry; keep the most recently written ones.
    /// Only a miss pays for this.
    func prune() {
        let names = SystemPaths.directoryEntries(directory).filter { $0.hasSuffix(".plan") }
        guard names.count > Self.maxEntries else { return }
        var dated: [(name: String, mtime: Int)] = names.map { name in
            var st = stat()
            return (name, lstat(directory + "/" + name, &st) == 0 ? st.st_mtim.tv_sec : 0)
        }
        dated.sort { $0.mtime < $1.mtime }
        for entry in dated.prefix(names.count - Self.maxEntries * 3 / 4) { unlink(directory + "/" + entry.name) }
    }

    /// Every file and directory the compiled plan was derived from. Nil when one cannot be
    /// stamped reliably (a profile file that is gone already): such a plan is not cached.
    static func stamps(for c: CompiledLaunch, workspace: String, cwd: String, searchPath: String) -> [Stamp]? {
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : cwd + "/" + p }
        var out: [Stamp] = []
        for file in [c.profile.file] + c.profile.chain where !file.hasPrefix("builtin:") {
            let s = Stamp.take(absolute(file), hashContent: true)
            guard s.present else { return nil }
            out.append(s)
        }
        // A new workspace override or syscall-set file changes what a name means.
        out.append(Stamp.take(workspace + "/profiles", hashContent: false))
        out.append(Stamp.take(workspace + "/policies", hashContent: false))
        for name in SystemPaths.directoryEntries(workspace + "/policies") where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            out.append(Stamp.take(workspace + "/policies/" + name, hashContent: true))
        }
        // Name resolution and the /etc entry list follow these directories' contents...
        var paths = searchPath.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        paths += ["/etc", "/etc/ssl"]
        paths += c.profile.tools.map(\.value)
        var seen: Set<String> = []
        for p in paths where seen.insert(p).inserted { out.append(Stamp.take(p, hashContent: false)) }
        // ...while zones, scratch and read paths matter only by existence and type: their
        // contents change on every run (a zone being written, /tmp being /tmp).
        var places = c.profile.scratch.map(\.value)
        places += c.profile.write.map { $0.path.isEmpty ? workspace : workspace + "/" + $0.path }
        places += c.profile.read.map { $0.value == "workspace" ? workspace : $0.value.hasPrefix("/") ? $0.value : workspace + "/" + $0.value }
        for p in places where seen.insert(p).inserted { out.append(Stamp.kind(p)) }
        return out
    }
}

private func statPath(_ path: String, _ st: inout stat) -> Int32 { stat(path, &st) }

/// What a path looked like when a plan was compiled. Content is hashed for policy files,
/// whose edits can land within one timestamp tick of the previous version.
/// A cached plan's stamps (see `PlanCache.stamps`).
public struct PlanStamps: Sendable {
    let stamps: [Stamp]

    /// Whether every file the plan depends on is as it was.
    public var hold: Bool { stamps.allSatisfy { $0.retake() == $0 } }
}

struct Stamp: Equatable, Sendable {
    var path: String
    var present: Bool
    var fields: [Int64]
    var contentHash: UInt64?
    var kindOnly = false

    static func take(_ path: String, hashContent: Bool) -> Stamp {
        var st = stat()
        guard statPath(path, &st) == 0 else { return Stamp(path: path, present: false, fields: [], contentHash: hashContent ? 0 : nil) }
        var fields: [Int64] = [Int64(st.st_dev), Int64(st.st_ino), Int64(st.st_mode), Int64(st.st_size),
                               Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)]
        // Not for hashed files: the gate's snapshots hard-link workspace files (a workspace
        // profile among them), which moves their ctime on every new version; the hash covers
        // what ctime would have caught.
        if !hashContent { fields += [Int64(st.st_ctim.tv_sec), Int64(st.st_ctim.tv_nsec)] }
        return Stamp(path: path, present: true, fields: fields, contentHash: hashContent ? hash(path) : nil)
    }

    private static func hash(_ path: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            for i in 0..<n { h = (h ^ UInt64(buf[i])) &* 0x100_0000_01b3 }
        }
        return h
    }

    /// Existence and file type only.
    static func kind(_ path: String) -> Stamp {
        var st = stat()
        let type = statPath(path, &st) == 0 ? Int64(st.st_mode & S_IFMT) : -1
        return Stamp(path: path, present: type >= 0, fields: [type], contentHash: nil, kindOnly: true)
    }

    func retake() -> Stamp { kindOnly ? Stamp.kind(path) : Stamp.take(path, hashContent: contentHash != nil) }

    func encode(_ w: inout PlanWriter) {
        w.str(path); w.bool(present)
        w.array(fields) { $0.int(Int($1)) }
        w.optional(contentHash) { $0.u64($1) }
        w.bool(kindOnly)
    }

    static func decode(_ r: inout PlanReader) throws -> Stamp {
        Stamp(path: try r.str(), present: try r.bool(), fields: try r.array { Int64(try $0.int()) },
              contentHash: try r.optional { try $0.u64() }, kindOnly: try r.bool())
    }
}
