#if canImport(Glibc)
import Glibc
#endif

/// Where a component's settings come from, first that has a value wins: the command-line flag,
/// then the environment variable named for the flag (`--max-body-bytes` →
/// `KUBETRAIL_MAX_BODY_BYTES`), then the configuration file, then the built-in default. The
/// agent and the aggregator both resolve every setting through this, so each flag has its
/// variable and a bad value names the place it came from.
public struct SettingLayers: Sendable {
    private let lookup: @Sendable (String) -> String?

    /// An empty variable counts as unset, as a manifest's `value: ""` means.
    public init(environment: [String: String]) {
        lookup = { environment[$0].flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// The process's own environment.
    public static let process = SettingLayers(lookup: { name in
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    })

    private init(lookup: @escaping @Sendable (String) -> String?) { self.lookup = lookup }

    /// `--state-dir` → `KUBETRAIL_STATE_DIR`.
    public static func variable(for flag: String) -> String {
        "KUBETRAIL_" + String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// A variable by its own name (`NODE_NAME` from the downward API, `KUBETRAIL_CONFIG`).
    public func environment(_ name: String) -> String? { lookup(name) }

    /// Text as given: a path, URL or name.
    public func text(_ flag: String, _ given: String?, file: String? = nil, variable: String? = nil) -> String? {
        given ?? lookup(variable ?? Self.variable(for: flag)) ?? file
    }

    /// A value parsed from the flag's or the variable's text, else the file's; nil keeps the default.
    public func value<T>(
        _ flag: String, _ given: String?, file: T?, expected: String, parse: (String) -> T?
    ) throws(SettingError) -> T? {
        if let given {
            guard let v = parse(given) else { throw SettingError("--\(flag) must be \(expected), got \(given)") }
            return v
        }
        let name = Self.variable(for: flag)
        if let text = lookup(name) {
            guard let v = parse(text) else { throw SettingError("\(name) must be \(expected), got \(text)") }
            return v
        }
        return file
    }

    /// A whole number, 0 or more: the flag (already parsed), the variable, the file.
    public func number(_ flag: String, _ given: Int?, file: Int? = nil) throws(SettingError) -> Int? {
        if let given { return given }
        return try number(flag, text: nil, file: file)
    }

    /// A whole number, 0 or more, from the flag's text, the variable or the file.
    public func number(_ flag: String, text given: String?, file: Int? = nil) throws(SettingError) -> Int? {
        try value(flag, given, file: file, expected: "a whole number (0 or more)", parse: { Int($0).flatMap { $0 >= 0 ? $0 : nil } })
    }

    /// A timeout or interval in seconds: a duration (`500ms`, `30s`, `2h`) or a bare number of
    /// seconds; `positive` refuses zero (a timeout of nothing, an interval that spins).
    public func duration(_ flag: String, _ given: String?, file: Double? = nil, positive: Bool = false) throws(SettingError) -> Double? {
        try value(
            flag, given, file: file, expected: "\(positive ? "longer than zero: " : "")seconds or a duration such as 500ms, 30s or 2h",
            parse: { DurationText.setting($0).flatMap { !positive || $0 > 0 ? $0 : nil } })
    }
}

/// A setting whose value cannot be read, naming the flag or variable it came from.
public struct SettingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
