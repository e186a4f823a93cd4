import Foundation
import KubetrailCore

/// List then watch one collection the way client-go's reflector does (release-1.32): a paginated
/// list at `resourceVersion=0`, a watch from the list's version with bookmarks and a 5–10 minute
/// server timeout, a re-watch from the last version when the stream ends, and after `410 Gone`
/// a relist at the last version — or, when that is gone too, a consistent relist.
public final class Reflector {
    public enum Event {
        /// One page of a list; `first` starts a new list. Objects arrive as the bytes received.
        case listed([Data], first: Bool)
        /// The list just paged through is complete as of `resourceVersion`: objects not in it are gone.
        case synced(count: Int, resourceVersion: String)
        case added(Data)
        case modified(Data)
        case deleted(Data)
        /// A chunk of the watch ended, or nothing arrived for a moment: time to commit what is held.
        case idle
    }

    public enum Stop: Error { case requested }

    public typealias Failure = APIFailure

    let client: any ListWatchClient
    /// The collection path, e.g. `/api/v1/events` or `/apis/apps/v1/deployments`.
    public let path: String
    public let pageSize: Int
    /// Ask for metadata only (`PartialObjectMetadata`): Secrets' values never cross the wire.
    public let metadataOnly: Bool
    public private(set) var lastResourceVersion: String?
    /// Watch events received (bookmarks included).
    public private(set) var events = 0
    private var random = SplitMix64(seed: UInt64(UInt32(truncatingIfNeeded: Int(ProcessInfo.processInfo.processIdentifier))))

    let clock: any ReflectorClock

    public init(client: any ListWatchClient, path: String, pageSize: Int = 500, metadataOnly: Bool = false, clock: any ReflectorClock = SystemClock()) {
        self.client = client
        self.path = path
        self.pageSize = pageSize
        self.metadataOnly = metadataOnly
        self.clock = clock
    }

    static let metadataListAccept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
    static let metadataAccept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

    /// Lists and watches until `handler` throws `Stop.requested` (or any error it throws).
    /// Network errors and 5xx are retried after `backoff`'s growing waits; 401/403/404 are thrown.
    public func run(backoff policy: ReflectorBackoff = .clientGo, handler: (Event) throws -> Void) throws {
        var backoff = BackoffState(policy)
        func wait() throws { try clock.sleep(backoff.next(now: clock.now, random: &random)) }
        var needList = true
        var relistAt: String? = "0"
        while true {
            do {
                if needList {
                    var first = true
                    let (count, version) = try listAll(resourceVersion: relistAt) { page in
                        try handler(.listed(page, first: first))
                        first = false
                    }
                    lastResourceVersion = version
                    try handler(.synced(count: count, resourceVersion: version))
                    needList = false
                }
                guard let from = lastResourceVersion else { needList = true; relistAt = nil; continue }
                let started = clock.now
                let eventsBefore = events
                switch try watch(from: from, handler: handler) {
                case .closed:
                    // Re-watch from the last version at once — unless the watch ended within a
                    // second with nothing in it, which client-go treats as an error to back off from.
                    if clock.now.timeIntervalSince(started) < 1 && events == eventsBefore { try wait() }
                case .expired:
                    needList = true
                    relistAt = lastResourceVersion
                }
            } catch let failure as Failure where failure.status == 410 {
                // The relist at the last version is gone too: a consistent read.
                needList = true
                relistAt = nil
            } catch let failure as Failure where failure.status == 401 || failure.status == 403 || failure.status == 404 {
                // Not a passing trouble: credentials refused, RBAC, or a kind this API server
                // does not serve (an API group an older or trimmed cluster lacks).
                throw failure
            } catch is Failure {
                try wait()
            } catch is KubeClient.Failure {
                try wait()
            }
        }
    }

    /// The whole collection, handed to `page` a page at a time (pages of `pageSize` when listing
    /// at `"0"`, one request otherwise); returns the number of objects and the list's version.
    @discardableResult
    public func listAll(resourceVersion: String?, page: ([Data]) throws -> Void) throws -> (count: Int, resourceVersion: String) {
        var count = 0
        var next: String? = nil
        var version = ""
        repeat {
            var query: [(String, String)] = []
            if let next { query.append(("continue", next)) }
            if resourceVersion == "0" || next != nil { query.append(("limit", String(pageSize))) }
            if next == nil, let resourceVersion { query.append(("resourceVersion", resourceVersion)) }
            let reply = try client.list(path + Self.encode(query), accept: metadataOnly ? Self.metadataListAccept : "application/json")
            guard reply.status == 200 else { throw Failure(status: reply.status, description: "list \(path): HTTP \(reply.status): \(reply.errorText)") }
            let scanned: Result<([Data], APIResponseScanner.List), JSONError> = reply.body.withUnsafeBytes { raw in
                Result { () throws(JSONError) in
                    let list = try APIResponseScanner.list(raw)
                    return (list.items.map { Data(raw[$0]) }, list)
                }
            }
            guard case .success(let (items, list)) = scanned else {
                throw Failure(status: 0, description: "list \(path): not a list: \(reply.text.prefix(200))")
            }
            count += items.count
            try page(items)
            version = list.resourceVersion ?? version
            next = list.continueToken.flatMap { $0.isEmpty ? nil : $0 }
        } while next != nil
        return (count, version)
    }

    enum WatchEnd { case closed, expired }

    func watch(from version: String, handler: (Event) throws -> Void) throws -> WatchEnd {
        let timeout = 300 + Int(random.next() % 300)
        let query = [
            ("allowWatchBookmarks", "true"), ("resourceVersion", version),
            ("timeoutSeconds", String(timeout)), ("watch", "true")
        ]
        var expired = false
        var thrown: Error?
        func deliver(_ event: Event) -> Bool {
            do { try handler(event) } catch { thrown = error; return false }
            return true
        }
        let status = try client.watch(
            path + Self.encode(query), accept: metadataOnly ? Self.metadataAccept : "application/json",
            tick: { thrown == nil && deliver(.idle) }
        ) { line in
            guard let (type, range) = try? APIResponseScanner.watchEvent(line) else { return true }
            let object = UnsafeRawBufferPointer(rebasing: line[range])
            events += 1
            let fields = try? APIResponseScanner.objectFields(object)
            if type == "ERROR" {
                if fields?.code == 410 { expired = true }
                return false
            }
            if let rv = fields?.resourceVersion { lastResourceVersion = rv }
            switch type {
            case "ADDED": return deliver(.added(Data(object)))
            case "MODIFIED": return deliver(.modified(Data(object)))
            case "DELETED": return deliver(.deleted(Data(object)))
            default: return true  // BOOKMARK: only its version matters
            }
        }
        if let thrown { throw thrown }
        if status == 410 || expired { return .expired }
        guard status == 200 else { throw Failure(status: status, description: "watch \(path): HTTP \(status)") }
        return .closed
    }

    /// `?a=1&b=2`, keys sorted as kubectl sends them, values percent-encoded.
    public static func encode(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+:/")
        return "?"
            + query.sorted { $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
            .joined(separator: "&")
    }
}
