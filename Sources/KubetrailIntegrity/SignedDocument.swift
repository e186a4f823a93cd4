import Crypto
import Foundation

/// An Ed25519 signature carried inside the JSON document it signs.
public struct DocumentSignature: Codable, Equatable, Sendable {
    public var algorithm = "ed25519"
    public var publicKey: String
    public var value: String

    enum CodingKeys: String, CodingKey {
        case algorithm, value
        case publicKey = "public_key"
    }
}

/// What checking a document's signature found.
public enum SignatureCheck: Equatable, Sendable {
    case valid
    case missing
    case otherAlgorithm(String)
    /// Made with another key than the one the checker trusts.
    case otherKey
    /// The document is not the one that was signed.
    case mismatch
}

/// A JSON document signed over its own encoding without the signature, keys sorted: export
/// manifests and audit digests.
public protocol SignedDocument: Encodable {
    var signature: DocumentSignature? { get set }
}

extension SignedDocument {
    /// The bytes the signature covers.
    public func signedBytes() throws -> Data {
        var unsigned = self
        unsigned.signature = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(unsigned)
    }

    public mutating func sign(with key: Curve25519.Signing.PrivateKey) throws {
        signature = DocumentSignature(
            publicKey: key.publicKey.rawRepresentation.base64EncodedString(),
            value: try key.signature(for: signedBytes()).base64EncodedString())
    }

    /// Checks the signature against `trusted`, or, without one, against the key it names
    /// (which only shows the document is unchanged since someone signed it).
    public func checkSignature(trusted: Curve25519.Signing.PublicKey?) -> SignatureCheck {
        guard let s = signature else { return .missing }
        guard s.algorithm == "ed25519" else { return .otherAlgorithm(s.algorithm) }
        guard let raw = Data(base64Encoded: s.publicKey), let named = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return .mismatch }
        if let trusted, trusted.rawRepresentation != named.rawRepresentation { return .otherKey }
        guard let value = Data(base64Encoded: s.value), let bytes = try? signedBytes(), named.isValidSignature(value, for: bytes) else { return .mismatch }
        return .valid
    }
}
