import KubetrailCore
import KubetrailTables

/// The typed row stream `kubetrail query --server` reads: a header line with the columns and
/// their declared types, one JSON array per row, then `{"end":true}` — or `{"error":"…"}` when
/// the query stopped part way (a limit), so a truncated result is never mistaken for a whole one.
public final class RowsFormatSink: QuerySink {
    let out: TextOutput
    var columns: [QueryColumn] = []

    public init(_ out: TextOutput) { self.out = out }

    public func begin(columns: [QueryColumn]) throws {
        self.columns = columns
        out.write(
            "{\"columns\":["
                + columns.map {
                    "{\"name\":" + JSONText.string($0.name) + ",\"type\":" + ($0.declaredType.map(JSONText.string) ?? "null") + "}"
                }.joined(separator: ",") + "]}\n")
    }

    /// Reused for each row: its capacity stays.
    private var line: [UInt8] = []

    public func row(_ values: [QueryValue]) throws {
        line.removeAll(keepingCapacity: true)
        RowsFormatSink.append(values, to: &line)
        line.withUnsafeBytes { out.write(bytes: $0) }
    }

    public func end() throws {}

    /// One row's line: a JSON array of its values, then a line feed.
    public static func append(_ values: [QueryValue], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, v) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            switch v {
            case .null: out.append(contentsOf: "null".utf8)
            case .int(let n): out.append(contentsOf: String(n).utf8)
            case .real(let d): out.append(contentsOf: (d.isFinite ? String(d) : "null").utf8)
            case .text(let t): JSONText.appendQuoted(t, to: &out)
            case .blob(let b): JSONText.appendQuoted(QueryValue.blob(b).plainText, to: &out)
            }
        }
        out.append(contentsOf: [UInt8(ascii: "]"), 0x0A])
    }
}
