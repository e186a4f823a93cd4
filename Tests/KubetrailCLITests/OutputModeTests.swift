import Foundation
import Testing
import TestSupport

/// Exports, their manifests and reports hold audit rows: under the usual umask (022) they must
/// still come out readable by their owner only (files 0600, directories the export made 0700).
@Suite struct OutputModeTests {
    /// `kubetrail` with umask 022, whatever the test runner's is.
    static func kubetrail(_ arguments: [String]) throws -> ProcessResult {
        try Subprocess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "umask 022 && exec \"$0\" \"$@\"", Subprocess.productURL("kubetrail").path] + arguments)
    }

    static func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    /// Every file and directory below `directory`, relative, with its permission bits.
    static func modes(below directory: String) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: directory) {
            out[name] = try mode(directory + "/" + name)
        }
        return out
    }

    @Test func exportFilesManifestsAndReportsAreCreatedPrivate() throws {
        let dir = try TemporaryDirectory()
        let db = dir.path("kt.db")
        #expect(try Self.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", db]).status == 0)
        #expect(try Self.kubetrail(["keygen", "--out", dir.path("key")]).status == 0)
        let exports: [String: [String]] = [
            "csv": ["--format", "csv", "--max-file-bytes", "8192"],
            "jsonl": ["--format", "jsonl"],
            "parquet": ["--format", "parquet"],
            "tailpipe": ["--format", "parquet", "--layout", "tailpipe"]
        ]
        for (name, options) in exports.sorted(by: { $0.key < $1.key }) {
            let out = dir.path("exports/\(name)")
            let r = try Self.kubetrail(["export", "--db", db, "--table", "kubernetes_audit_logs", "--out", out, "--signing-key", dir.path("key")] + options)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try Self.mode(out) == 0o700, "\(name): the export directory")
            let modes = try Self.modes(below: out)
            #expect(modes["manifest.json"] == 0o600, "\(name)")
            #expect(modes.count > 1)
            for (path, mode) in modes {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: out + "/" + path, isDirectory: &isDirectory)
                #expect(mode == (isDirectory.boolValue ? 0o700 : 0o600), "\(name)/\(path) is \(String(mode, radix: 8))")
            }
        }
        for report in ["report.md", "report.html"] {
            let path = dir.path(report)
            // Over an existing world-readable file too: the new one does not inherit its mode.
            try "old".write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, 0o644)
            let r = try Self.kubetrail(["report", "--db", db, "--from", "2000-01-01T00:00:00Z", "--out", path])
            #expect(r.status == 0, "\(r.stderr)")
            let mode = try Self.mode(path)
            #expect(mode == 0o600, "\(report) is \(String(mode, radix: 8))")
        }
    }
}
