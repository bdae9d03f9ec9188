import ArgumentParser
import Foundation
import Glibc
import WardenPolicy
import WardenSandbox

struct StandbysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "standbys",
        abstract: "List the standbys waiting in your plan cache.",
        discussion: """
        Each standby (warden standby) is a background process holding a
        sandbox ready for one set of options. This asks each one what it
        waits for: its process, slot, profile, workspace, the directory
        its agent starts in, the run options it serves, whether its plan
        and view are still current (a stale one declines, and a fresh
        one takes its place), and how long before --idle ends it.

        A socket nobody answers on (its standby was killed) is listed as
        not listening; the next standby for those options replaces it.

          warden standbys
          warden standbys --json      # one JSON object per line
        """
    )

    @Flag(name: .long, help: "One JSON object per standby, one per line.")
    var json = false

    func run() throws {
        guard let cache = PlanCache.standard(environment: processEnvironment()) else {
            complain("there is no plan cache (WARDEN_CACHE=off, or no directory only this user can write), so no standbys")
            throw ExitCode(WardenExit.usage)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: cache.directory)) ?? [])
            .filter { $0.hasPrefix("standby-") && $0.hasSuffix(".sock") }.sorted()
        var rows: [(socket: String, info: [String: Any]?)] = []
        for name in names {
            let path = cache.directory + "/" + name
            rows.append((path, Self.ask(path)))
        }
        if json {
            for row in rows {
                var object = row.info ?? [:]
                object["socket"] = row.socket
                object["listening"] = row.info != nil
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        guard !rows.isEmpty else {
            print("no standby is waiting (warden standby --profile NAME makes one)")
            return
        }
        for row in rows {
            guard let info = row.info else {
                print("\(row.socket): not listening (its standby is gone)")
                continue
            }
            func text(_ key: String) -> String { (info[key] as? String) ?? "-" }
            let pid = (info["pid"] as? Int).map(String.init) ?? "?"
            let slot = (info["slot"] as? Int).map(String.init) ?? "?"
            let idle = (info["idle_left_seconds"] as? Int).map { formatSeconds(Double($0)) } ?? "?"
            let current = (info["current"] as? Bool) == true ? "current" : "stale (declines; a fresh one follows)"
            var options: [String] = []
            if let t = info["timeout_seconds"] as? Double { options.append("--timeout \(formatSeconds(t))") }
            if (info["view"] as? Bool) == false { options.append("--no-view") }
            if (info["keep"] as? Bool) == true { options.append("--keep") }
            if text("commit") != "success" { options.append("--commit \(text("commit"))") }
            if (info["json"] as? Bool) == true { options.append("--json") }
            if let audit = info["audit"] as? String { options.append("--audit \(audit)") }
            for feature in (info["allow_degraded"] as? [String]) ?? [] { options.append("--allow-degraded \(feature)") }
            print("pid \(pid), slot \(slot): --profile \(text("profile")) --workspace \(text("workspace"))"
                  + (options.isEmpty ? "" : " " + options.joined(separator: " ")))
            print("    from \(text("directory")); \(current); ends if unused in \(idle)")
        }
    }

    /// The standby's `info` answer, or nil when nobody answers at `path`.
    static func ask(_ path: String) -> [String: Any]? {
        guard let fd = Standby.connect(path) else { return nil }
        defer { close(fd) }
        guard Standby.send(fd, Standby.Request(kind: .info, key: ""), fds: []),
              readExactly(fd, 1) == [Standby.info], let head = readExactly(fd, 4) else { return nil }
        let length = head.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard length < 1 << 20, let body = readExactly(fd, Int(length)),
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object
    }
}
