import KubetrailDetect

/// The `detection { … }` block: which rules run on every committed audit row, and how often.
public struct DetectionSettings: Sendable {
    public var enabled = true
    /// Sigma rule files or directories run beside (or, with `builtIn` false, instead of) the pack.
    public var ruleDirectories: [String] = []
    public var builtIn = true
    /// Seconds between looks at the audit chain for rows committed since.
    public var interval = 1.0
    /// Where a cluster seen for the first time starts: its chain's head (only rows committed
    /// from now on; history is `kubetrail detect --from`), or its beginning.
    public var fromBeginning = false

    public init() {}
}

/// An `alert "alertmanager" "NAME" { … }` or `alert "webhook" "NAME" { … }` block.
public struct AlertSinkSettings: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// Alertmanager's API: `POST {url}/api/v2/alerts` with its alert objects.
        case alertmanager
        /// Any HTTP endpoint: `POST {url}` with `{"findings": […]}`.
        case webhook
    }

    public var kind: Kind
    public var name: String
    public var url: String
    /// A file whose first line is sent as `Authorization: Bearer …`.
    public var bearerTokenFile: String?
    /// CA bundle (PEM) for an https URL.
    public var caFile: String?
    /// Findings less severe than this are not sent.
    public var minSeverity: Severity = .low
    /// At most this many findings per request: they travel grouped.
    public var batchSize = 100
    /// At most this many findings sent per minute; the rest wait in the table, in order.
    public var maxPerMinute = 600
    /// Seconds one request may take.
    public var timeout = 10.0

    public init(kind: Kind, name: String, url: String) {
        self.kind = kind
        self.name = name
        self.url = url
    }
}
