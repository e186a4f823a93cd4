import ArgumentParser
import Foundation
import KubetrailCore
import KubetrailExport
import KubetrailStore
import KubetrailTables

/// Where `kubetrail tail` and `kubetrail logs` read: the local store, or an aggregator.
struct FollowSourceOptions: ParsableArguments {
    @OptionGroup var database: DatabaseOptions

    @Option(help: "Follow on an aggregator (http(s)://host:port) instead of the local database.")
    var server: String?

    @Option(help: "File holding a query token, for --server.")
    var tokenFile: String?

    @Option(help: "CA bundle (PEM) that signed the aggregator's certificate, for --server over https.")
    var caFile: String?

    @Option(
        help: ArgumentHelp(
            "Keep the position here: started again with the same file, the follow goes on after the last row it printed.",
            discussion: "The file is rewritten after each page's rows are written out; when it exists, --since is not used.",
            valueName: "path"))
    var cursorFile: String?
}

/// The `--cursor-file`: read once at the start, replaced whole (synced, renamed over) after
/// each page, so a follower killed at any moment leaves the cursor of rows it printed.
struct CursorFile {
    let path: String

    func read() throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw UserFacingError("cannot read the cursor file \(path)") }
        let cursor = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return cursor.isEmpty ? nil : cursor
    }

    func write(_ cursor: String) throws { try PrivateFile.write(Data((cursor + "\n").utf8), to: path) }
}

/// Reads a table's rows from `since`, then (when `follow`) its changes as they commit, into a
/// sink: page by page from the local store (polled; `import` and `collect --follow` may be
/// writing it), or from an aggregator's `/v1/tail`, resumed by cursor across lost connections.
struct Follow {
    var table: TableSchema
    var condition: String?
    /// Start of the history; nil: changes from now on only.
    var since: Timestamp?
    var follow: Bool
    /// How often the local store is looked at once caught up.
    var poll: TimeInterval = 0.25

    func run(_ source: FollowSourceOptions, into sink: any QuerySink, out: TextOutput) throws {
        let cursorFile = source.cursorFile.map { CursorFile(path: expandTilde($0)) }
        let saved = try cursorFile?.read()
        if let server = source.server {
            guard let tokenFile = source.tokenFile else { throw UserFacingError("--server needs --token-file") }
            warnIfPlainHTTP(server)
            let remote = RemoteFollow(server: server, token: try readToken(tokenFile), caFile: source.caFile.map(expandTilde))
            do {
                try remote.run(
                    table: table.name, condition: condition, since: since?.iso8601, cursor: saved, into: sink, follow: follow,
                    afterChunk: { out.flush() },
                    cursorChanged: { cursor in
                        out.flush()
                        try cursorFile?.write(cursor)
                    },
                    report: { FileHandle.standardError.write(Data("kubetrail: \($0)\n".utf8)) })
            } catch {
                out.flush()
                throw UserFacingError("\(error)")
            }
            return
        }
        let sink = FollowSink(sink)
        let store = try source.database.open(.readOnly)
        var request = TailRequest(table: table, condition: condition, start: .since(since))
        if let saved {
            guard let cursor = TailCursor(saved) else { throw UserFacingError("\(cursorFile!.path) does not hold a cursor") }
            request.start = .after(cursor)
        }
        while true {
            let page: TailPage
            do { page = try store.tail(request, into: sink) } catch {
                out.flush()
                throw UserFacingError("\(error)")
            }
            out.flush()
            if case .after(let before) = request.start, before == page.cursor {} else { try cursorFile?.write(page.cursor.description) }
            // The first page is the history; without follow that is all.
            guard follow else { return }
            request.start = .after(page.cursor)
            request.checkCondition = false
            if page.caughtUp { Thread.sleep(forTimeInterval: page.heldBack ? 0.05 : poll) }
        }
    }

    /// `column LIKE …` matching a shell glob (`*`, `?`).
    static func like(_ column: String, glob: String) -> String {
        column + " LIKE " + SQLText.literal(SQLText.likePattern(glob: glob)) + " ESCAPE '\\'"
    }

    /// `column LIKE …` matching values that contain `text`.
    static func like(_ column: String, containing text: String) -> String {
        column + " LIKE " + SQLText.literal("%" + SQLText.likeEscaped(text) + "%") + " ESCAPE '\\'"
    }

    /// `since` as a time: RFC 3339, or a duration back from now.
    static func since(_ text: String?) throws -> Timestamp? {
        try text.map { try TimeArgument.instant($0, now: .now, flag: "--since") }
    }
}
