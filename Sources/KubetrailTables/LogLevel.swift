/// The severity a container log line declares, on the six-step scale most
/// logging libraries share; finer schemes (syslog, Cloud Logging) fold into it.
public enum LogLevel: String, Sendable, CaseIterable, Codable {
    case trace = "TRACE", debug = "DEBUG", info = "INFO", warn = "WARN", error = "ERROR", fatal = "FATAL"
}
