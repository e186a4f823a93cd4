import Foundation

/// Starts a Python test server that prints its port on the first line of its output.
public enum PythonServer {
    public static func start(_ process: Process, arguments: [String], environment: [String: String] = [:]) throws -> Int {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", unblockingSignals] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ServerError("\(arguments.first ?? "python") did not start")
        }
        return port
    }

    /// Runs `python3 ARGS…` (a script path or `-c CODE`) with no signal blocked. The test
    /// process's threads block SIGTERM, a child inherits that mask, and a server that cannot
    /// get SIGTERM outlives its test (and every later run's).
    static let unblockingSignals = """
        import os, runpy, signal, sys
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        args = sys.argv[1:]
        if args[0] == "-c":
            sys.argv = ["-c"] + args[2:]
            exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = args
            sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
            runpy.run_path(args[0], run_name="__main__")
        """
}
