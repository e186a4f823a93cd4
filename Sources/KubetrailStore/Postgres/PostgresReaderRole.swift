/// The role people and dashboards query as: it can read kubetrail's tables and nothing else,
/// and its sessions are read-only and time-limited by the database itself.
public struct PostgresReaderRole: Sendable {
    public var name: String
    /// Nil leaves a role that exists with its password (or makes one that cannot log in).
    public var password: String?
    public var statementTimeoutSeconds: Int

    public init(name: String, password: String?, statementTimeoutSeconds: Int = 60) {
        self.name = name
        self.password = password
        self.statementTimeoutSeconds = statementTimeoutSeconds
    }

    /// Creates (or updates) the role and grants it SELECT on every kubetrail table, now and
    /// later (day partitions are made as rows arrive). Needs a role that may create roles.
    func apply(on c: PostgresConnection, owner: String) throws {
        let exists = try c.execute("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]).rows.isEmpty == false
        // Identifiers and literals quoted by the server's format(), never spliced in here.
        func run(_ template: String, _ arguments: [String]) throws {
            let sql = try c.execute("SELECT format($1, " + arguments.indices.map { "$\($0 + 2)::text" }.joined(separator: ", ") + ")", [template] + arguments)
            guard let statement = sql.rows.first?.first ?? nil else { throw StoreError.sql("could not build: \(template)") }
            try c.execute(statement)
        }
        if !exists {
            try run(password == nil ? "CREATE ROLE %I NOLOGIN" : "CREATE ROLE %I LOGIN PASSWORD %L", [name] + (password.map { [$0] } ?? []))
        } else if let password {
            try run("ALTER ROLE %I LOGIN PASSWORD %L", [name, password])
        }
        let database = try c.execute("SELECT current_database()").rows[0][0] ?? ""
        try run("GRANT CONNECT ON DATABASE %I TO %I", [database, name])
        try run("GRANT USAGE ON SCHEMA %I TO %I", [try c.execute("SELECT current_schema()").rows[0][0] ?? "public", name])
        try run("GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I", [try c.execute("SELECT current_schema()").rows[0][0] ?? "public", name])
        try run(
            "ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I",
            [owner, try c.execute("SELECT current_schema()").rows[0][0] ?? "public", name])
        try run("ALTER ROLE %I SET default_transaction_read_only = on", [name])
        try run("ALTER ROLE %I SET statement_timeout = %L", [name, "\(statementTimeoutSeconds)s"])
    }
}

extension StoreLocation {
    /// `kubetrail grant-reader`: makes `role` on this PostgreSQL store (migrated first, so
    /// every table exists to be granted).
    public func grantReader(_ role: PostgresReaderRole) throws {
        guard case .postgres(let url, let password) = self else {
            throw Invalid(description: "a reader role is a PostgreSQL thing; a SQLite store is read-only to whoever may only read its file")
        }
        let store = try PostgresStore(url: url, password: password)
        let c = try store.connect()
        let owner = try c.execute("SELECT current_user").rows[0][0] ?? ""
        do { try role.apply(on: c, owner: owner) } catch let f as PostgresConnection.Failure {
            throw StoreError.sql("cannot make the reader role \(role.name): \(f.message)")
        }
    }
}
