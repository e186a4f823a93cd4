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
    public var plainText: String {
        switch self {
        case .null: return ""
        case .int(let v): return String(v)
        case .real(let v): return v == v.rounded() && abs(v) < 1e15 ? String(format: "%.1f", v) : String(v)
        case .text(let s): return s
        case .blob(let b): return "\\x" + b.map { String(format: "%02x", $0) }.joined()
        }
    }

    /// The value as JSON, appended as bytes (see `json(for:)`).
    func appendJSON(for column: QueryColumn, to out: inout [UInt8]) {
        switch self {
        case .text(let s) where !(column.isJSON && (s.utf8.first == UInt8(ascii: "{") || s.utf8.first == UInt8(ascii: "["))):
            JSONText.appendQuoted(s, to: &out)
        case .text(let s): out.append(contentsOf: s.utf8)
        default: out.append(contentsOf: json(for: column).utf8)
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
/// for full bodies). Widths are in characters; cells are measured and written as bytes when
/// they are ASCII (nearly all are), which drew an 87k-row answer in a tenth of the time.
final class TableSink: QuerySink {
    static let maxCellWidth = 120
    let out: TextOutput
    var columns: [QueryColumn] = []
    var rows: [[Cell]] = []

    struct Cell {
        var text: String
        var width: Int
    }

    init(_ out: TextOutput) { self.out = out }

    func begin(columns: [QueryColumn]) throws {
        self.columns = columns
        rows = []
    }

    func row(_ values: [QueryValue]) throws {
        rows.append(values.map { TableSink.cell($0.plainText) })
    }

    /// A newline shows as `\n` and a tab as a space, so each row stays one line.
    static func cell(_ raw: String) -> Cell {
        var ascii = true, special = false
        for b in raw.utf8 {
            if b >= 0x80 { ascii = false } else if b == 0x0A || b == 0x09 { special = true }
        }
        var text = raw
        if special {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(raw.utf8.count + 8)
            for b in raw.utf8 {
                switch b {
                case 0x0A: bytes.append(0x5C); bytes.append(UInt8(ascii: "n"))
                case 0x09: bytes.append(0x20)
                default: bytes.append(b)
                }
            }
            text = String(decoding: bytes, as: UTF8.self)
        }
        var width = ascii ? text.utf8.count : text.count
        if width > maxCellWidth {
            text = String(text.prefix(maxCellWidth - 1)) + "…"
            width = maxCellWidth
        }
        return Cell(text: text, width: width)
    }

    func end() throws {
        let header = columns.map { Cell(text: $0.name, width: $0.name.count) }
        var widths = header.map(\.width)
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.width) } }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+\n"
        let spaces = [UInt8](repeating: 0x20, count: (widths.max() ?? 0) + 1)
        func line(_ cells: [Cell]) {
            out.write(byte: UInt8(ascii: "|"))
            for (i, c) in cells.enumerated() {
                out.write(byte: 0x20)
                out.write(c.text)
                spaces.withUnsafeBytes { out.write(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<(widths[i] - c.width + 1)])) }
                out.write(byte: UInt8(ascii: "|"))
            }
            out.write(byte: 0x0A)
        }
        out.write(rule)
        line(header)
        out.write(rule)
        for r in rows { line(r) }
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
        b == 0x2C || b == 0x22 || b == 0x0A || b == 0x0D  // , " LF CR
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
                out.write(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: u[start...i])))  // the quote, then its double
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
    var keys: [[UInt8]] = []
    var count = 0

    init(_ out: TextOutput, lines: Bool) {
        self.out = out
        self.lines = lines
    }

    func begin(columns: [QueryColumn]) throws {
        self.columns = columns
        keys = columns.map { Array(JSONText.string($0.name).utf8) }
        count = 0
        if !lines { out.write("[") }
    }

    /// One reused byte buffer per row: a String per value cost more than the query, and
    /// appending to a String cost more than the bytes (`kubetrail tail -o jsonl` of every row).
    private var line: [UInt8] = []

    func row(_ values: [QueryValue]) throws {
        line.removeAll(keepingCapacity: true)
        line.append(contentsOf: lines ? "{".utf8 : (count == 0 ? "\n  {".utf8 : ",\n  {".utf8))
        for (i, v) in values.enumerated() {
            if i > 0 { line.append(UInt8(ascii: ",")) }
            line.append(contentsOf: keys[i])
            line.append(UInt8(ascii: ":"))
            v.appendJSON(for: columns[i], to: &line)
        }
        line.append(contentsOf: lines ? "}\n".utf8 : "}".utf8)
        line.withUnsafeBytes { out.write(bytes: $0) }
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
