import Foundation
import KubetrailStore
import Testing
import TestSupport

/// `--db` names a store by path or URL; the scheme picks the backend, and nothing outside
/// `KubetrailStore` reaches past the `Store` protocol.
@Suite struct StoreLocationTests {
    @Test func pathsAndSQLiteURLs() throws {
        #expect(try StoreLocation(parsing: "/var/lib/kubetrail/k.db") == .sqlite(path: "/var/lib/kubetrail/k.db"))
        #expect(try StoreLocation(parsing: "k.db") == .sqlite(path: "k.db"))
        #expect(try StoreLocation(parsing: "~/k.db", expandingTilde: { $0.replacingOccurrences(of: "~", with: "/home/a") }) == .sqlite(path: "/home/a/k.db"))
        #expect(try StoreLocation(parsing: "sqlite:///var/lib/k.db") == .sqlite(path: "/var/lib/k.db"))
        #expect(try StoreLocation(parsing: "SQLite:///var/lib/my%20store.db") == .sqlite(path: "/var/lib/my store.db"))
        #expect(try StoreLocation(parsing: "sqlite://data/k.db") == .sqlite(path: "data/k.db"))
        #expect(try StoreLocation(parsing: "file:///tmp/k.db") == .sqlite(path: "/tmp/k.db"))
    }

    @Test func badValuesSayWhatIsAccepted() {
        for bad in ["", "sqlite://", "sqlite:///", "mysql://u@h/db"] {
            #expect(throws: StoreLocation.Invalid.self, "\(bad)") { try StoreLocation(parsing: bad) }
        }
        do {
            _ = try StoreLocation(parsing: "mysql://u@h/db")
            Issue.record("mysql:// was accepted")
        } catch {
            #expect("\(error)".contains("unknown store scheme mysql://") && "\(error)".contains("sqlite:///path or postgres://"), "\(error)")
        }
        // A password in an unknown URL is not repeated.
        do { _ = try StoreLocation(parsing: "mysql://u:secret@h/db") } catch { #expect(!"\(error)".contains("secret"), "\(error)") }
    }

    @Test func postgresURLsAndThePasswordFile() throws {
        let dir = try TemporaryDirectory()
        let url = "postgres://kubetrail@db.internal:5432/kubetrail?sslmode=verify-full"
        #expect(try StoreLocation(parsing: url) == .postgres(url: url, password: nil))
        #expect(try StoreLocation(parsing: "postgresql://u@h/db") == .postgres(url: "postgresql://u@h/db", password: nil))
        #expect(try StoreLocation(parsing: "postgres://u:pw@h/db").description == "postgres://u:****@h/db")
        #expect(
            try StoreLocation(parsing: "postgres://u@h/db?sslmode=require&password=s3cret").description == "postgres://u@h/db?sslmode=require&password=****")
        // libpq quotes a token it cannot parse; a password among them is not repeated.
        do { _ = try PostgresConnection(url: "postgres://u:s3cr%ZZet@127.0.0.1:1/db", connectTimeout: 2) } catch {
            #expect(!"\(error)".contains("s3cr"), "\(error)")
        }
        let file = try dir.write("pw", "s3cret  \nignored\n")
        #expect(try StoreLocation(parsing: url).withPassword(fromFile: file) == .postgres(url: url, password: "s3cret"))
        // Saved with CRLF line ends: the same password, no CR in it.
        let crlf = try dir.write("pw-crlf", "s3cret\r\nignored\r\n")
        #expect(try StoreLocation(parsing: url).withPassword(fromFile: crlf) == .postgres(url: url, password: "s3cret"))
        #expect(throws: StoreLocation.Invalid.self) { try StoreLocation(parsing: "k.db").withPassword(fromFile: file) }
        #expect(throws: StoreLocation.Invalid.self) { try StoreLocation(parsing: url).withPassword(fromFile: dir.path("missing")) }
    }

    /// The CLI opens what the URL names, and refuses an unknown scheme with that message.
    @Test func theCLITakesAURL() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("k.db")
        let imported = try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", "sqlite://" + db, "--no-progress"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let viaPath = try Subprocess.kubetrail(["query", "--db", db, "--output", "csv", "SELECT count(*) AS n FROM kubernetes_audit_logs"])
        let viaURL = try Subprocess.kubetrail(["query", "--db", "sqlite://" + db, "--output", "csv", "SELECT count(*) AS n FROM kubernetes_audit_logs"])
        #expect(viaPath.status == 0 && viaPath.stdout == viaURL.stdout && viaPath.stdout != "n\n0\n", "\(viaPath.stdout) \(viaURL.stdout)")
        let refused = try Subprocess.kubetrail(["query", "--db", "mysql://u@h/db", "SELECT 1"])
        #expect(refused.status == 1 && refused.stderr.contains("unknown store scheme mysql://"), "\(refused.stderr)")
    }

    /// Every target but the store's own holds an `any Store`: no SQLite or GRDB type, and no
    /// SQLite connection opened by hand.
    @Test func onlyTheStoreKnowsItsBackend() throws {
        let sources = Fixtures.repositoryRoot.appendingPathComponent("Sources")
        let forbidden = ["SQLiteStore", "SQLiteTransaction", "ReadOnlyConnection(", "import GRDB", "DatabasePool", "sqlite3_"]
        var found: [String] = []
        let walker = FileManager.default.enumerator(atPath: sources.path)!
        while let relative = walker.nextObject() as? String {
            guard relative.hasSuffix(".swift"), !relative.hasPrefix("KubetrailStore/") else { continue }
            let text = try String(contentsOf: sources.appendingPathComponent(relative), encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for word in forbidden where line.contains(word) { found.append("\(relative):\(n + 1): \(word)") }
            }
        }
        #expect(found.isEmpty, "\(found.joined(separator: "\n"))")
        #expect(FileManager.default.fileExists(atPath: sources.appendingPathComponent("KubetrailStore/Store.swift").path))
    }
}
