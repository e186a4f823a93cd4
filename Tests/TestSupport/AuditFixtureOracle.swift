import Foundation

/// An independent reading of the audit fixtures through Foundation's JSON parser, to check the
/// byte scanner against. It shares no code with the code under test.
public enum AuditFixtureOracle {
    public static let auditFiles: [String] = Fixtures.files(under: "audit").filter { $0.hasSuffix(".log") || $0.hasSuffix(".json") }

    /// Every audit event in a fixture file; nil for files that hold no event (the negative case).
    public static func events(in relative: String) throws -> [[String: Any]] {
        var data = try Fixtures.data(relative)
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data = data.dropFirst(3) }
        var docs: [Any] = []
        if let whole = try? JSONSerialization.jsonObject(with: data) {
            docs = [whole]
        } else {
            for line in data.split(separator: 0x0A) where !line.allSatisfy({ $0 == 0x20 }) {
                docs.append(try JSONSerialization.jsonObject(with: Data(line)))
            }
        }
        var out: [[String: Any]] = []
        for doc in docs {
            guard let object = doc as? [String: Any] else { continue }
            if let records = object["records"] as? [[String: Any]] {
                out += try records.map(unwrapAKS)
            } else if object["properties"] != nil {
                out.append(try unwrapAKS(object))
            } else if object["auditID"] != nil {
                out.append(object)
            }
        }
        return out
    }

    static func unwrapAKS(_ record: [String: Any]) throws -> [String: Any] {
        let log = (record["properties"] as? [String: Any])?["log"] as? String ?? ""
        return try JSONSerialization.jsonObject(with: Data(log.utf8)) as! [String: Any]
    }

    public static func micros(_ text: Any?) -> Int64? {
        guard let text = text as? String else { return nil }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var base = text
        var fraction: Int64 = 0
        if let dot = text.firstIndex(of: "."), let z = text.firstIndex(of: "Z") {
            let digits = text[text.index(after: dot)..<z]
            fraction = Int64(String((digits + "000000").prefix(6)))!
            base = String(text[..<dot]) + "Z"
        }
        f.formatOptions = [.withInternetDateTime]
        guard let date = f.date(from: base) else { return nil }
        return Int64(date.timeIntervalSince1970) * 1_000_000 + fraction
    }
}
