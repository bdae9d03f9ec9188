// The text of one kernel audit record, as the netlink multicast group delivers it:
//   audit(1795461864.743:142): domain=1e9f0802d blockers=fs.read_file path="/etc/hostname" dev="vda" ino=611
// The kernel writes strings that come from user space (paths, comm, exe) either in double
// quotes or, when they hold a space, a quote, a control or a non-ASCII byte, as bare
// upper-case hex. So a quoted value never contains a space and splitting on spaces is exact.

/// Kernel audit record types warden reads (linux/audit.h).
enum AuditRecordType {
    static let syscall: UInt16 = 1300
    static let endOfEvent: UInt16 = 1320
    static let trustedApp: UInt16 = 1121
    static let landlockAccess: UInt16 = 1423
    static let landlockDomain: UInt16 = 1424
}

struct AuditRecordText: Equatable {
    /// CLOCK_REALTIME of the event, in nanoseconds (the kernel gives milliseconds).
    var timeNS: Int64
    /// The event's serial: every record of one event (one syscall) shares it.
    var serial: UInt64
    /// Fields in order; a key may repeat (an access record per object of a rename).
    var fields: [(key: String, value: String)]

    static func == (a: AuditRecordText, b: AuditRecordText) -> Bool {
        a.timeNS == b.timeNS && a.serial == b.serial
            && a.fields.map { "\($0.key)=\($0.value)" } == b.fields.map { "\($0.key)=\($0.value)" }
    }

    subscript(key: String) -> String? { fields.first { $0.key == key }?.value }

    /// Fields whose value is a user-space string the kernel may have hex-encoded.
    static let untrusted: Set<String> = ["path", "exe", "comm", "ocomm", "name", "cwd", "proctitle"]

    /// nil for text that does not start with the `audit(SECONDS.MILLIS:SERIAL): ` stamp.
    init?(_ text: String) {
        guard text.hasPrefix("audit("), let close = text.firstIndex(of: ")") else { return nil }
        let stamp = text[text.index(text.startIndex, offsetBy: 6)..<close]
        let parts = stamp.split(separator: ":")
        guard parts.count == 2, let serial = UInt64(parts[1]) else { return nil }
        let clock = parts[0].split(separator: ".")
        guard clock.count == 2, let seconds = Int64(clock[0]), let millis = Int64(clock[1]) else { return nil }
        timeNS = seconds * 1_000_000_000 + millis * 1_000_000
        self.serial = serial
        var rest = text[text.index(after: close)...]
        if rest.hasPrefix(":") { rest = rest.dropFirst() }
        fields = rest.split(separator: " ").compactMap { token in
            guard let eq = token.firstIndex(of: "=") else { return nil }
            let key = String(token[..<eq])
            return (key, Self.decode(String(token[token.index(after: eq)...]), untrusted: Self.untrusted.contains(key)))
        }
    }

    /// Strips the quotes of a quoted value; decodes a bare hex value of an untrusted field.
    static func decode(_ raw: String, untrusted: Bool) -> String {
        if raw.count >= 2, raw.hasPrefix("\""), raw.hasSuffix("\"") { return String(raw.dropFirst().dropLast()) }
        guard untrusted, raw.count >= 2, raw.count % 2 == 0,
              raw.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("A"..."F").contains($0) }) else { return raw }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count / 2)
        var index = raw.startIndex
        while index < raw.endIndex {
            let next = raw.index(index, offsetBy: 2)
            bytes.append(UInt8(raw[index..<next], radix: 16) ?? 0x3f)
            index = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One AUDIT_LANDLOCK_ACCESS record: which domain refused which rights on which object.
struct LandlockAccessRecord: Equatable {
    var domain: String
    /// `fs.read_file`, `fs.write_file,fs.truncate`, `net.connect_tcp`, `scope.signal`, ...
    var blockers: [String]
    /// The object's fields: path (fs), daddr/dest or saddr/src (net), opid/ocomm (signal, ptrace).
    var object: [String: String]

    init?(_ record: AuditRecordText) {
        guard let domain = record["domain"], let blockers = record["blockers"] else { return nil }
        self.domain = domain
        self.blockers = blockers.split(separator: ",").map(String.init)
        var object: [String: String] = [:]
        for (key, value) in record.fields where key != "domain" && key != "blockers" && object[key] == nil {
            object[key] = value
        }
        self.object = object
    }
}
