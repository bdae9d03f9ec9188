// The parsing and run attribution behind the Landlock audit log, fed with record texts as
// this kernel (6.18) delivered them on the audit multicast group. The end-to-end behaviour,
// with the real kernel, is in LandlockAuditTests.

import Testing
@testable import WardenSandbox

@Suite struct LandlockRecordTests {
    static let access = #"audit(1795461864.743:144): domain=1e9f0802d blockers=fs.read_file path="/etc/hostname" dev="vda" ino=611"#
    static let allocated = #"audit(1795461864.743:144): domain=1e9f0802d status=allocated mode=enforcing pid=19783 uid=0 exe="/tmp/llproto/proto" comm="proto""#
    static let syscall = #"audit(1795461864.743:144): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=7ffe95522ad4 a2=0 a3=0 items=0 ppid=19781 pid=19790 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="cat" exe="/usr/bin/cat" key=(null)"#
    static let eoe = "audit(1795461864.743:144): "

    @Test func recordTextSplitsStampAndFields() throws {
        let r = try #require(AuditRecordText(Self.access))
        #expect(r.timeNS == 1_795_461_864_743_000_000)
        #expect(r.serial == 144)
        #expect(r["path"] == "/etc/hostname")
        #expect(r["ino"] == "611")
        let a = try #require(LandlockAccessRecord(r))
        #expect(a.domain == "1e9f0802d" && a.blockers == ["fs.read_file"])
        #expect(AuditRecordText("type=1300 garbage") == nil)
    }

    @Test func hexEncodedUntrustedStringsAreDecoded() throws {
        // The kernel hex-encodes a path holding a space, a quote or a control character.
        let r = try #require(AuditRecordText("audit(1.5:7): domain=a blockers=fs.read_file,fs.read_dir path=2F746D702F6120222E747874 dev=\"vda\""))
        #expect(r["path"] == "/tmp/a \".txt")
        #expect(r["dev"] == "vda")
        #expect(r.timeNS == 1_005_000_000)
        // Only untrusted fields are decoded: a hex-looking number stays as it is.
        #expect(AuditRecordText("audit(1.0:1): domain=ABCD")?["domain"] == "ABCD")
    }

    @Test func aDenialOfOurDomainCompletesWithItsSyscall() {
        var s = LandlockRecordStream()
        #expect(s.setCreator(19783).isEmpty)
        #expect(s.add(type: 1423, text: Self.access).isEmpty)
        #expect(s.add(type: 1424, text: Self.allocated).isEmpty)
        #expect(s.add(type: 1300, text: Self.syscall).isEmpty)
        let done = s.add(type: 1320, text: Self.eoe)
        #expect(done.count == 1)
        #expect(done.first?.pid == 19790 && done.first?.errno == 13)
        #expect(done.first?.access.object["path"] == "/etc/hostname")
        #expect(s.domain == "1e9f0802d")
    }

    @Test func recordsWaitUntilTheCreatorIsKnownAndOthersAreDropped() {
        var s = LandlockRecordStream()
        // Someone else's domain, then ours, both before the runner knows its agent's pid.
        _ = s.add(type: 1423, text: "audit(2.000:10): domain=other blockers=fs.read_file path=\"/x\"")
        _ = s.add(type: 1424, text: "audit(2.000:10): domain=other status=allocated mode=enforcing pid=1 uid=0 exe=\"/a\" comm=\"a\"")
        _ = s.add(type: 1320, text: "audit(2.000:10): ")
        _ = s.add(type: 1423, text: Self.access)
        _ = s.add(type: 1424, text: Self.allocated)
        #expect(s.add(type: 1320, text: Self.eoe).isEmpty)
        let released = s.setCreator(19783)
        #expect(released.map(\.access.domain) == ["1e9f0802d"])
        // Later records of the other domain never come through.
        _ = s.add(type: 1423, text: "audit(3.000:11): domain=other blockers=fs.read_file path=\"/y\"")
        #expect(s.add(type: 1320, text: "audit(3.000:11): ").isEmpty)
        #expect(s.finish().isEmpty)
    }

    @Test func anEventWithoutEndIsClosedAtFinish() {
        var s = LandlockRecordStream()
        _ = s.setCreator(19783)
        _ = s.add(type: 1423, text: Self.access)
        _ = s.add(type: 1424, text: Self.allocated)
        let rest = s.finish()
        #expect(rest.count == 1 && rest.first?.pid == 0 && rest.first?.errno == nil)
    }

    @Test func blockersMapToKindsAndProfileLists() {
        #expect(LandlockDenialRules.classify(["fs.read_file"]) == ("read", "read"))
        #expect(LandlockDenialRules.classify(["fs.read_dir"]) == ("read", "read"))
        #expect(LandlockDenialRules.classify(["fs.execute"]) == ("exec", "tools"))
        #expect(LandlockDenialRules.classify(["fs.make_reg", "fs.refer"]) == ("write", "write"))
        #expect(LandlockDenialRules.classify(["net.connect_tcp"]) == ("network", "network"))
        #expect(LandlockDenialRules.classify(["scope.signal"]) == ("syscall", "built-in"))
    }
}

@Suite struct LandlockAuditGapTests {
    @Test func theDomainsOwnCountSaysExactlyWhatWasLost() {
        #expect(LandlockAuditLog.gaps(flushed: true, domainDenials: 3000, received: 2826, kernelLost: nil, overflows: 0)
                == ["174 of 3000 Landlock denials were not delivered by kernel audit"])
        #expect(LandlockAuditLog.gaps(flushed: true, domainDenials: 3, received: 3, kernelLost: (9, 64), overflows: 0).isEmpty)
    }

    @Test func withoutTheCountTheMachineWideLossIsReported() {
        #expect(LandlockAuditLog.gaps(flushed: true, domainDenials: nil, received: 5, kernelLost: (7, 64), overflows: 0)
                == ["kernel audit lost 7 records during the run (backlog limit 64); some may be this run's Landlock denials"])
        #expect(LandlockAuditLog.gaps(flushed: false, domainDenials: nil, received: 0, kernelLost: (0, 64), overflows: 0)
                == ["the kernel audit queue was not flushed within 300 ms"])
        #expect(LandlockAuditLog.gaps(flushed: true, domainDenials: nil, received: 0, kernelLost: nil, overflows: 0).isEmpty)
    }

    @Test func theDeallocationRecordCarriesTheDomainsCount() {
        var s = LandlockRecordStream()
        _ = s.setCreator(19783)
        _ = s.add(type: 1423, text: LandlockRecordTests.access)
        _ = s.add(type: 1424, text: LandlockRecordTests.allocated)
        _ = s.add(type: 1320, text: LandlockRecordTests.eoe)
        #expect(s.domainDenials == nil)
        _ = s.add(type: 1424, text: "audit(1795461864.823:145): domain=1e9f0802d status=deallocated denials=3")
        #expect(s.domainDenials == 3)
    }
}
