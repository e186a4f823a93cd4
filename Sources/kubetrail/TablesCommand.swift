import ArgumentParser
import Foundation
import KubetrailStore
import KubetrailTables

struct TablesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tables",
        abstract: "List the tables with row counts and time ranges, or one table's columns.")

    @Argument(help: "A table to describe.")
    var table: String?

    @OptionGroup var database: DatabaseOptions

    mutating func run() throws {
        let store: any Store
        do { store = try database.open(.readOnly) } catch { printError("\(error)"); throw ExitCode(1) }
        if let table {
            guard TableListing.printColumns(of: table, store: store) else {
                printError("no table named \(table); the tables are \(KubernetesTables.all.map(\.name).joined(separator: ", "))")
                throw ExitCode(1)
            }
        } else {
            TableListing.printTables(store: store)
        }
    }
}

enum TableListing {
    static func printTables(store: any Store) {
        let out = TextOutput()
        let sink = OutputFormat.table.sink(writingTo: out)
        do {
            let stats = try store.tableStats()
            try sink.begin(columns: ["table", "rows", "from", "to", "description"].map { QueryColumn(name: $0, declaredType: nil) })
            for s in stats {
                try sink.row([.text(s.schema.name), .int(s.rows), .text(s.first ?? ""), .text(s.last ?? ""), .text(s.schema.description)])
            }
            try sink.end()
        } catch {
            printError("\(error)")
        }
    }

    static func printColumns(of name: String, store: any Store) -> Bool {
        guard let schema = KubernetesTables.schema(named: name) else { return false }
        let out = TextOutput()
        let sink = OutputFormat.table.sink(writingTo: out)
        if let stats = try? store.tableStats().first(where: { $0.schema.name == name }) {
            out.write("\(name): \(schema.description)\n\(stats.rows) rows")
            if let first = stats.first, let last = stats.last { out.write(", \(schema.timeColumn) from \(first) to \(last)") }
            out.write("\n")
        }
        try? sink.begin(columns: ["column", "type", "description"].map { QueryColumn(name: $0, declaredType: nil) })
        for c in schema.columns { try? sink.row([.text(c.name), .text(c.type.rawValue), .text(c.description)]) }
        try? sink.end()
        return true
    }
}
