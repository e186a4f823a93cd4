/// A Sigma rule kubetrail cannot load, or a construct it does not support: always named with
/// the rule's file and line, never skipped and never compiled into a rule that matches nothing.
public struct SigmaError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// The construct, as written in the rule (`base64offset`, `count() > 5`, `timeframe`).
    public var construct: String?
    public var message: String

    public init(file: String, line: Int?, construct: String? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.construct = construct
        self.message = message
    }

    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return construct.map { "\(place): \($0): \(message)" } ?? "\(place): \(message)"
    }
}
