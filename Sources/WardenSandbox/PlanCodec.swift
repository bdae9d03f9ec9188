import WardenPolicy

// A compact binary form of `CompiledLaunch` for the plan cache. Hand-written rather than
// Codable: a cached launch must not pay for Foundation's JSON machinery or the runtime's
// protocol-conformance scans, which cost more than the launch itself in a static binary.

struct PlanWriter {
    var bytes: [UInt8] = []

    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
    mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }
    mutating func double(_ v: Double) { u64(v.bitPattern) }
    mutating func str(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            u64(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }
    mutating func optional<T>(_ v: T?, _ write: (inout PlanWriter, T) -> Void) {
        bool(v != nil)
        if let v { write(&self, v) }
    }
    mutating func array<T>(_ a: [T], _ write: (inout PlanWriter, T) -> Void) {
        u64(UInt64(a.count))
        for e in a { write(&self, e) }
    }
    mutating func strings(_ a: [String]) { array(a) { $0.str($1) } }
}

struct PlanDecodeError: Error {}

struct PlanReader {
    let bytes: [UInt8]
    var pos = 0

    init(_ bytes: [UInt8], from start: Int = 0) {
        self.bytes = bytes
        pos = start
    }

    var atEnd: Bool { pos == bytes.count }

    mutating func u64() throws -> UInt64 {
        guard bytes.count - pos >= 8 else { throw PlanDecodeError() }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
        pos += 8
        return v
    }
    mutating func int() throws -> Int { Int(Int64(bitPattern: try u64())) }
    mutating func bool() throws -> Bool {
        guard pos < bytes.count, bytes[pos] <= 1 else { throw PlanDecodeError() }
        pos += 1
        return bytes[pos - 1] == 1
    }
    mutating func double() throws -> Double { Double(bitPattern: try u64()) }
    mutating func str() throws -> String {
        let n = try u64()
        guard n <= UInt64(bytes.count - pos) else { throw PlanDecodeError() }
        let s = String(decoding: bytes[pos..<pos + Int(n)], as: UTF8.self)
        pos += Int(n)
        return s
    }
    mutating func optional<T>(_ read: (inout PlanReader) throws -> T) throws -> T? {
        try bool() ? try read(&self) : nil
    }
    mutating func array<T>(_ read: (inout PlanReader) throws -> T) throws -> [T] {
        let n = try u64()
        // Each element takes at least one byte: a corrupt count cannot make us allocate.
        guard n <= UInt64(bytes.count - pos) else { throw PlanDecodeError() }
        var out: [T] = []
        out.reserveCapacity(Int(n))
        for _ in 0..<n { out.append(try read(&self)) }
        return out
    }
    mutating func strings() throws -> [String] { try array { try $0.str() } }
}

private extension PlanWriter {
    mutating func location(_ l: SourceLocation) { str(l.file); int(l.line); int(l.column) }
    mutating func located(_ l: Located<String>) { str(l.value); location(l.location) }
}

private extension PlanReader {
    mutating func location() throws -> SourceLocation {
        SourceLocation(file: try str(), line: try int(), column: try int())
    }
    mutating func located() throws -> Located<String> {
        let v = try str()
        return Located(v, at: try location())
    }
}

extension CompiledLaunch {
    func encode(into w: inout PlanWriter) {
        let p = profile
        w.str(p.role); w.str(p.description); w.str(p.file); w.strings(p.chain)
        w.array(p.tools) { $0.located($1) }
        w.array(p.read) { $0.located($1) }
        w.array(p.write) { w, z in w.str(z.pattern); w.str(z.path); w.bool(z.recursive); w.location(z.location) }
        w.array(p.scratch) { $0.located($1) }
        switch p.network {
        case .off: w.int(0)
        case .on: w.int(1)
        case let .allow(ports): w.int(2); w.array(ports) { $0.int(Int($1)) }
        }
        w.optional(p.networkLocation) { $0.location($1) }
        w.array(p.deniedSyscalls) { w, d in w.str(d.name); w.optional(d.viaSet) { $0.str($1) }; w.location(d.location) }
        w.array(p.allowedBack) { $0.located($1) }
        let l = p.limits
        w.optional(l.wall) { $0.double($1) }
        w.optional(l.cpu) { $0.double($1) }
        w.optional(l.memory) { $0.u64($1) }
        w.optional(l.processes) { $0.int($1) }
        w.optional(l.openFiles) { $0.int($1) }
        w.optional(l.fileSize) { $0.u64($1) }
        w.array(l.locations.sorted { $0.key < $1.key }) { w, e in w.str(e.key); w.location(e.value) }
        w.strings(p.env)

        w.optional(landlockABI) { $0.int($1) }
        w.array(pathRules) { w, r in w.str(r.path); w.u64(r.access); w.str(r.why) }
        w.strings(scratch)
        w.u64(scratchSize)
        w.optional(netPorts) { w, ports in w.array(ports) { $0.int(Int($1)) } }
        w.bool(scoped)
        w.u64(UInt64(cloneFlags))
        w.strings(namespaces)
        w.bool(mapUser)
        w.bool(useInit)
        w.array(mounts) { w, m in w.int(Int(m.kind)); w.str(m.target); w.optional(m.data) { $0.str($1) } }
        w.optional(seccomp) { w, s in
            w.u64(UInt64(s.bytes.count)); w.bytes.append(contentsOf: s.bytes)
            w.array(s.rules) { w, r in w.str(r.syscall); w.str(r.action); w.optional(r.condition) { $0.str($1) }; w.str(r.why) }
            w.array(s.intercepts) { w, i in
                w.int(Int(i.nr)); w.str(i.name); w.int(i.kind.rawValue); w.int(Int(i.errno)); w.str(i.why)
                w.optional(i.set) { $0.str($1) }; w.optional(i.location) { $0.location($1) }
            }
        }
        w.array(rlimits) { w, r in w.str(r.name); w.int(Int(r.resource)); w.u64(r.value) }
        w.bool(useCgroup)
        w.array(protections) { w, p in
            w.str(p.feature); w.str(p.detail)
            switch p.state {
            case .enforced: w.int(0)
            case let .missing(reason): w.int(1); w.str(reason)
            case let .degraded(reason): w.int(2); w.str(reason)
            }
        }
        w.strings(notes)
        w.optional(rights) { w, r in w.int(r.abi); w.bool(r.truncate) }
    }

    static func decode(from r: inout PlanReader) throws -> CompiledLaunch {
        let role = try r.str(), description = try r.str(), file = try r.str(), chain = try r.strings()
        let tools = try r.array { try $0.located() }
        let read = try r.array { try $0.located() }
        let write = try r.array { r in
            WriteZone(pattern: try r.str(), path: try r.str(), recursive: try r.bool(), location: try r.location())
        }
        let scratchEntries = try r.array { try $0.located() }
        let network: NetworkPolicy
        switch try r.int() {
        case 0: network = .off
        case 1: network = .on
        case 2: network = .allow(ports: try r.array { UInt16(truncatingIfNeeded: try $0.int()) })
        default: throw PlanDecodeError()
        }
        let networkLocation = try r.optional { try $0.location() }
        let denied = try r.array { r in
            DeniedSyscall(name: try r.str(), viaSet: try r.optional { try $0.str() }, location: try r.location())
        }
        let allowedBack = try r.array { try $0.located() }
        let limits = Limits(wall: try r.optional { try $0.double() }, cpu: try r.optional { try $0.double() },
                            memory: try r.optional { try $0.u64() }, processes: try r.optional { try $0.int() },
                            openFiles: try r.optional { try $0.int() }, fileSize: try r.optional { try $0.u64() },
                            locations: Dictionary(try r.array { r in (try r.str(), try r.location()) }) { $1 })
        let env = try r.strings()
        let profile = Profile(role: role, description: description, file: file, chain: chain, tools: tools,
                              read: read, write: write, scratch: scratchEntries, network: network,
                              networkLocation: networkLocation, deniedSyscalls: denied, allowedBack: allowedBack,
                              limits: limits, env: env)

        let abi = try r.optional { try $0.int() }
        let rules = try r.array { r in PathRule(path: try r.str(), access: try r.u64(), why: try r.str()) }
        let scratch = try r.strings()
        let scratchSize = try r.u64()
        let netPorts = try r.optional { r in try r.array { UInt16(truncatingIfNeeded: try $0.int()) } }
        let scoped = try r.bool()
        let flags = UInt(try r.u64())
        let namespaces = try r.strings()
        let mapUser = try r.bool(), useInit = try r.bool()
        let mounts = try r.array { r in
            PlannedMount(kind: Int32(truncatingIfNeeded: try r.int()), target: try r.str(), data: try r.optional { try $0.str() })
        }
        let seccomp = try r.optional { r -> SeccompProgram in
            let n = Int(try r.u64())
            guard n <= r.bytes.count - r.pos, n % 8 == 0 else { throw PlanDecodeError() }
            let bytes = Array(r.bytes[r.pos..<r.pos + n])
            r.pos += n
            let rules = try r.array { r in
                SyscallRule(syscall: try r.str(), action: try r.str(), condition: try r.optional { try $0.str() }, why: try r.str())
            }
            let intercepts = try r.array { r -> Intercept in
                let nr = Int32(truncatingIfNeeded: try r.int()), name = try r.str()
                guard let kind = Intercept.Kind(rawValue: try r.int()) else { throw PlanDecodeError() }
                return Intercept(nr: nr, name: name, kind: kind, errno: Int32(truncatingIfNeeded: try r.int()),
                                 why: try r.str(), set: try r.optional { try $0.str() }, location: try r.optional { try $0.location() })
            }
            return SeccompProgram(bytes: bytes, rules: rules, intercepts: intercepts)
        }
        let rlimits = try r.array { r in
            (name: try r.str(), resource: Int32(truncatingIfNeeded: try r.int()), value: try r.u64())
        }
        let useCgroup = try r.bool()
        let protections = try r.array { r -> Protection in
            let feature = try r.str(), detail = try r.str()
            let state: Protection.State
            switch try r.int() {
            case 0: state = .enforced
            case 1: state = .missing(reason: try r.str())
            case 2: state = .degraded(reason: try r.str())
            default: throw PlanDecodeError()
            }
            return Protection(feature: feature, state: state, detail: detail)
        }
        let notes = try r.strings()
        let rights = try r.optional { r in LandlockRights(abi: try r.int(), truncate: try r.bool()) }
        return CompiledLaunch(profile: profile, landlockABI: abi, pathRules: rules, scratch: scratch,
                              scratchSize: scratchSize, netPorts: netPorts, scoped: scoped, cloneFlags: flags,
                              namespaces: namespaces, mapUser: mapUser, useInit: useInit, mounts: mounts,
                              seccomp: seccomp, rlimits: rlimits, useCgroup: useCgroup, protections: protections,
                              notes: notes, rights: rights)
    }
}
