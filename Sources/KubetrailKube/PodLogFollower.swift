import Foundation
import KubetrailCore

/// Reads one container's log through the API the way `kubectl logs [-f] --timestamps` does —
/// GET the pod, then GET its `/log` — and, unlike kubectl, keeps following across container
/// restarts: when a followed stream ends (the instance stopped) the request is issued again
/// from the last line's second, and the lines it repeats are dropped (`LogSequence`).
public final class PodLogFollower {
    public enum Event {
        /// The pod as fetched before a request (restart count, container id, labels).
        case pod([String: Any])
        /// A new line: its timestamp, its ordinal among lines with that timestamp, and the text
        /// after the timestamp.
        case line(Timestamp, ordinal: Int, message: UnsafeRawBufferPointer)
        /// A chunk of lines was delivered, or the stream is idle: a moment to commit.
        case tick
    }

    public enum End: Equatable, Sendable {
        /// Everything up to now (or to `until`) was read; not following.
        case finished
        /// The pod no longer exists.
        case podGone
        /// The pod reached Succeeded or Failed: its containers will not run again.
        case podCompleted
        /// The handler asked to stop.
        case stopped
    }

    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var description: String
    }

    let client: KubeClient
    public let namespace: String
    public let pod: String
    public let container: String
    public let follow: Bool
    /// Where to start when there is no cursor.
    public let since: Timestamp?
    /// Lines after this are not read (and the stream ends there).
    public let until: Timestamp?
    public private(set) var sequence: LogSequence
    /// Lines without a timestamp prefix (which `timestamps=true` always adds).
    public private(set) var malformedLines = 0
    /// Requests issued for this container (more than one after restarts or errors).
    public private(set) var requests = 0
    public var retryDelay: Double = 1

    public init(client: KubeClient, namespace: String, pod: String, container: String, cursor: LogCursor?,
                since: Timestamp? = nil, until: Timestamp? = nil, follow: Bool) {
        self.client = client
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.follow = follow
        self.since = since
        self.until = until
        self.sequence = LogSequence(cursor: cursor)
    }

    public var logPath: String { PodLogOptions(container: container).path(namespace: namespace, pod: pod) }

    /// Runs until the log is read (not following), the pod is gone or completed, or `handler`
    /// returns false. 401/403 and, when not following, other failures are thrown.
    public func run(handler: (Event) throws -> Bool) throws -> End {
        while true {
            let podReply: KubeClient.Response
            do {
                podReply = try client.get("/api/v1/namespaces/\(namespace)/pods/\(pod)", accept: "application/json, */*")
            } catch let error as KubeClient.Failure {
                if !follow { throw error }
                if try !pause(handler) { return .stopped }
                continue
            }
            switch podReply.status {
            case 200: break
            case 404: return .podGone
            case 401, 403: throw Failure(status: podReply.status, description: "get pod \(namespace)/\(pod): HTTP \(podReply.status): \(podReply.errorText)")
            default:
                if !follow { throw Failure(status: podReply.status, description: "get pod \(namespace)/\(pod): HTTP \(podReply.status): \(podReply.errorText)") }
                if try !pause(handler) { return .stopped }
                continue
            }
            let object = (try? JSONSerialization.jsonObject(with: Data(podReply.body))) as? [String: Any] ?? [:]
            if try !handler(.pod(object)) { return .stopped }

            let (end, status, errorText) = try request(handler)
            if let end { return end }
            switch status {
            case 200:
                if !follow { return .finished }
                // The instance stopped. Unless the pod is done for good, a new one will start.
                let phase = (object["status"] as? [String: Any])?["phase"] as? String
                if phase == "Succeeded" || phase == "Failed" { return .podCompleted }
            case 404:
                return .podGone
            case 401, 403:
                throw Failure(status: status, description: "logs of \(namespace)/\(pod)/\(container): HTTP \(status): \(errorText)")
            default:
                // 400 "waiting to start", 5xx: nothing to read now.
                if !follow {
                    if status == 400 { return .finished }
                    throw Failure(status: status, description: "logs of \(namespace)/\(pod)/\(container): HTTP \(status): \(errorText)")
                }
            }
            if try !pause(handler) { return .stopped }
        }
    }

    /// One log request. Returns an end when the handler stopped or `until` was passed.
    private func request(_ handler: (Event) throws -> Bool) throws -> (End?, Int, String) {
        var options = PodLogOptions(container: container, follow: follow, timestamps: true)
        options.sinceTime = sequence.cursor?.timestamp ?? since
        if let cursor = sequence.cursor, let since, since > cursor.timestamp { options.sinceTime = since }
        sequence.beginRequest()
        requests += 1
        var end: End?
        var thrown: Error?
        var errorBody: [UInt8] = []
        var status = 0
        do {
            status = try client.stream(options.path(namespace: namespace, pod: pod), accept: "application/json, */*",
                                       tick: {
                do { if try !handler(.tick) { end = .stopped; return false } } catch { thrown = error; return false }
                return true
            }) { line in
                guard thrown == nil, end == nil else { return false }
                guard let (t, message) = Self.split(line) else {
                    if errorBody.count < 1024 { errorBody.append(contentsOf: line.prefix(1024)) }
                    malformedLines += 1
                    return true
                }
                if let until, t > until { end = .finished; return false }
                guard let ordinal = sequence.accept(t) else { return true }
                do {
                    if try !handler(.line(t, ordinal: ordinal, message: message)) { end = .stopped; return false }
                } catch {
                    thrown = error
                    return false
                }
                return true
            }
        } catch let error as KubeClient.Failure {
            if let thrown { throw thrown }
            if !follow { throw error }
            return (nil, 0, error.description)
        }
        if let thrown { throw thrown }
        if status != 200 { malformedLines -= min(malformedLines, 1) }   // the error body is not a log line
        return (end, status, KubeClient.Response(status: status, body: errorBody).errorText)
    }

    private func pause(_ handler: (Event) throws -> Bool) throws -> Bool {
        let until = Date().addingTimeInterval(retryDelay)
        while Date() < until {
            if try !handler(.tick) { return false }
            Thread.sleep(forTimeInterval: min(0.2, retryDelay))
        }
        return true
    }

    /// `2026-11-27T10:00:00.123456789Z text` → the timestamp and the text.
    static func split(_ line: UnsafeRawBufferPointer) -> (Timestamp, UnsafeRawBufferPointer)? {
        guard let space = line.prefix(40).firstIndex(of: 0x20), space >= 20 else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: line[..<space]), as: UTF8.self)
        guard let t = Timestamp(rfc3339: text) else { return nil }
        return (t, UnsafeRawBufferPointer(rebasing: line[(space + 1)...]))
    }
}
