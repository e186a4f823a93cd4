import Foundation
import KubetrailStore
import KubetrailTables

/// The `kubetrail query` shell: dot-commands, and SQL that runs once a line ends with `;`.
struct InteractiveShell {
    let store: any Store
    var format: OutputFormat

    mutating func run() {
        print("kubetrail query shell — .tables, .inspect TABLE, .output FORMAT, .help, .exit; end SQL with ;")
        var pending = ""
        while true {
            FileHandle.standardOutput.write(Data((pending.isEmpty ? "> " : "… ").utf8))
            guard let line = readLine(strippingNewline: true) else { print(""); return }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty, trimmed.hasPrefix(".") {
                if !command(trimmed) { return }
                continue
            }
            pending += (pending.isEmpty ? "" : "\n") + line
            if trimmed.hasSuffix(";") {
                execute(pending)
                pending = ""
            }
        }
    }

    /// Returns false to leave the shell.
    mutating func command(_ line: String) -> Bool {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        switch words.first ?? "" {
        case ".exit", ".quit": return false
        case ".tables": TableListing.printTables(store: store)
        case ".inspect":
            guard words.count == 2 else { print("usage: .inspect TABLE"); break }
            if !TableListing.printColumns(of: words[1], store: store) { print("no table named \(words[1])") }
        case ".output":
            guard words.count == 2, let f = OutputFormat(rawValue: words[1]) else {
                print("usage: .output table|csv|json|jsonl|line (now \(format.rawValue))")
                break
            }
            format = f
        case ".help":
            print(
                ".tables            list the tables\n.inspect TABLE     columns of a table\n.output FORMAT     table, csv, json, jsonl or line\n.exit              leave"
            )
        default:
            print("unknown command \(words.first ?? ""); try .help")
        }
        return true
    }

    func execute(_ sql: String) {
        let out = TextOutput()
        do {
            try store.query(sql, into: format.sink(writingTo: out))
        } catch {
            out.flush()
            print("Error: \(error)")
        }
    }
}
