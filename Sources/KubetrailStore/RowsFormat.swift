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

    public func row(_ values: [QueryValue]) throws {
        var s = "["
        for (i, v) in values.enumerated() {
            if i > 0 { s += "," }
            switch v {
            case .null: s += "null"
            case .int(let n): s += String(n)
            case .real(let d): s += d.isFinite ? String(d) : "null"
            case .text(let t): s += JSONText.string(t)
            case .blob(let b): s += JSONText.string(QueryValue.blob(b).plainText)
            }
        }
        out.write(s + "]\n")
    }

    public func end() throws {}
}
