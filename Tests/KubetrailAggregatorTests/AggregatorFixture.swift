import Foundation
import KubetrailCore
import TestSupport

/// A temp dir with token files, a database path, and helpers to build batches from fixtures.
final class AggregatorFixture: @unchecked Sendable {
    let dir: TemporaryDirectory
    let ingestToken = "ingest-\(UUID().uuidString)"
    let queryToken = "query-\(UUID().uuidString)"
    /// kube-apiserver's own credential for the audit webhook (no agent's token may post there).
    let webhookToken = "webhook-\(UUID().uuidString)"
    let backend: TestBackend
    /// The store: a file in the temp dir, or a database of its own on the shared PostgreSQL.
    let db: String

    /// The PostgreSQL password (in `db`, and given to servers in a file).
    let dbPassword: String?

    /// `server`: a PostgreSQL of the test's own (one it stops and starts), else the shared one;
    /// `database`: which of its databases.
    init(_ backend: TestBackend = .sqlite, server: TestPostgres? = nil, database: String = "postgres") throws {
        dir = try TemporaryDirectory()
        self.backend = backend
        if let server {
            db = "postgres://\(TestPostgres.user):\(server.password)@127.0.0.1:\(server.port)/\(database)"
            dbPassword = server.password
        } else {
            db = try backend.location(in: dir, name: "agg.db")
            dbPassword = backend == .postgres ? try SharedPostgres.get().password : nil
        }
        if backend == .postgres {
            // Aggregators on PostgreSQL share one digest key; there is no "beside the database".
            let keygen = try Subprocess.kubetrail(["keygen", "--out", dir.path("digest.key")])
            guard keygen.status == 0 else { throw ServerError(keygen.stderr) }
        }
        try dir.write("ingest.tokens", "# agents\n\(ingestToken)\n# kube-apiserver\n\(webhookToken) kinds=webhook\n")
        try dir.write("query.tokens", "\(queryToken)\n")
    }

    /// On PostgreSQL the server is given the URL without its password, and the password in a
    /// file, as a deployment does.
    var serverArguments: [String] {
        var database = ["--db", db]
        if let password = dbPassword, let file = try? dir.write("db-password", password + "\n") {
            database = [
                "--db", db.replacingOccurrences(of: ":\(password)@", with: "@"), "--db-password-file", file,
                "--digest-signing-key", dir.path("digest.key")
            ]
        }
        return database + ["--ingest-token-file", dir.path("ingest.tokens"), "--query-token-file", dir.path("query.tokens")]
    }

    func start(_ extra: [String] = [], environment: [String: String] = [:], log: String? = nil) throws -> ServerProcess {
        try ServerProcess(arguments: serverArguments + extra, environment: environment, stderrPath: log)
    }

    /// The OpenShift audit fixture (100 events) and the CRI-O fixture (6 lines, one P+F pair).
    static func fixtureBatch(node: String = "cp-1", auditCopy: Int = 0, auditLimit: Int = 100) throws -> WireBatchEncoder {
        var encoder = WireBatchEncoder(node: node, cluster: "test")
        let audit = WireFormat.Source(kind: .auditLine, path: "/var/log/kube-apiserver/audit.log", identity: "2049:100:copy\(auditCopy)")
        var offset: UInt64 = 0
        for line in try Fixtures.data("audit/openshift/clo_vrl_audit_in_k8s1.25_100events.log").split(separator: 0x0A).prefix(auditLimit) {
            var bytes = Array(line)
            if auditCopy > 0 {
                bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\"auditID\":\"", with: "\"auditID\":\"c\(auditCopy)-").utf8)
            }
            encoder.append(audit, offset: offset, bytes: bytes)
            offset += UInt64(bytes.count + 1)
        }
        let cri = WireFormat.Source(kind: .containerLogLine, path: "/var/log/pods/default_web-1_uid-77/app/0.log", identity: "2049:200:\(auditCopy)")
        let lines = try Fixtures.data("container-logs/otel_examples_crio_0.log").split(separator: 0x0A).map(Array.init)
        var criOffset: UInt64 = 0
        var i = 0
        while i < lines.count {
            var record = lines[i]
            if i == 2 { record += [0x0A] + lines[3]; i += 1 }  // the P line travels with its F
            encoder.append(cri, offset: criOffset, bytes: record)
            criOffset += UInt64(record.count + 1)
            i += 1
        }
        return encoder
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String { try dir.write(name, Data(bytes)) }

    func ingest(_ server: ServerProcess, file: String, token: String? = nil, encoding: String? = "deflate") throws -> Curl.Reply {
        try ingest(server.baseURL, file: file, token: token, encoding: encoding)
    }

    func ingest(_ baseURL: String, file: String, token: String? = nil, encoding: String? = "deflate") throws -> Curl.Reply {
        var headers = ["Authorization": "Bearer \(token ?? ingestToken)", "Content-Type": "application/octet-stream"]
        if let encoding { headers["Content-Encoding"] = encoding }
        return try Curl.request(baseURL + "/v1/ingest", headers: headers, bodyFile: file)
    }

    func count(_ sql: String) throws -> Int {
        let r = try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", sql])
        return Int(r.stdout.split(separator: "\n").dropFirst().first ?? "") ?? -1
    }

    /// Whether continuous detection has evaluated every chain entry of `cluster` within
    /// `seconds`: it runs on its own thread after the commit, so what reads
    /// `kubernetes_detections` right after an ingest waits for this first.
    func detectionCaughtUp(cluster: String = "test", seconds: Double = 30) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            let last = try count("SELECT max(seq) FROM kubetrail_audit_chain WHERE cluster = '\(cluster)'")
            let cursor = try count("SELECT CAST(value AS INTEGER) FROM kubetrail_cursors WHERE name = 'detection:\(cluster)'")
            if last > 0 && cursor == last { return true }
            Thread.sleep(forTimeInterval: 0.2)
        } while Date() < deadline
        return false
    }
}
