import Foundation

/// `kubetrail tail` or `kubetrail logs -f` running in the background, its output appended to a
/// file a test reads while it runs (a follow never ends on its own).
public final class FollowerProcess: @unchecked Sendable {
    public let process = Process()
    public let outPath: String
    public let errPath: String

    /// `append`: a restarted follower adds to what its previous run printed.
    public init(_ arguments: [String], out outPath: String, append: Bool = false) throws {
        self.outPath = outPath
        errPath = outPath + ".err"
        if !append || !FileManager.default.fileExists(atPath: outPath) { _ = FileManager.default.createFile(atPath: outPath, contents: nil) }
        if !FileManager.default.fileExists(atPath: errPath) { _ = FileManager.default.createFile(atPath: errPath, contents: nil) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        out.seekToEndOfFile()
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        err.seekToEndOfFile()
        process.executableURL = Subprocess.productURL("kubetrail")
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        try process.runUnblocked()
    }

    public var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    public var errors: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }
    /// Non-empty output lines.
    public var lines: [Substring] { output.split(separator: "\n") }

    /// Waits until `condition` holds on the output lines (checking every 100 ms) or the time is up.
    @discardableResult
    public func waitFor(_ seconds: Double = 30, _ condition: ([Substring]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(lines) { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return condition(lines)
    }

    public func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    /// SIGKILL, then waits for the process to be gone.
    public func kill9() {
        guard process.isRunning else { return }
        signal(SIGKILL)
        process.waitUntilExit()
    }

    public func stop() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        process.waitUntilExit()
    }

    deinit { kill9() }
}
