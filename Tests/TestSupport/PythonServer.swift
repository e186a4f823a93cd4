import Foundation

/// Starts a Python test server that prints its port on the first line of its output.
public enum PythonServer {
    public static func start(_ process: Process, arguments: [String], environment: [String: String] = [:]) throws -> Int {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.runUnblocked()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ServerError("\(arguments.first ?? "python") did not start")
        }
        return port
    }
}
