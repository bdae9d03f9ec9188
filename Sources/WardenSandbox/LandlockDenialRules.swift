import Glibc
import WardenPolicy

/// Turns a Landlock denial into the audit's `Denial`: which kind of operation it was, and
/// which profile entry would have had to say otherwise. Landlock names the rights it found
/// missing; the list a user edits to grant each is fixed (read set, tools, write zones,
/// network), so the rule is that list's last entry, as for the supervisor's denials.
struct LandlockDenialRules: Sendable {
    let profileFile: String
    let readLocation: SourceLocation?
    let toolsLocation: SourceLocation?
    let writeLocation: SourceLocation?
    let networkLocation: SourceLocation?

    init(profile p: Profile) {
        profileFile = p.file
        readLocation = p.read.last?.location
        toolsLocation = p.tools.last?.location
        writeLocation = p.write.last?.location
        networkLocation = p.networkLocation
    }

    static let readRights: Set<String> = ["fs.read_file", "fs.read_dir"]
    static let writeRights: Set<String> = [
        "fs.write_file", "fs.truncate", "fs.remove_dir", "fs.remove_file", "fs.make_char", "fs.make_dir",
        "fs.make_reg", "fs.make_sock", "fs.make_fifo", "fs.make_block", "fs.make_sym", "fs.refer",
    ]

    /// The audit kind and the profile list that grants the missing right.
    static func classify(_ blockers: [String]) -> (kind: String, list: String) {
        let set = Set(blockers)
        if set.contains("fs.execute") { return ("exec", "tools") }
        if !set.isDisjoint(with: writeRights) { return ("write", "write") }
        if !set.isDisjoint(with: readRights) { return ("read", "read") }
        if blockers.contains(where: { $0.hasPrefix("net.") }) { return ("network", "network") }
        if set.contains("scope.abstract_unix_socket") { return ("network", "built-in") }
        return ("syscall", "built-in")
    }

    func denial(_ d: LandlockDenied) -> Denial {
        let (kind, list) = Self.classify(d.access.blockers)
        let o = d.access.object
        let rights = d.access.blockers.joined(separator: ",")
        let target: String
        if let path = o["path"], d.access.blockers.allSatisfy({ $0.hasPrefix("fs.") }) {
            target = path
        } else if kind == "network" && list == "network" {
            let host = o["daddr"] ?? o["saddr"] ?? "?"
            let port = o["dest"] ?? o["src"] ?? o["lport"] ?? "?"
            target = "tcp:\(host):\(port)"
        } else if let pid = o["opid"] {
            target = "\(rights) pid \(pid)" + (o["ocomm"].map { " (\($0))" } ?? "")
        } else {
            target = ([rights] + o.keys.sorted().map { "\($0)=\(o[$0]!)" }).joined(separator: " ")
        }
        let location: SourceLocation?
        let message: String
        switch list {
        case "read":
            location = readLocation
            message = "\(target) is outside the role's read set (Landlock: \(rights))"
        case "tools":
            location = toolsLocation
            message = "\(target) is not one of the role's tools (Landlock: \(rights))"
        case "write":
            location = writeLocation
            message = "\(target) is outside the role's write zones (Landlock: \(rights))"
        case "network":
            location = networkLocation
            message = "Landlock refused \(rights) to \(target)"
        default:
            location = nil
            message = "Landlock refused \(rights)"
        }
        let rule = list == "built-in" ? "built-in: Landlock \(rights)"
            : "\(location.map { "\($0.file):\($0.line)" } ?? profileFile) \(list)"
        return Denial(timeNS: d.timeNS, pid: d.pid, kind: kind, target: target, errno: d.errno ?? EACCES,
                      rule: rule, message: message, ruleFile: list == "built-in" ? nil : (location?.file ?? profileFile),
                      ruleLine: location?.line, list: list, set: nil)
    }
}
