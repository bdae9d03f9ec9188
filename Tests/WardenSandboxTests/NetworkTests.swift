// Network off: no inet sockets at all, and no reaching host listeners over abstract unix
// sockets. Outbound TCP to arbitrary addresses "succeeds" on some CI machines (something
// intercepts it), so these tests assert errnos and use 127.0.0.1 listeners as controls.

import Foundation
import Glibc
import Testing

@Suite struct NetworkTests {
    /// Starts `tcp-listen 0 SECONDS` outside and returns it with its port.
    static func tcpListener(_ fx: Fixture, seconds: Int) -> (Child, String) {
        let l = fx.startControl([fx.probe, "tcp-listen", "0", "\(seconds)"])
        var port = ""
        _ = l.waitForOutput { out in
            guard let line = out.split(separator: "\n").first, line.hasPrefix("ok listening ") else { return false }
            port = String(line.dropFirst("ok listening ".count))
            return true
        }
        return (l, port)
    }

    @Test(arguments: Identity.all)
    func tcpEgress(_ id: Identity) {
        let fx = Fixture(id)
        let (listener, port) = Self.tcpListener(fx, seconds: 2)
        #expect(!port.isEmpty, "listener did not start: \(listener.stdoutSoFar)")
        let profile = fx.profile("code")
        expectErr(fx.run(profile: profile, [fx.probe, "tcp", "127.0.0.1", port]), "socket", "EPERM")
        expectErr(fx.run(profile: profile, [fx.probe, "socket-inet"]), "socket", "EPERM")
        expectErr(fx.run(profile: profile, [fx.probe, "udp", "127.0.0.1", port]), "socket", "EPERM")
        expectErr(fx.run(profile: profile, [fx.probe, "tcp-listen", "0", "1"]), "socket", "EPERM")
        let heard = listener.wait()
        #expect(heard.stdout.contains("timeout") && !heard.stdout.contains("accepted"), "\(heard)")

        // Control: the same connect outside reaches a listener.
        let (l2, port2) = Self.tcpListener(fx, seconds: 10)
        expectOK(fx.control("tcp", "127.0.0.1", port2))
        let got = l2.wait()
        #expect(got.stdout.contains("accepted"), "\(got)")
    }

    /// A root runner makes the namespace ahead on a thread and the child joins it (setns);
    /// an unprivileged one clones it inside its user namespace. Either way each run gets a
    /// new one of its own, with no device but loopback.
    @Test(arguments: Identity.all)
    func eachRunGetsANewEmptyNetworkNamespace(_ id: Identity) {
        let fx = Fixture(id)
        let host = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? ""
        #expect(host.hasPrefix("net:["))
        // Two runs at once: a namespace's inode number is reused once it is freed, so only
        // namespaces alive together can be told apart.
        let script = "readlink /proc/self/ns/net; cat /proc/net/dev; echo up; sleep 3"
        let first = fx.start(profile: "code", ["sh", "-c", script])
        #expect(first.waitForOutput { $0.contains("up\n") }, "\(first.stdoutSoFar)")
        let second = fx.run(profile: "code", ["sh", "-c", script])
        let outcomes = [first.wait(), second]
        var seen: Set<String> = [host]
        for o in outcomes {
            #expect(o.status == 0, "\(o)")
            let lines = o.stdout.split(separator: "\n").map(String.init)
            let ns = lines.first ?? ""
            #expect(ns.hasPrefix("net:["), "\(o)")
            #expect(seen.insert(ns).inserted, "a run shares the network namespace \(ns) (host: \(host)): \(o)")
            let devices = lines.dropFirst(3).prefix { $0 != "up" }.map {
                $0.split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            }
            #expect(devices == ["lo"], "\(o)")
        }
    }

    @Test(arguments: Identity.all)
    func abstractUnixSocketsOutside(_ id: Identity) {
        let fx = Fixture(id)
        let name = "warden-escape-\(UUID().uuidString.prefix(12))"
        let listener = fx.startControl([fx.probe, "abstract-listen", name, "2"])
        #expect(listener.waitForOutput { $0.contains("ok listening") }, "\(listener.stdoutSoFar)")
        for role in ["code", "debug"] {
            let o = fx.sandboxed(role, "abstract", name)
            expectErr(o, "connect", "ECONNREFUSED", "EPERM", "EACCES")
        }
        let heard = listener.wait()
        #expect(heard.stdout.contains("timeout") && !heard.stdout.contains("accepted"), "\(heard)")

        let name2 = name + "-ctl"
        let l2 = fx.startControl([fx.probe, "abstract-listen", name2, "10"])
        #expect(l2.waitForOutput { $0.contains("ok listening") })
        expectOK(fx.control("abstract", name2))
        let got = l2.wait()
        #expect(got.stdout.contains("accepted"), "\(got)")
    }
}
