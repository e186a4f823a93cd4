import Foundation
import Testing
import TestSupport
@testable import KubetrailStore

/// The functions detections' SQL calls on SQLite (`regexp`, `kubetrail_in_cidr`,
/// `kubetrail_json_values`), as any query may call them: their answers, and a clear error for
/// a bad pattern, network, path or document.
@Suite struct DetectionFunctionTests {
    let dir: TemporaryDirectory
    let path: String

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.path("f.db")
        _ = try SQLiteStore(path: path)
    }

    final class One: QuerySink {
        var value: QueryValue?
        func begin(columns: [QueryColumn]) {}
        func row(_ values: [QueryValue]) { value = values[0] }
        func end() {}
    }

    func value(_ sql: String) throws -> QueryValue? {
        let one = One()
        try ReadOnlyConnection(path: path).run(sql, into: one)
        return one.value
    }

    func error(_ sql: String) -> String {
        do { _ = try value(sql); return "no error" } catch { return "\(error)" }
    }

    @Test func regexpFindsThePatternAnywhereAndMindsCase() throws {
        #expect(try value("SELECT regexp('serviceaccount:kube-system', 'system:serviceaccount:kube-system:x')") == .int(1))
        #expect(try value("SELECT 'system:serviceaccount:x' REGEXP '^system:'") == .int(1))
        #expect(try value("SELECT regexp('^SYSTEM', 'system:admin')") == .int(0))
        #expect(try value("SELECT regexp('a', NULL)") == .null)
        #expect(error("SELECT regexp('(unclosed', 'x')").contains("regexp: invalid regular expression '(unclosed'"))
    }

    @Test func cidrAsPostgreSQLDecidesIt() throws {
        let cases: [(String, String, QueryValue)] = [
            ("10.1.2.3", "10.0.0.0/8", .int(1)), ("11.1.2.3", "10.0.0.0/8", .int(0)),
            ("10.1.2.3", "10.1.2.0/24", .int(1)), ("10.1.3.3", "10.1.2.0/23", .int(1)), ("10.1.4.3", "10.1.2.0/23", .int(0)),
            ("10.1.2.3", "10.1.2.77/8", .int(1)),  // host bits of the network ignored
            ("192.168.99.1", "192.168.99.1", .int(1)), ("192.168.99.2", "192.168.99.1", .int(0)),
            ("2001:db8::7", "2001:db8::/32", .int(1)), ("2001:db9::7", "2001:db8::/32", .int(0)),
            ("::ffff:10.1.2.3", "10.0.0.0/8", .int(0)),  // the families differ
            ("not-an-address", "10.0.0.0/8", .int(0)), ("10.0.0.256", "10.0.0.0/8", .int(0)), ("", "0.0.0.0/0", .int(0)),
            ("1.2.3.4", "0.0.0.0/0", .int(1))
        ]
        for (address, network, expected) in cases {
            #expect(try value("SELECT kubetrail_in_cidr('\(address)', '\(network)')") == expected, "\(address) in \(network)")
        }
        #expect(try value("SELECT kubetrail_in_cidr(NULL, '10.0.0.0/8')") == .null)
        for bad in ["10.0.0.0/33", "10.0.0.0/-1", "10.0.0/8", "fd00::/129", "x/8", "10.0.0.0/8/8"] {
            #expect(error("SELECT kubetrail_in_cidr('10.0.0.1', '\(bad)')").contains("is not a network"), "\(bad)")
        }
    }

    @Test func jsonValuesStepIntoArraysAsALaxPathDoes() throws {
        let pod =
            #"{"spec":{"containers":[{"name":"a","securityContext":{"privileged":true,"capabilities":{"add":["NET_ADMIN","SYS_TIME"]}}},{"name":"b"},{"name":"c","securityContext":{"privileged":false}}],"volumes":[{"hostPath":{"path":"/etc"}}],"nested":[[{"k":1}]]}}"#
        func values(_ keys: String) throws -> QueryValue? { try value("SELECT kubetrail_json_values('\(pod)', '\(keys)')") }
        #expect(try values(#"["spec","containers","securityContext","privileged"]"#) == .text("[true,false]"))
        #expect(try values(#"["spec","containers","securityContext","capabilities","add"]"#) == .text(#"["NET_ADMIN","SYS_TIME"]"#))
        #expect(try values(#"["spec","containers","name"]"#) == .text(#"["a","b","c"]"#))
        #expect(try values(#"["spec","volumes","hostPath"]"#) == .text(#"[{"path":"/etc"}]"#))
        #expect(try values(#"["spec","nothing","here"]"#) == .text("[]"))
        // One level of arrays per key, as PostgreSQL's lax mode: an array of arrays is not searched.
        #expect(try values(#"["spec","nested","k"]"#) == .text("[]"))
        // Keys are compared as decoded: an escaped key in the document is the same key.
        #expect(try value(#"SELECT kubetrail_json_values('{"a\/b":{"c":"d"}}', '["a/b","c"]')"#) == .text(#"["d"]"#))
        #expect(try value(#"SELECT kubetrail_json_values(NULL, '["a"]')"#) == .text("[]"))
        #expect(error(#"SELECT kubetrail_json_values('{"a":', '["a"]')"#).contains("kubetrail_json_values: the value is not JSON"))
        #expect(error(#"SELECT kubetrail_json_values('{"a":1} x', '["a"]')"#).contains("the value is not JSON"))
        #expect(error(#"SELECT kubetrail_json_values('{"a":1}', 'a')"#).contains("the path must be a JSON array of keys"))
        // What a detection does with the values: any element equal.
        #expect(
            try value(
                #"SELECT EXISTS (SELECT 1 FROM json_each(kubetrail_json_values('\#(pod)', '["spec","containers","securityContext","privileged"]')) AS e WHERE e.type = 'true')"#
            ) == .int(1))
    }

    /// The one-call text tests: any pattern, ASCII letters folded, `%`/`_`/`\` as in LIKE.
    @Test func textListAndJSONPatternTests() throws {
        let patterns = #"'["%\\%2fbin%", "kubectl/%", "exact"]'"#
        #expect(try value("SELECT kubetrail_text_any('/exec?command=%2FBIN%2Fsh', \(patterns))") == .int(1))
        #expect(try value("SELECT kubetrail_text_any('KUBECTL/v1.32', \(patterns))") == .int(1))
        #expect(try value("SELECT kubetrail_text_any('EXACT', \(patterns))") == .int(1))
        #expect(try value("SELECT kubetrail_text_any('exactly', \(patterns))") == .int(0))
        #expect(try value("SELECT kubetrail_text_any('/exec?command=2fbin', \(patterns))") == .int(0), "the % is a literal after \\")
        #expect(try value("SELECT kubetrail_text_any(NULL, \(patterns))") == .int(0))
        // Each shape: suffix, a `%` inside, `_`, a value shorter than the literal, the empty value.
        for (text, spec, expected) in [
            ("web-ADMIN", #"["%-admin"]"#, 1), ("web-admins", #"["%-admin"]"#, 0), ("system:node:n1", #"["system:%:n1"]"#, 1),
            ("system:node:n2", #"["system:%:n1"]"#, 0), ("pod/ab", #"["pod/a_"]"#, 1), ("pod/a", #"["pod/a_"]"#, 0),
            ("ab", #"["%abc%"]"#, 0), ("", #"["%a%"]"#, 0), ("", #"["%"]"#, 1), ("aab", #"["%ab"]"#, 1), ("abab", #"["%bab%"]"#, 1)
        ] {
            #expect(try value("SELECT kubetrail_text_any('\(text)', '\(spec)')") == .int(Int64(expected)), "\(text) ~ \(spec)")
        }
        #expect(try value(#"SELECT kubetrail_list_any('["system:authenticated","System:Masters"]', '["system:masters"]')"#) == .int(1))
        #expect(try value(#"SELECT kubetrail_list_any('["a\"b","c"]', '["a\"b"]')"#) == .int(1), "an escaped element is decoded")
        #expect(try value(#"SELECT kubetrail_list_any('[]', '["%"]')"#) == .int(0))
        let doc = #"{"spec":{"volumes":[{"hostPath":{"path":"\/etc"}},{"hostPath":{"path":"/var/log"}}],"hostPID":true}}"#
        #expect(try value("SELECT kubetrail_json_text_any('\(doc)', '[\"spec\",\"volumes\",\"hostPath\",\"path\"]', '[\"/ETC\"]')") == .int(1))
        #expect(try value("SELECT kubetrail_json_text_any('\(doc)', '[\"spec\",\"volumes\",\"hostPath\",\"path\"]', '[\"/proc%\"]')") == .int(0))
        #expect(try value("SELECT kubetrail_json_bool('\(doc)', '[\"spec\",\"hostPID\"]', 1)") == .int(1))
        #expect(try value("SELECT kubetrail_json_bool('\(doc)', '[\"spec\",\"hostPID\"]', 0)") == .int(0))
        // A bad argument is an error, not a quiet no-match.
        #expect(error("SELECT kubetrail_text_any('x', 'not json')").contains("detection patterns must be a JSON array"))
        #expect(error(#"SELECT kubetrail_list_any('{"a":1}', '["x"]')"#).contains("not a JSON array"))
        #expect(error(#"SELECT kubetrail_json_text_any('{"a":', '["a"]', '["x"]')"#).contains("the value is not JSON"))
        #expect(error(#"SELECT kubetrail_json_bool('{}', 'a', 1)"#).contains("a JSON path must be a JSON array of keys"))
    }
}
