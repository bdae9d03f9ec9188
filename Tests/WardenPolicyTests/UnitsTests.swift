import XCTest
@testable import WardenPolicy

final class UnitsTests: XCTestCase {
    func testDurations() {
        XCTAssertEqual(parseDuration("90s"), 90)
        XCTAssertEqual(parseDuration("30m"), 1_800)
        XCTAssertEqual(parseDuration("2h"), 7_200)
        XCTAssertEqual(parseDuration("1h30m"), 5_400)
        XCTAssertEqual(parseDuration("1d2h"), 93_600)
        XCTAssertEqual(parseDuration("1.5s"), 1.5)
        XCTAssertEqual(parseDuration("250ms")!, 0.25, accuracy: 1e-9)
        XCTAssertEqual(parseDuration("1m30s500ms")!, 90.5, accuracy: 1e-9)
        XCTAssertEqual(parseDuration("45"), 45)
        XCTAssertEqual(parseDuration("0.5"), 0.5)
        XCTAssertEqual(parseDuration("0s"), 0)
    }

    func testDurationRejects() {
        for bad in ["", "s", "m30", "-5s", "+5s", "5 s", " 5s", "5x", "30m1h", "1h1h", "1.2.3s", "1e3",
                    "inf", "nan", "5sm", "1h30", "."] {
            XCTAssertNil(parseDuration(bad), "accepted \(bad.debugDescription)")
        }
    }

    func testByteSizes() {
        XCTAssertEqual(parseByteSize("4GiB"), 4 << 30)
        XCTAssertEqual(parseByteSize("512MiB"), 512 << 20)
        XCTAssertEqual(parseByteSize("64KiB"), 64 << 10)
        XCTAssertEqual(parseByteSize("1G"), 1 << 30)
        XCTAssertEqual(parseByteSize("1M"), 1 << 20)
        XCTAssertEqual(parseByteSize("10k"), 10 << 10)
        XCTAssertEqual(parseByteSize("10K"), 10 << 10)
        XCTAssertEqual(parseByteSize("2TiB"), 2 << 40)
        XCTAssertEqual(parseByteSize("100B"), 100)
        XCTAssertEqual(parseByteSize("4096"), 4_096)
        XCTAssertEqual(parseByteSize("1.5GiB"), 3 << 29)
        XCTAssertEqual(parseByteSize("0"), 0)
    }

    func testByteSizeRejects() {
        for bad in ["", "GiB", "-1", "-1GiB", "4 GiB", "4gib", "4GB", "4Gi", "1.2.3M", "4Q", "1e3",
                    "99999999999999999999", "16777216TiB", "inf"] {
            XCTAssertNil(parseByteSize(bad), "accepted \(bad.debugDescription)")
        }
    }
}

final class UnitFormattingTests: XCTestCase {
    func testDurationsPrintAsWrittenAndReadBack() {
        XCTAssertEqual(formatDuration(1_800), "30m")
        XCTAssertEqual(formatDuration(5_400), "1h30m")
        XCTAssertEqual(formatDuration(93_600), "1d2h")
        XCTAssertEqual(formatDuration(90), "1m30s")
        XCTAssertEqual(formatDuration(1.5), "1.5s")
        XCTAssertEqual(formatDuration(0.25), "250ms")
        for seconds in [1.0, 59, 61, 3_600, 86_401, 2.75, 0.5] {
            XCTAssertEqual(parseDuration(formatDuration(seconds)), seconds, "\(seconds)")
        }
    }

    func testSizesUseTheLargestExactUnit() {
        XCTAssertEqual(formatByteSize(4 << 30), "4GiB")
        XCTAssertEqual(formatByteSize(512 << 20), "512MiB")
        XCTAssertEqual(formatByteSize(1536 << 10), "1536KiB")
        XCTAssertEqual(formatByteSize(1000), "1000B")
        for bytes: UInt64 in [1, 1024, 3 << 40, 12345, 1 << 20 + 1] {
            XCTAssertEqual(parseByteSize(formatByteSize(bytes)), bytes, "\(bytes)")
        }
    }
}
