import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailExport
import KubetrailIntegrity
import KubetrailParquet
import KubetrailStore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export one table's rows in a time range to CSV, JSON-lines or Parquet files with a signed manifest.",
        discussion: """
            Files go into --out (a new or empty directory), split at --max-file-bytes, each named \
            TABLE-0001.csv and so on (with --layout tailpipe, Parquet goes into \
            tp_table=…/tp_partition=…/tp_index=…/tp_date=…/ directories), with manifest.json listing the query, the row count, each file's \
            size and SHA-256, and the first and last tp_timestamp. With --signing-key the manifest is \
            signed (Ed25519); `kubetrail verify-export DIR --public-key F` checks it all.
            """)

    @Option(help: "The table.") var table: String
    @Option(help: ArgumentHelp("Rows from this time on: a duration ago (1h) or RFC 3339.", valueName: "WHEN")) var from: String?
    @Option(help: ArgumentHelp("Rows before this time.", valueName: "WHEN")) var to: String?
    @Option(name: .customLong("where"), help: ArgumentHelp("An SQL condition on the table's columns.", valueName: "SQL")) var whereClause: String?
    @Option(help: "Audit rows of this user (user_name).") var user: String?
    @Option(help: "Rows of this namespace.") var namespace: String?
    @Option(help: "Audit rows with these verbs (comma list).") var verb: String?
    @Option(help: "Audit rows on this resource (e.g. secrets).") var resource: String?
    @Option(help: "csv, jsonl or parquet.") var format: String = "csv"
    @Option(help: "Parquet files in one directory (flat) or in Tailpipe's hive partitions (tailpipe).") var layout: String = "flat"
    @Option(help: "Parquet page compression: zstd, gzip or none.") var compression: String = "zstd"
    @Option(help: "The directory to write (created; must be empty).") var out: String
    @Option(help: "Start a new file past this many bytes.") var maxFileBytes: Int = 256 << 20
    @Option(help: "Ed25519 private key file (`kubetrail keygen`) to sign the manifest with.") var signingKey: String?
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Export from an aggregator (http(s)://host:port, GET /v1/export) instead of the local database.") var server: String?
    @Option(help: "File holding a query token, for --server.") var tokenFile: String?
    @Option(help: "CA bundle (PEM) that signed the aggregator's certificate, for --server over https.") var caFile: String?
    @Flag(help: "Never draw the progress line.") var noProgress = false

    func run() throws {
        let now = Timestamp.now
        var options = Exporter.Options(table: table, directory: expandTilde(out))
        do {
            guard let f = ExportFormat(rawValue: format) else {
                throw UserFacingError("--format takes csv, jsonl or parquet, not \(format)")
            }
            options.format = f
            guard let l = ExportLayout(rawValue: layout) else { throw UserFacingError("--layout takes flat or tailpipe, not \(layout)") }
            guard l == .flat || f == .parquet else { throw UserFacingError("--layout \(layout) is for --format parquet") }
            options.layout = l
            guard let c = ParquetCompression(rawValue: compression) else { throw UserFacingError("--compression takes zstd, gzip or none, not \(compression)") }
            options.parquet.compression = c
            options.from = try from.map { try TimeArgument.instant($0, now: now, flag: "--from") }
            options.to = try to.map { try TimeArgument.instant($0, now: now, flag: "--to") }
            guard maxFileBytes >= 1024 else { throw UserFacingError("--max-file-bytes must be at least 1024") }
            options.maxFileBytes = maxFileBytes
            var conditions = whereClause.map { ["(\($0))"] } ?? []
            func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
            if let user { conditions.append("user_name = \(quoted(user))") }
            if let namespace { conditions.append("namespace = \(quoted(namespace))") }
            if let verb {
                conditions.append(
                    "verb IN (" + verb.split(separator: ",").map { quoted($0.trimmingCharacters(in: .whitespaces)) }.joined(separator: ", ") + ")")
            }
            if let resource { conditions.append("resource = \(quoted(resource))") }
            options.whereClause = conditions.isEmpty ? nil : conditions.joined(separator: " AND ")
            if let server {
                guard let tokenFile else { throw UserFacingError("--server needs --token-file (a file holding a query token)") }
                options.remote = RemoteRows(server: server, token: try readToken(tokenFile), caFile: caFile.map(expandTilde))
                warnIfPlainHTTP(server)
            }
        } catch {
            printError("\(error)")
            throw ExitCode(2)
        }
        do {
            let key = try signingKey.map { try SigningKey.loadPrivate(expandTilde($0)) }
            let store = server == nil ? try database.open(.readOnly) : nil
            var exporter = Exporter(store: store, options: options)
            if !noProgress, isatty(2) == 1 {
                exporter.progress = { rows in
                    if rows % 10_000 == 0 { FileHandle.standardError.write(Data("\r\u{1B}[K  exporting: \(rows) rows".utf8)) }
                }
            }
            let manifest = try exporter.run(signingKey: key)
            if exporter.progress != nil { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            let bytes = manifest.files.reduce(0) { $0 + $1.bytes }
            print(
                "Exported \(manifest.rowCount) rows of \(manifest.table)\(server.map { " from \($0)" } ?? "") into \(manifest.files.count) file\(manifest.files.count == 1 ? "" : "s") "
                    + "(\(bytes) bytes) in \(options.directory); manifest.json " + (manifest.signature == nil ? "not signed" : "signed"))
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

struct VerifyExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-export",
        abstract: "Check an export directory against its signed manifest: every file present, unchanged, and nothing added.")

    @Argument(help: "The export directory.") var directory: String
    @Option(help: "The exporter's Ed25519 public key file. Without it every file is checked against the manifest, but not who wrote the manifest.")
    var publicKey: String?

    func run() throws {
        var key: Curve25519PublicKey?
        if let publicKey {
            do { key = try SigningKey.loadPublic(expandTilde(publicKey)) } catch { printError("\(error)"); throw ExitCode(2) }
        }
        let problems = ExportVerifier.problems(in: expandTilde(directory), publicKey: key)
        if problems.isEmpty {
            if key != nil {
                print("OK: \(directory) is complete and unaltered, signed by the given key")
            } else {
                print("OK: \(directory) is complete and every file matches its manifest")
                printError("authenticity NOT checked: without --public-key, whoever changed a file could have rewritten the manifest to match")
            }
            return
        }
        for p in problems { printError(p) }
        throw ExitCode(1)
    }
}

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair for signing exports: FILE (private, mode 0600) and FILE.pub.")

    @Option(help: "The private key file to create; the public key goes to FILE.pub.") var out: String

    func run() throws {
        let path = expandTilde(out)
        guard !FileManager.default.fileExists(atPath: path) else { printError("\(path) exists; not overwriting a key"); throw ExitCode(2) }
        do { try SigningKey.generate(privatePath: path, publicPath: path + ".pub") } catch { printError("\(error)"); throw ExitCode(1) }
        print("wrote \(path) (private) and \(path).pub (public)")
    }
}
