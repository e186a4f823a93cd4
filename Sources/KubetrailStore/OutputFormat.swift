import KubetrailCore
import KubetrailTables

/// The result formats of `kubetrail query` (and later the query API).
public enum OutputFormat: String, CaseIterable, Sendable {
    case table, csv, json, jsonl, line

    public func sink(writingTo out: TextOutput) -> any QuerySink {
        switch self {
        case .table: return TableSink(out)
        case .csv: return CSVSink(out)
        case .json: return JSONSink(out, lines: false)
        case .jsonl: return JSONSink(out, lines: true)
        case .line: return LineSink(out)
        }
    }
}

extension QueryValue {
    /// Plain text for table, csv and line formats; NULL is empty.
    var plainText: String {
        switch self {
        case .null: return ""
        case .int(let v): return String(v)
        case .real(let v): return v == v.rounded() && abs(v) < 1e15 ? String(format: "%.1f", v) : String(v)
        case .text(let s): return s
        case .blob(let b): return "\\x" + b.map { String(format: "%02x", $0) }.joined()
        }
    }

    func json(for column: QueryColumn) -> String {
        switch self {
        case .null: return "null"
        case .int(let v): return column.isBoolean ? (v != 0 ? "true" : "false") : String(v)
        case .real(let v): return v.isFinite ? String(v) : "null"
        // JSON and list columns already hold JSON text written by kubetrail.
        case .text(let s): return column.isJSON && (s.hasPrefix("{") || s.hasPrefix("[")) ? s : JSONText.string(s)
        case .blob: return JSONText.string(plainText)
        }
    }
}

/// psql-style boxes; holds rows to size columns, and clips very long cells (use another format
/// for full bodies).
final class TableSink: QuerySink {
    static let maxCellWidth = 120
    let out: TextOutput
    var columns: [QueryColumn] = []
    var rows: [[String]] = []

    init(_ out: TextOutput) { self.out = out }

    func begin(columns: [QueryColumn]) throws {
        self.columns = columns
        rows = []
    }

    func row(_ values: [QueryValue]) throws {
        rows.append(values.map { value in
            var s = value.plainText.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: " ")
            if s.count > TableSink.maxCellWidth { s = String(s.prefix(TableSink.maxCellWidth - 1)) + "…" }
            return s
        })
    }

    func end() throws {
        var widths = columns.map { $0.name.count }
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+\n"
        func line(_ cells: [String]) -> String {
            "|" + cells.enumerated().map { i, c in " " + c + String(repeating: " ", count: widths[i] - c.count) + " " }.joined(separator: "|") + "|\n"
        }
        out.write(rule)
        out.write(line(columns.map(\.name)))
        out.write(rule)
        for r in rows { out.write(line(r)) }
        out.write(rule)
        out.write("(\(rows.count) row\(rows.count == 1 ? "" : "s"))\n")
        rows = []
        out.flush()
    }
}

/// RFC 4180: fields quoted when they hold a comma, quote, CR or LF; CRLF-free line ends.
final class CSVSink: QuerySink {
    let out: TextOutput
    init(_ out: TextOutput) { self.out = out }

    private static func needsQuoting(_ b: UInt8) -> Bool {
        b == 0x2C || b == 0x22 || b == 0x0A || b == 0x0D   // , " LF CR
    }

    /// Writes one field, on UTF-8 bytes: exports push hundreds of MB through here.
    static func write(field s: String, to out: TextOutput) {
        var s = s
        s.withUTF8 { u in
            let special = u.contains(where: CSVSink.needsQuoting)
            guard special else { return out.write(bytes: UnsafeRawBufferPointer(u)) }
            out.write(byte: UInt8(ascii: "\""))
            var start = 0
            for (i, b) in u.enumerated() where b == UInt8(ascii: "\"") {
                out.write(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: u[start...i])))   // the quote, then its double
                start = i
            }
            out.write(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: u[start...])))
            out.write(byte: UInt8(ascii: "\""))
        }
    }

    func begin(columns: [QueryColumn]) throws {
        write(columns.map(\.name))
    }

    func row(_ values: [QueryValue]) throws {
        for (i, v) in values.enumerated() {
            if i > 0 { out.write(byte: UInt8(ascii: ",")) }
            switch v {
            case .null: break
            case .text(let s): CSVSink.write(field: s, to: out)
            default: CSVSink.write(field: v.plainText, to: out)
            }
        }
        out.write(byte: 0x0A)
    }

    private func write(_ fields: [String]) {
        for (i, f) in fields.enumerated() {
            if i > 0 { out.write(byte: UInt8(ascii: ",")) }
            CSVSink.write(field: f, to: out)
        }
        out.write(byte: 0x0A)
    }

    func end() throws { out.flush() }
}

/// A JSON array of objects, or one object per line (`jsonl`).
final class JSONSink: QuerySink {
    let out: TextOutput
    let lines: Bool
    var columns: [QueryColumn] = []
    var keys: [String] = []
    var count = 0

    init(_ out: TextOutput, lines: Bool) {
        self.out = out
        self.lines = lines
    }

    func begin(columns: [QueryColumn]) throws {
        self.columns = columns
        keys = columns.map { JSONText.string($0.name) }
        count = 0
        if !lines { out.write("[") }
    }

    func row(_ values: [QueryValue]) throws {
        var s = lines ? "{" : (count == 0 ? "\n  {" : ",\n  {")
        for (i, v) in values.enumerated() {
            if i > 0 { s += "," }
            s += keys[i] + ":" + v.json(for: columns[i])
        }
        s += lines ? "}\n" : "}"
        out.write(s)
        count += 1
    }

    func end() throws {
        if !lines { out.write(count == 0 ? "]\n" : "\n]\n") }
        out.flush()
    }
}

/// `column = value`, one line per column, a blank line between rows (sqlite3's `.mode line`).
final class LineSink: QuerySink {
    let out: TextOutput
    var names: [String] = []
    var first = true

    init(_ out: TextOutput) { self.out = out }

    func begin(columns: [QueryColumn]) throws {
        let width = columns.map(\.name.count).max() ?? 0
        names = columns.map { String(repeating: " ", count: width - $0.name.count) + $0.name }
        first = true
    }

    func row(_ values: [QueryValue]) throws {
        var s = first ? "" : "\n"
        first = false
        for (i, v) in values.enumerated() { s += names[i] + " = " + v.plainText + "\n" }
        out.write(s)
    }

    func end() throws { out.flush() }
}

import Foundation
