import KubetrailCore

/// The query of `GET /api/v1/namespaces/{ns}/pods/{name}/log`, spelled as kubectl spells it
/// (parameters sorted, `sinceTime` at second precision, which is all the kubelet honours).
public struct PodLogOptions: Sendable, Equatable {
    public var container: String?
    public var follow = false
    public var timestamps = false
    public var previous = false
    public var sinceTime: Timestamp?
    public var sinceSeconds: Int?
    public var tailLines: Int?
    public var limitBytes: Int?

    public init(container: String? = nil, follow: Bool = false, timestamps: Bool = false, sinceTime: Timestamp? = nil) {
        self.container = container
        self.follow = follow
        self.timestamps = timestamps
        self.sinceTime = sinceTime
    }

    public func path(namespace: String, pod: String) -> String {
        var query: [(String, String)] = []
        if let container { query.append(("container", container)) }
        if follow { query.append(("follow", "true")) }
        if let limitBytes { query.append(("limitBytes", String(limitBytes))) }
        if previous { query.append(("previous", "true")) }
        if let sinceSeconds {
            query.append(("sinceSeconds", String(sinceSeconds)))
        } else if let sinceTime {
            query.append(("sinceTime", Self.secondPrecision(sinceTime)))
        }
        if let tailLines { query.append(("tailLines", String(tailLines))) }
        if timestamps { query.append(("timestamps", "true")) }
        return "/api/v1/namespaces/\(namespace)/pods/\(pod)/log" + Reflector.encode(query)
    }

    /// `2026-11-27T10:00:01Z`: the instant's second, rounded down, so nothing after it is skipped.
    static func secondPrecision(_ t: Timestamp) -> String {
        let seconds = t.microseconds >= 0 ? t.microseconds / 1_000_000 : (t.microseconds - 999_999) / 1_000_000
        return String(Timestamp(seconds: seconds).iso8601.prefix(19)) + "Z"
    }
}
