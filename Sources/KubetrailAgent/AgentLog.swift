import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// One line per event on stderr: `time level message key=value…`. Tokens never reach it.
public enum AgentLog {
    public enum Level: String, Sendable { case debug, info, warning, error }

    nonisolated(unsafe) public static var quiet = false
    private static let monitor = Monitor()

    public static func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { emit(.info, message, fields) }
    public static func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { emit(.warning, message, fields) }
    public static func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { emit(.error, message, fields) }

    static func emit(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, String>) {
        if quiet && level != .error { return }
        var line = Timestamp.now.description + " " + level.rawValue + " " + message
        for (k, v) in fields {
            line += " " + k + "=" + (v.contains(" ") || v.isEmpty ? "\"" + v + "\"" : v)
        }
        line += "\n"
        monitor.locked {
            _ = line.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
        }
    }
}
