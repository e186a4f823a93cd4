/// The SQL engine behind a store: what SQL written for it may use beyond the common core.
public enum SQLEngine: String, Sendable, CaseIterable {
    case sqlite
    case postgres

    /// The name of the HTTP header `/v1/query` names its store's engine in, so a client that
    /// writes engine-specific SQL (`kubetrail detect --server`) knows which to write.
    public static let header = "Kubetrail-SQL-Engine"
}
