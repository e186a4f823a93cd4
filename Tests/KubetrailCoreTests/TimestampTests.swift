import Foundation
import Testing
@testable import KubetrailCore

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2023-06-12T13:30:25.756122Z", "2023-06-12T13:30:25.756122Z"),
        ("2017-09-11T19:55:05Z", "2017-09-11T19:55:05.000000Z"),
        ("2021-02-16T08:59:31.252009327+00:00", "2021-02-16T08:59:31.252009Z"),
        ("2021-12-21T10:19:47.339827-05:00", "2021-12-21T15:19:47.339827Z"),
        ("2024-02-29T23:30:00+0130", "2024-02-29T22:00:00.000000Z"),
        ("2016-03-02T22:59:04.66649744Z", "2016-03-02T22:59:04.666497Z"),
        ("2020-01-01 00:00:00.5z", "2020-01-01T00:00:00.500000Z"),
        ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z")
    ])
    func parsesAndFormatsCanonically(input: String, expected: String) throws {
        let t = try #require(Timestamp(rfc3339: input))
        #expect(t.iso8601 == expected)
        #expect(Timestamp(rfc3339: t.iso8601) == t)
    }

    @Test(arguments: [
        "", "2023-06-12", "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z", "2023-06-12T25:00:00Z",
        "2023-06-12T13:30:25", "2023-06-12T13:30:25.Z", "2023-06-12T13:30:25Zjunk", "not a time at all!!",
        "2023-06-12T13:30:25+25:00"
    ])
    func rejectsMalformed(input: String) {
        #expect(Timestamp(rfc3339: input) == nil)
    }

    @Test func agreesWithFoundationOverManyInstants() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var seed: UInt64 = 42
        for _ in 0..<2000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let seconds = Int64(seed >> 33) % 4_000_000_000 - 500_000_000
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            let t = try #require(Timestamp(rfc3339: formatter.string(from: date)))
            #expect(t.microseconds == seconds * 1_000_000)
        }
    }

    @Test func dateIsTheUTCDay() {
        #expect(Timestamp(rfc3339: "2026-11-27T23:59:59-02:00")!.date == "2026-11-28")
    }
}
