import Crypto
import Foundation
import KubetrailCore
import KubetrailIntegrity

/// `kubetrail verify-export`: checks an export directory against its manifest and the
/// exporter's public key, and says exactly what is wrong — a file changed, missing, added, or
/// a manifest that is not the one signed.
public enum ExportVerifier {
    /// A manifest lists a few hundred files at most; anything near this is not one.
    static let maxManifestBytes = 16 << 20

    /// What is wrong with the export in `directory`. Without `publicKey` the files are checked
    /// against the manifest as it stands: that finds damage and a partial copy, not a forgery
    /// (whoever changed a file could have rewritten the manifest too).
    public static func problems(in directory: String, publicKey: Curve25519.Signing.PublicKey?) -> [String] {
        var data = Data()
        do {
            try ContainedFile(directory: directory, name: "manifest.json").read(limit: maxManifestBytes) { data.append(contentsOf: $0) }
        } catch let refusal as ContainedFile.Refusal {
            return [refusal.missing ? "\(directory)/manifest.json is missing" : "\(directory): \(refusal.description)"]
        } catch {
            return ["\(directory)/manifest.json: \(error)"]
        }
        let manifest: ExportManifest
        do { manifest = try JSONDecoder().decode(ExportManifest.self, from: data) } catch {
            return ["\(directory)/manifest.json is not a kubetrail export manifest: \(error)"]
        }
        // Until the signature holds, the file names are the words of whoever handed over the
        // export: none of them is opened. (Unsigned, they are opened only inside `directory`.)
        if let publicKey, let signature = signatureProblem(manifest, publicKey) {
            return [signature, "no file of the export was read: its manifest is not trusted"] + rowCountProblems(manifest)
        }
        var problems: [String] = []
        let listed = Set(manifest.files.map(\.name))
        for file in manifest.files {
            do {
                let contents = try ContainedFile(directory: directory, name: file.name)
                var hash = SHA256()
                var size = 0
                try contents.read { chunk in
                    hash.update(bufferPointer: chunk)
                    size += chunk.count
                }
                let digest = Hex.encode(hash.finalize())
                if size != file.bytes { problems.append("\(file.name) has \(size) bytes, the manifest says \(file.bytes)") }
                if digest != file.sha256 { problems.append("\(file.name) was changed: its SHA-256 is \(digest), the manifest says \(file.sha256)") }
            } catch {
                problems.append("\(error)")
            }
        }
        for name in filesBelow(directory) where name != "manifest.json" && !listed.contains(name) {
            problems.append("\(name) is not part of the export")
        }
        return problems + rowCountProblems(manifest)
    }

    static func signatureProblem(_ manifest: ExportManifest, _ publicKey: Curve25519.Signing.PublicKey) -> String? {
        switch manifest.checkSignature(trusted: publicKey) {
        case .valid: return nil
        case .missing: return "the manifest is not signed"
        case .otherAlgorithm(let a): return "the manifest's signature algorithm is \(a), not ed25519"
        case .otherKey: return "the manifest was signed with another key than the one given"
        case .mismatch: return "the manifest's signature does not match its contents: the manifest was changed after signing"
        }
    }

    static func rowCountProblems(_ manifest: ExportManifest) -> [String] {
        let rows = manifest.files.reduce(0) { $0 + $1.rows }
        return rows == manifest.rowCount ? [] : ["the files hold \(rows) rows, the manifest says \(manifest.rowCount)"]
    }

    /// Every regular file under `directory`, as paths relative to it (the Tailpipe layout nests).
    static func filesBelow(_ directory: String) -> [String] {
        guard let walk = FileManager.default.enumerator(atPath: directory) else { return [] }
        var names: [String] = []
        while let name = walk.nextObject() as? String {
            if walk.fileAttributes?[.type] as? FileAttributeType != .typeDirectory { names.append(name) }
        }
        return names.sorted()
    }
}
