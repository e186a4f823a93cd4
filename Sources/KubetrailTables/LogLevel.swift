public enum LogLevel: String, Sendable, CaseIterable, Codable {
    case trace = "TRACE", debug = "DEBUG", info = "INFO", warn = "WARN", error = "ERROR", fatal = "FATAL"
}
