import Foundation

/// A real `kubetrail-agent` process; its stderr goes to a file the tests read.
public final class AgentProcess: @unchecked Sendable {
    public let process = Process()
    public let logPath: String
    public private(set) var metricsPort = 0

    public init(arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.logPath = logPath
        process.executableURL = Subprocess.productURL("kubetrail-agent")
        process.arguments = arguments + ["--metrics-listen", "127.0.0.1:0"]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        // The log is shared with earlier runs of the agent: only what this one writes counts.
        let earlier = (try? FileManager.default.attributesOfItem(atPath: logPath)[.size] as? Int) ?? 0
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = handle
        try process.runUnblocked()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let mine = String(decoding: Data(log.utf8).dropFirst(earlier), as: UTF8.self)
            if let r = mine.range(of: "metrics listening address=127.0.0.1:0 port="),
                let port = Int(mine[r.upperBound...].prefix(while: \.isNumber))
            {
                metricsPort = port
                return
            }
            if !process.isRunning { throw ServerError("agent exited with \(process.terminationStatus): \(log)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ServerError("agent did not start: \(log)")
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The value of one unlabelled metric.
    public func metric(_ name: String) -> Double? {
        guard let reply = try? Curl.request("http://127.0.0.1:\(metricsPort)/metrics", method: "GET") else { return nil }
        for line in reply.body.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// SIGTERM and wait: the graceful path. Returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL: the crash path.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    public func pause() { Foundation.kill(process.processIdentifier, SIGSTOP) }
    public func resume() { Foundation.kill(process.processIdentifier, SIGCONT) }

    deinit { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }
}
