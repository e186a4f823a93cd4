import KubetrailCore
import Testing
@testable import KubetrailAgent

/// Feeds bytes in the given chunk sizes and collects (offset, text, end, truncated).
private func frame(_ text: String, format: RecordFramer.Format, cap: Int = 1 << 20, chunks: [Int]) -> ([(UInt64, String, UInt64, Bool)], RecordFramer) {
    var framer = RecordFramer(format: format, maxRecordBytes: cap)
    var out: [(UInt64, String, UInt64, Bool)] = []
    let bytes = Array(text.utf8)
    var i = 0
    var c = 0
    while i < bytes.count {
        let n = min(chunks[c % chunks.count], bytes.count - i)
        bytes[i..<(i + n)].withUnsafeBytes { raw in
            framer.feed(raw) { r in out.append((r.offset, String(decoding: r.bytes, as: UTF8.self), r.end, r.truncated)) }
        }
        i += n
        c += 1
    }
    return (out, framer)
}

@Suite struct RecordFramerTests {
    let cri = """
        2026-11-27T10:00:00.000000001Z stdout F one
        2026-11-27T10:00:00.000000002Z stdout P two-a
        2026-11-27T10:00:00.000000003Z stderr F err
        2026-11-27T10:00:00.000000004Z stdout F two-b
        2026-11-27T10:00:00.000000005Z stdout F three
        partial-without-newline
        """

    @Test(arguments: [[1], [7], [64], [4096], [3, 50, 1]])
    func criGroupsStayWholeAndResumePointsAreBetweenThem(chunks: [Int]) {
        let (records, framer) = frame(cri, format: .containerLog, chunks: chunks)
        #expect(
            records.map(\.1) == [
                "2026-11-27T10:00:00.000000001Z stdout F one",
                "2026-11-27T10:00:00.000000002Z stdout P two-a\n2026-11-27T10:00:00.000000003Z stderr F err\n2026-11-27T10:00:00.000000004Z stdout F two-b",
                "2026-11-27T10:00:00.000000005Z stdout F three"
            ])
        // Offsets are file offsets; each record starts where the previous ended.
        #expect(records[0].0 == 0)
        #expect(records[1].0 == records[0].2)
        #expect(records[2].0 == records[1].2)
        // The trailing partial line is neither a record nor committed.
        let total = UInt64(cri.utf8.count)
        #expect(framer.committed == total - UInt64("partial-without-newline".utf8.count))
        #expect(framer.position == total)
        #expect(records.allSatisfy { !$0.3 })
    }

    /// The agent groups by the same reading of a line's head as the aggregator's parser: a CRI
    /// line the parser calls partial holds the record open to the stream's next `F`; any other
    /// does not.
    @Test(arguments: [
        "2026-11-27T10:00:00Z stdout P piece", "2026-11-27T10:00:00Z stdout P:extra piece", "2026-11-27T10:00:00Z stdout P",
        "2026-11-27T10:00:00Z stdout F whole", "2026-11-27T10:00:00Z stdout F:extra whole", "2026-11-27T10:00:00Z stdout Px piece",
        "2026-11-27T10:00:00Z stdout  P piece", "2026-11-27T10:00:00Z stdout", "{\"log\":\"x\",\"stream\":\"stdout\"}", "garbage"
    ])
    func theFramerGroupsAsTheParserReads(line: String) {
        // Docker's partial entries are single records here: the aggregator joins them.
        let partial = (try? ContainerLogLine.parse(line)).map { $0.format == .cri && $0.isPartial } ?? false
        let (records, framer) = frame(line + "\n2026-11-27T10:00:01Z stdout F end\n", format: .containerLog, chunks: [4096])
        #expect(records.count == (partial ? 1 : 2), "\(records.map(\.1))")
        #expect(!framer.hasOpenGroup)
    }

    @Test(arguments: [[5], [100], [1 << 20]])
    func overlongLinesKeepTheirHeadAndAreFlagged(chunks: [Int]) {
        let long = String(repeating: "x", count: 5000)
        let text = "short\n\(long)\nafter\n"
        let (records, framer) = frame(text, format: .lines, cap: 1024, chunks: chunks)
        #expect(records.map(\.1.count) == [5, 1024, 5])
        #expect(records.map(\.3) == [false, true, false])
        #expect(records[2].0 == UInt64(6 + 5000 + 1))  // the long line's full span was skipped, not lost track of
        #expect(framer.committed == UInt64(text.utf8.count))
    }

    @Test func anOpenGroupIsFlushedOnlyAsWholeLines() {
        var (records, framer) = frame("2026-11-27T10:00:00Z stdout P half\n", format: .containerLog, chunks: [10])
        #expect(records.isEmpty)
        #expect(framer.hasOpenGroup)
        var flushed: [String] = []
        #expect(framer.flushOpenGroup { flushed.append(String(decoding: $0.bytes, as: UTF8.self)) })
        #expect(flushed == ["2026-11-27T10:00:00Z stdout P half"])
        #expect(framer.committed == framer.position)
        records = []
        // With a partial line after the open group, nothing is flushed.
        var (_, f2) = frame("2026-11-27T10:00:00Z stdout P half\nunfinished", format: .containerLog, chunks: [7])
        #expect(!f2.flushOpenGroup { _ in Issue.record("flushed a partial line") })
    }

    @Test func dockerJSONAndInvalidUTF8AreSingleRecords() {
        let text = "{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T10:00:00Z\"}\n\u{FF}garbage \u{00} bytes\n"
        var bytes = Array(text.utf8)
        bytes[bytes.firstIndex(of: 0xC3)!] = 0xFF  // make it really invalid UTF-8
        var framer = RecordFramer(format: .containerLog, maxRecordBytes: 1 << 20)
        var count = 0
        bytes.withUnsafeBytes { raw in framer.feed(raw) { _ in count += 1 } }
        #expect(count == 2)
        #expect(framer.committed == UInt64(bytes.count))
    }
}
