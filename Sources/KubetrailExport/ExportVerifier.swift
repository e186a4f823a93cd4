import Crypto
import Foundation
import KubetrailCore
import KubetrailIntegrity

/// `kubetrail verify-export`: checks an export directory against its manifest and the
/// exporter's public key, and says exactly what is wrong — a file changed, missing, added, or
/// a manifest that is not the one signed.
public enum ExportVerifier {
    public static func problems(in directory: String, publicKey: Curve25519.Signing.PublicKey) -> [String] {
        let path = directory + "/manifest.json"
        guard let data = FileManager.default.contents(atPath: path) else { return ["\(path) is missing"] }
        let manifest: ExportManifest
        do { manifest = try JSONDecoder().decode(ExportManifest.self, from: data) } catch {
            return ["\(path) is not a kubetrail export manifest: \(error)"]
        }
        var problems: [String] = []
        switch manifest.checkSignature(trusted: publicKey) {
        case .valid: break
        case .missing: problems.append("the manifest is not signed")
        case .otherAlgorithm(let a): problems.append("the manifest's signature algorithm is \(a), not ed25519")
        case .otherKey: problems.append("the manifest was signed with another key than the one given")
        case .mismatch: problems.append("the manifest's signature does not match its contents: the manifest was changed after signing")
        }
        let listed = Set(manifest.files.map(\.name))
        for file in manifest.files {
            let filePath = directory + "/" + file.name
            guard let handle = FileHandle(forReadingAtPath: filePath) else {
                problems.append("\(file.name) is missing")
                continue
            }
            var hash = SHA256()
            var size = 0
            while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hash.update(data: chunk)
                size += chunk.count
            }
            try? handle.close()
            let digest = Hex.encode(hash.finalize())
            if size != file.bytes { problems.append("\(file.name) has \(size) bytes, the manifest says \(file.bytes)") }
            if digest != file.sha256 { problems.append("\(file.name) was changed: its SHA-256 is \(digest), the manifest says \(file.sha256)") }
        }
        for name in filesBelow(directory) where name != "manifest.json" && !listed.contains(name) {
            problems.append("\(name) is not part of the export")
        }
        if manifest.files.reduce(0, { $0 + $1.rows }) != manifest.rowCount {
            problems.append("the files hold \(manifest.files.reduce(0) { $0 + $1.rows }) rows, the manifest says \(manifest.rowCount)")
        }
        return problems
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
