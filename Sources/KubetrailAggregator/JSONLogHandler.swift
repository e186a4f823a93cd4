import KubetrailCore
import Foundation
import KubetrailTables
import Logging

/// One JSON object per log line on stderr (`--log-format json`), for log pipelines.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [("ts", Timestamp.now.iso8601), ("level", event.level.rawValue), ("logger", label), ("msg", event.message.description)]
        if let error = event.error { fields.append(("error", "\(error)")) }
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            fields.append((k, v.description))
        }
        FileHandle.standardError.write(Data((JSONText.object(fields) + "\n").utf8))
    }
}
