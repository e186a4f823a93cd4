import KubetrailCore

/// What the event and resource normalizers read from an API object. Two readers provide it:
/// `KubeObject` (a Foundation-decoded object, for imports of saved API output) and
/// `ScannedKubeObject` (the bytes as received, read with the byte scanner, for the pollers,
/// where Foundation's decoding cost most of the time).
public protocol KubeFields {
    var kind: String? { get }
    var apiVersion: String? { get }
    func string(_ path: String...) -> String?
    func int(_ path: String...) -> Int64?
    func timestamp(_ path: String...) throws(Rejection) -> Timestamp?
    /// Present and not null.
    func has(_ path: String...) -> Bool
    /// The JSON text of a sub-value, nil when absent or null.
    func jsonText(_ path: String...) -> String?
    /// The JSON text of an object sub-value without one member.
    func jsonText(_ path: [String], without key: String) -> String?
    /// The member names of an object sub-value.
    func keys(_ path: String...) -> [String]
    /// The string-valued members of an object sub-value.
    func stringMembers(_ path: String...) -> [(key: String, value: String)]
    /// The sum of `key` over the objects of an array sub-value, nil when there is no array.
    func sum(_ key: String, overArray path: String...) -> Int64?
}

extension KubeFields {
    public var uid: String? { string("metadata", "uid") }
    public var name: String? { string("metadata", "name") }
    public var namespace: String? { string("metadata", "namespace") }
    public var resourceVersion: String? { string("metadata", "resourceVersion") }
}
