import Foundation
import KubetrailExport
import KubetrailIntegrity
import Testing
import TestSupport

/// `verify-export` on an export whose manifest names files outside it, devices and FIFOs. The
/// manifest is the attacker's text until its signature holds: nothing it names is read before
/// that, and even a validly signed one cannot point the verifier outside the directory or at
/// something that is not a regular file. Every run is under a kill timer: the old verifier
/// blocked on the FIFO or read /dev/zero forever.
@Suite struct HostileManifestTests {
    struct Lab {
        let dir: TemporaryDirectory
        var export: String { dir.path("export") }

        init() throws {
            dir = try TemporaryDirectory()
            let db = dir.path("kt.db")
            #expect(try Subprocess.kubetrail(["import", "audit", Fixtures.url("audit/audit2rbac_demo.log").path, "--db", db]).status == 0)
            #expect(try Subprocess.kubetrail(["keygen", "--out", dir.path("key")]).status == 0)
            #expect(try Subprocess.kubetrail(["keygen", "--out", dir.path("other")]).status == 0)
            let r = try Subprocess.kubetrail(["export", "--db", db, "--table", "kubernetes_audit_logs", "--out", export, "--signing-key", dir.path("key")])
            guard r.status == 0 else { throw ServerError(r.stderr) }
            // A FIFO next to the export: opening it for reading blocks until a writer comes.
            guard mkfifo(dir.path("outside"), 0o600) == 0 else { throw ServerError("mkfifo: \(errno)") }
        }

        /// Rewrites the manifest to list `names` (each 1 byte, 1 row), signed with `key` or not.
        func forgeManifest(naming names: [String], signedWith key: String?) throws {
            let path = export + "/manifest.json"
            var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
            object["files"] = names.map { ["name": $0, "bytes": 1, "rows": 1, "sha256": String(repeating: "0", count: 64)] }
            object["row_count"] = names.count
            object.removeValue(forKey: "signature")
            var manifest = try JSONDecoder().decode(ExportManifest.self, from: JSONSerialization.data(withJSONObject: object))
            if let key { try manifest.sign(with: SigningKey.loadPrivate(dir.path(key))) }
            try FileManager.default.removeItem(atPath: path)
            try manifest.encoded().write(to: URL(fileURLWithPath: path))
        }

        func verify(keyed: Bool = true) throws -> ProcessResult {
            try kubetrailOrKilled(["verify-export", export] + (keyed ? ["--public-key", dir.path("key.pub")] : []))
        }
    }

    @Test(arguments: [nil, "other"])
    func anUntrustedManifestIsRefusedBeforeAnyFileItNamesIsOpened(signer: String?) throws {
        let lab = try Lab()
        try lab.forgeManifest(naming: ["/dev/zero", "../outside"], signedWith: signer)
        let r = try lab.verify()
        #expect(r.status != stoppedByTimeout, "verify-export hung on a file the manifest named")
        #expect(r.status == 1)
        #expect(r.stderr.contains(signer == nil ? "the manifest is not signed" : "signed with another key"), "\(r.stderr)")
        #expect(r.stderr.contains("no file of the export was read"), "\(r.stderr)")
        #expect(!r.stderr.contains("/dev/zero") && !r.stderr.contains("outside"), "\(r.stderr)")
    }

    /// Signed by the trusted key, or unsigned and checked without a key (`verify-export` with
    /// no `--public-key` opens the files an untrusted manifest names, inside the export only).
    @Test(arguments: [true, false]) func aManifestCannotNameAFileOutsideTheExportOrASpecialFile(keyed: Bool) throws {
        let lab = try Lab()
        guard mkfifo(lab.export + "/inside.csv", 0o600) == 0 else { throw ServerError("mkfifo: \(errno)") }
        try "not exported\n".write(toFile: lab.dir.path("secret.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: lab.export + "/link.csv", withDestinationPath: lab.dir.path("secret.txt"))
        try FileManager.default.createSymbolicLink(atPath: lab.export + "/up", withDestinationPath: lab.dir.url.path)
        try FileManager.default.createSymbolicLink(atPath: lab.export + "/zero.csv", withDestinationPath: "/dev/zero")
        try lab.forgeManifest(
            naming: ["/dev/zero", "../outside", "a/../../outside", "inside.csv", "link.csv", "up/secret.txt", "zero.csv"],
            signedWith: keyed ? "key" : nil)
        let r = try lab.verify(keyed: keyed)
        #expect(r.status != stoppedByTimeout, "verify-export hung on a file the manifest named")
        #expect(r.status == 1)
        for expected in [
            "/dev/zero is refused: an absolute path",
            "../outside is refused: a path with '..'",
            "a/../../outside is refused: a path with '..'",
            "inside.csv is refused: it is a FIFO, not a regular file",
            "link.csv is refused: it is a symbolic link",
            "up/secret.txt is refused: it resolves outside the export directory",
            "zero.csv is refused: it is a symbolic link"
        ] {
            #expect(r.stderr.contains(expected), "\(expected) — in: \(r.stderr)")
        }
    }

    @Test func aManifestThatIsAFIFOIsRefused() throws {
        let lab = try Lab()
        try FileManager.default.removeItem(atPath: lab.export + "/manifest.json")
        guard mkfifo(lab.export + "/manifest.json", 0o600) == 0 else { throw ServerError("mkfifo: \(errno)") }
        let r = try lab.verify()
        #expect(r.status != stoppedByTimeout, "verify-export hung opening its manifest")
        #expect(r.status == 1 && r.stderr.contains("manifest.json is refused: it is a FIFO, not a regular file"), "\(r.stderr)")
    }
}
