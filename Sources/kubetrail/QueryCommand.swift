import ArgumentParser
import Foundation
import KubetrailStore
import KubetrailTables

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run SQL against the tables.",
        discussion: """
            SQL comes from the argument, a .sql file, or standard input; with none on a terminal an \
            interactive shell starts (.tables, .inspect TABLE, .output FORMAT, .exit). The PostgreSQL/\
            DuckDB forms NOW(), CURRENT_TIMESTAMP, ts ± INTERVAL '1 hour', ILIKE and date_trunc work.
            """)

    @Argument(help: "SQL text, or the path of a .sql file.")
    var sql: String?

    @OptionGroup var database: DatabaseOptions

    @Option(name: .long, help: "table, csv, json, jsonl or line.")
    var output: OutputFormat = .table

    @Option(help: "Run on an aggregator (http(s)://host:port) instead of the local database.")
    var server: String?

    @Option(help: "File holding a query token, for --server.")
    var tokenFile: String?

    mutating func run() throws {
        let text: String?
        if let sql {
            if sql.hasSuffix(".sql"), FileManager.default.fileExists(atPath: sql) {
                guard let contents = try? String(contentsOfFile: sql, encoding: .utf8) else {
                    printError("cannot read \(sql)")
                    throw ExitCode(1)
                }
                text = contents
            } else {
                text = sql
            }
        } else if isatty(0) == 1 {
            text = nil
        } else {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }

        if let server {
            guard let text, let tokenFile else {
                printError(text == nil ? "--server needs the SQL as an argument, a file or stdin" : "--server needs --token-file")
                throw ExitCode(1)
            }
            do {
                try RemoteQuery.run(sql: text, server: server, tokenFile: tokenFile, format: output)
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
            return
        }

        let store: any Store
        do { store = try database.open(.readOnly) } catch { printError("\(error)"); throw ExitCode(1) }

        guard let text else {
            var shell = InteractiveShell(store: store, format: output)
            shell.run()
            return
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            printError("no SQL given")
            throw ExitCode(1)
        }
        let out = TextOutput()
        do {
            try store.query(text, into: output.sink(writingTo: out))
        } catch {
            out.flush()
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

extension OutputFormat: ExpressibleByArgument {}
