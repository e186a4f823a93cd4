import Crypto
import Foundation

/// Ed25519 keys for export manifests, kept in files as base64 of their raw 32 bytes: the
/// private key with the exporting machine, the public key with whoever checks an export.
public enum SigningKey {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func generate(privatePath: String, publicPath: String) throws {
        let key = Curve25519.Signing.PrivateKey()
        try write(key.rawRepresentation, to: privatePath, mode: 0o600)
        try write(key.publicKey.rawRepresentation, to: publicPath, mode: 0o644)
    }

    public static func loadPrivate(_ path: String) throws -> Curve25519.Signing.PrivateKey {
        do { return try Curve25519.Signing.PrivateKey(rawRepresentation: try read(path)) } catch let f as Failure { throw f } catch {
            throw Failure(description: "\(path) is not an Ed25519 private key (base64 of 32 bytes, as `kubetrail keygen` writes)")
        }
    }

    public static func loadPublic(_ path: String) throws -> Curve25519.Signing.PublicKey {
        do { return try Curve25519.Signing.PublicKey(rawRepresentation: try read(path)) } catch let f as Failure { throw f } catch {
            throw Failure(description: "\(path) is not an Ed25519 public key (base64 of 32 bytes, as `kubetrail keygen` writes)")
        }
    }

    private static func read(_ path: String) throws -> Data {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure(description: "cannot read \(path)") }
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw Failure(description: "\(path) does not hold base64 of 32 bytes")
        }
        return data
    }

    private static func write(_ data: Data, to path: String, mode: mode_t) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((data.base64EncodedString() + "\n").utf8), attributes: [.posixPermissions: mode])
        else {
            throw Failure(description: "cannot write \(path)")
        }
    }
}

/// The public half, for callers that do not import Crypto.
public typealias Curve25519PublicKey = Curve25519.Signing.PublicKey
public typealias Curve25519PrivateKey = Curve25519.Signing.PrivateKey
