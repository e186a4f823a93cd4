import Foundation

/// DuckDB (from PyPI, in a cached virtualenv beside the deployment-check tools) as the
/// independent reader of the Parquet files kubetrail writes.
public enum DuckDB {
    public static var venv: String {
        let env = ProcessInfo.processInfo.environment
        if let v = env["KUBETRAIL_TOOLS_VENV"] { return v }
        let cache = env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")
        return cache + "/kubetrail-tools"
    }

    /// The virtualenv's python with `duckdb` importable, installing it the first time.
    public static let python: Result<URL, ServerError> = {
        let python = URL(fileURLWithPath: venv + "/bin/python")
        do {
            if FileManager.default.isExecutableFile(atPath: python.path),
                try Subprocess.run(python, ["-c", "import duckdb"]).status == 0
            {
                return .success(python)
            }
            if !FileManager.default.isExecutableFile(atPath: python.path) {
                let made = try Subprocess.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-m", "venv", venv])
                guard made.status == 0 else { return .failure(ServerError("python3 -m venv \(venv): \(made.stderr)")) }
            }
            let pip = try Subprocess.run(URL(fileURLWithPath: venv + "/bin/pip"), ["install", "--quiet", "duckdb"])
            guard pip.status == 0 else { return .failure(ServerError("pip install duckdb: \(pip.stderr)")) }
            return .success(python)
        } catch {
            return .failure(ServerError("\(error)"))
        }
    }()

    /// Runs a Python script (DuckDB importable) and returns what it printed as JSON.
    public static func json(_ script: String, _ args: [String] = []) throws -> Any {
        let python = try python.get()
        let r = try Subprocess.run(python, ["-c", script] + args)
        guard r.status == 0 else { throw ServerError(r.stderr) }
        return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8), options: [.fragmentsAllowed])
    }

    /// Runs a Python script and returns its result, failing or not.
    public static func run(_ script: String, _ args: [String] = []) throws -> ProcessResult {
        try Subprocess.run(try python.get(), ["-c", script] + args)
    }
}
