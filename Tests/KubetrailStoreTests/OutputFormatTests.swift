import Foundation
import KubetrailCore
import Testing
@testable import KubetrailStore

/// The table and JSON formats write each cell straight into the output buffer (an 87k-row
/// answer took 1.1 s to draw as a table). These hold them to the plain definitions they replaced.
@Suite struct OutputFormatTests {
    static let columns = [
        QueryColumn(name: "stage_timestamp", declaredType: "TIMESTAMP TEXT"), QueryColumn(name: "naïve"),
        QueryColumn(name: "n", declaredType: "INTEGER"), QueryColumn(name: "annotations", declaredType: "JSON TEXT"),
        QueryColumn(name: "ok", declaredType: "BOOLEAN INTEGER")
    ]
    static let cells: [QueryValue] = [
        .null, .text(""), .text("plain"), .text("two\nlines"), .text("tab\there"), .text("crlf\r\nend"), .text("é日本語 wide"),
        .text(String(repeating: "x", count: 119)), .text(String(repeating: "y", count: 120)), .text(String(repeating: "z", count: 121)),
        .text(String(repeating: "é", count: 130)), .text("👩‍👩‍👧 family\n" + String(repeating: "ü", count: 125)),
        .text("quote \" backslash \\ control \u{01} end"), .text(#"{"a":"b"}"#), .text("[1,2]"),
        .int(0), .int(-42), .int(1), .real(1.5), .real(3), .blob([0, 255])
    ]

    static func rows(_ count: Int) -> [[QueryValue]] {
        var g = SystemRandomNumberGenerator()
        return (0..<count).map { _ in (0..<columns.count).map { _ in cells.randomElement(using: &g)! } }
    }

    static func render(_ format: OutputFormat, _ rows: [[QueryValue]]) throws -> String {
        let out = TextOutput.memory()
        let sink = format.sink(writingTo: out)
        try sink.begin(columns: columns)
        for r in rows { try sink.row(r) }
        try sink.end()
        out.flush()
        return out.text
    }

    /// psql-style boxes: widths in characters, newlines shown as \n, tabs as spaces, cells
    /// clipped to 120 characters with an ellipsis.
    static func referenceTable(_ rows: [[QueryValue]]) -> String {
        let cellRows = rows.map { r in
            r.map { v -> String in
                var s = v.plainText.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: " ")
                if s.count > 120 { s = String(s.prefix(119)) + "…" }
                return s
            }
        }
        var widths = columns.map { $0.name.count }
        for r in cellRows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+\n"
        func line(_ cells: [String]) -> String {
            "|" + cells.enumerated().map { i, c in " " + c + String(repeating: " ", count: widths[i] - c.count) + " " }.joined(separator: "|") + "|\n"
        }
        return rule + line(columns.map(\.name)) + rule + cellRows.map(line).joined() + rule + "(\(rows.count) row\(rows.count == 1 ? "" : "s"))\n"
    }

    static func referenceJSON(_ rows: [[QueryValue]], lines: Bool) -> String {
        let objects = rows.map { r in
            "{" + r.enumerated().map { i, v in JSONText.string(columns[i].name) + ":" + v.json(for: columns[i]) }.joined(separator: ",") + "}"
        }
        if lines { return objects.map { $0 + "\n" }.joined() }
        return objects.isEmpty ? "[]\n" : "[\n  " + objects.joined(separator: ",\n  ") + "\n]\n"
    }

    @Test(arguments: [0, 1, 2, 500])
    func tablesDrawAsDefined(count: Int) throws {
        let rows = Self.rows(count)
        #expect(try Self.render(.table, rows) == Self.referenceTable(rows))
    }

    @Test func everyTrickyCellDrawsAsDefined() throws {
        // A JSON column's text is passed through as kubetrail stored it, valid JSON or not.
        let rows = (Self.cells + [.text("{not json")]).map { [$0, $0, $0, $0, $0] }
        #expect(try Self.render(.table, rows) == Self.referenceTable(rows))
        #expect(try Self.render(.json, rows) == Self.referenceJSON(rows, lines: false))
        #expect(try Self.render(.jsonl, rows) == Self.referenceJSON(rows, lines: true))
    }

    @Test(arguments: [0, 1, 500])
    func jsonWritesAsDefined(count: Int) throws {
        let rows = Self.rows(count)
        #expect(try Self.render(.json, rows) == Self.referenceJSON(rows, lines: false))
        #expect(try Self.render(.jsonl, rows) == Self.referenceJSON(rows, lines: true))
        // And it is JSON.
        if count > 0 {
            let parsed = try JSONSerialization.jsonObject(with: Data(try Self.render(.json, rows).utf8)) as? [[String: Any]]
            #expect(parsed?.count == count)
        }
    }
}
