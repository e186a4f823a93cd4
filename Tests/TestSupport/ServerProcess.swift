import Foundation

/// A real `kubetrail aggregator` process on 127.0.0.1 with a free port.
public final class ServerProcess: @unchecked Sendable {
    public let process = Process()
    public private(set) var port = 0
    public private(set) var scheme = "http"
    private let output = Pipe()
    private let lock = NSLock()
    private var stdoutText = ""

    /// `stderrPath`: a file the aggregator's log goes to (else it is discarded).
    public init(arguments: [String], environment: [String: String] = [:], listen: String = "127.0.0.1:0", stderrPath: String? = nil) throws {
        process.executableURL = Subprocess.productURL("kubetrail")
        process.arguments = ["aggregator", "--listen", listen] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = output
        if let stderrPath {
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: stderrPath)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.runUnblocked()
        let handle = output.fileHandleForReading
        Thread {
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                self.lock.lock()
                self.stdoutText += String(decoding: data, as: UTF8.self)
                self.lock.unlock()
            }
        }.start()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            lock.lock()
            let text = stdoutText
            lock.unlock()
            for scheme in ["http", "https"] {
                if let range = text.range(of: "listening on \(scheme)://127.0.0.1:"),
                    let p = Int(text[range.upperBound...].prefix(while: \.isNumber))
                {
                    port = p
                    self.scheme = scheme
                    return
                }
            }
            if !process.isRunning { throw ServerError("aggregator exited with \(process.terminationStatus): \(text)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.terminate()
        throw ServerError("aggregator did not start listening")
    }

    public var baseURL: String { "\(scheme)://127.0.0.1:\(port)" }

    /// SIGTERM and wait: the graceful path.
    public func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// SIGKILL: the crash path.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }
}

public struct ServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// curl(1) as the HTTP client: what operators use, and independent of our code.
public enum Curl {
    public struct Reply {
        public var status: Int
        public var body: String
        public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    public static func request(
        _ url: String, method: String = "POST", headers: [String: String] = [:], bodyFile: String? = nil, body: Data? = nil, extra: [String] = []
    ) throws -> Reply {
        var args = ["-s", "-S", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "60", "-H", "Expect:"] + extra
        for (k, v) in headers { args += ["-H", "\(k): \(v)"] }
        if let bodyFile { args += ["--data-binary", "@\(bodyFile)"] }
        if body != nil { args += ["--data-binary", "@-"] }
        args.append(url)
        let r = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/curl"), args, stdin: body)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? -1
        return Reply(status: status, body: lines.dropLast().joined(separator: "\n"))
    }
}
