import Foundation

/// A restartable child process of the end-to-end run (an agent, the aggregator), its output
/// appended to one log file across restarts.
final class ManagedProcess: @unchecked Sendable {
    let name: String
    let executable: String
    let arguments: () -> [String]
    let logPath: String
    private(set) var process: Process?
    private(set) var starts = 0

    init(name: String, executable: String, logPath: String, arguments: @escaping () -> [String]) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
    }

    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments()
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try log.seekToEnd()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        process = p
        starts += 1
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// SIGKILL: the crash path, nothing flushed. False when there was nothing running to kill.
    @discardableResult
    func crash() -> Bool {
        guard let p = process, p.isRunning else { return false }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return true
    }

    /// SIGTERM and wait: the graceful path.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
    }
}

/// Runs `kubetrail query` on the aggregator's database and returns the CSV rows.
func e2eQuery(_ kubetrail: String, db: String, _ sql: String) -> [[String]] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: kubetrail)
    p.arguments = ["query", "--db", db, "--output", "csv", sql]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return [] }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return [] }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst().map {
        $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }
}

/// Runs `kubetrail` with `arguments`; its exit status and what it printed (both streams).
func e2eRun(_ kubetrail: String, _ arguments: [String]) -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: kubetrail)
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    guard (try? p.run()) != nil else { return (-1, "cannot run \(kubetrail)") }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A TCP port free right now on 127.0.0.1, for a server that must keep it across restarts.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw E2EError("cannot bind a loopback port") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

struct E2EError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs a shell command with its output discarded; its exit status (-1 when it cannot start).
@discardableResult
func e2eShell(_ command: String) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
