import Foundation
import KubetrailCore

/// Reads one container's log through the API the way `kubectl logs [-f] --timestamps` does —
/// GET the pod, then GET its `/log` — and, unlike kubectl, keeps following across container
/// restarts: when a followed stream ends (the instance stopped) the request is issued again from
/// the cursor's second and the lines it repeats are dropped (`LogSequence`). When the instance
/// the cursor was reading has been replaced in the meantime, its remaining lines are read first
/// (`previous=true`), so a restart between two collections loses nothing.
public final class PodLogFollower {
    public enum Event {
        /// The pod as fetched before a request (restart count, container id, labels).
        case pod([String: Any])
        /// A new line: its timestamp, its ordinal among the lines of its container instance with
        /// that timestamp, the instance (container ID, when the pod said), and the text after the
        /// timestamp.
        case line(Timestamp, ordinal: Int, instance: String?, message: UnsafeRawBufferPointer)
        /// A chunk of lines was delivered, or the stream is idle: a moment to commit.
        case tick
    }

    public enum End: Equatable, Sendable {
        /// Everything up to now (or to `until`) was read; not following.
        case finished
        /// The pod no longer exists (or its name now belongs to another pod).
        case podGone
        /// The pod reached Succeeded or Failed: its containers will not run again.
        case podCompleted
        /// The handler asked to stop.
        case stopped
    }

    public typealias Failure = APIFailure

    let client: KubeClient
    public let namespace: String
    public let pod: String
    /// The pod this stream belongs to; a pod of the same name with another uid is another pod.
    public let uid: String?
    public let container: String
    public let follow: Bool
    /// Lines before this are not kept (the cursor still passes them).
    public let since: Timestamp?
    /// Lines after this are not read (and the stream ends there).
    public let until: Timestamp?
    public private(set) var sequence: LogSequence
    /// Lines without a timestamp prefix (which `timestamps=true` always adds).
    public private(set) var malformedLines = 0
    /// Log requests issued for this container (more than one after restarts or errors).
    public private(set) var requests = 0
    /// The first pause after a failure; it doubles up to 30 s while failures repeat.
    public var retryDelay: Double = 1
    let report: (String) -> Void

    public init(
        client: KubeClient, namespace: String, pod: String, uid: String? = nil, container: String, cursor: LogCursor?,
        since: Timestamp? = nil, until: Timestamp? = nil, follow: Bool, report: @escaping (String) -> Void = { _ in }
    ) {
        self.client = client
        self.namespace = namespace
        self.pod = pod
        self.uid = uid
        self.container = container
        self.follow = follow
        self.since = since
        self.until = until
        self.report = report
        sequence = LogSequence(cursor: cursor)
        if let since, let c = cursor, since > c.second { sequence.restart(at: since) }
    }

    public var logPath: String { PodLogOptions(container: container).path(namespace: namespace, pod: pod) }
    var name: String { "\(namespace)/\(pod)/\(container)" }

    /// Runs until the log is read (not following), the pod is gone or completed, or `handler`
    /// returns false. 401/403 and, when not following, other failures are thrown.
    public func run(handler: (Event) throws -> Bool) throws -> End {
        var failures = 0
        /// Waits longer after each repeated failure, reporting the first and every tenth.
        func failed(_ message: String) throws -> Bool {
            failures += 1
            if failures == 1 || failures % 10 == 0 {
                report("\(name): \(message)" + (failures > 1 ? " (\(failures) times)" : "") + "; retrying")
            }
            return try pause(handler, min(30, retryDelay * Double(1 << min(failures - 1, 5))))
        }
        while true {
            let podReply: KubeClient.Response
            do {
                podReply = try client.get("/api/v1/namespaces/\(namespace)/pods/\(pod)", accept: "application/json, */*", timeout: 15)
            } catch let error as KubeClient.Failure {
                if !follow { throw error }
                if try !failed(error.description) { return .stopped }
                continue
            }
            switch podReply.status {
            case 200: break
            case 404: return .podGone
            case 401, 403: throw Failure(status: podReply.status, description: "get pod \(namespace)/\(pod): HTTP \(podReply.status): \(podReply.errorText)")
            default:
                let message = "get pod \(namespace)/\(pod): HTTP \(podReply.status): \(podReply.errorText)"
                if !follow { throw Failure(status: podReply.status, description: message) }
                if try !failed(message) { return .stopped }
                continue
            }
            let object = (try? JSONSerialization.jsonObject(with: Data(podReply.body))) as? [String: Any] ?? [:]
            let metadata = object["metadata"] as? [String: Any]
            if let uid, let current = metadata?["uid"] as? String, current != uid { return .podGone }
            if try !handler(.pod(object)) { return .stopped }
            let instances = ContainerInstances(pod: object, container: container)
            let phase = (object["status"] as? [String: Any])?["phase"] as? String
            let completed = phase == "Succeeded" || phase == "Failed"

            // Following, lines are only read from a known instance (the pod's status can trail the
            // kubelet by a moment when a container starts).
            if follow && instances.current == nil && !completed {
                if try !pause(handler, retryDelay) { return .stopped }
                continue
            }

            // The instance the cursor was reading has been replaced: read the rest of it first.
            if let c = sequence.cursor, let was = c.containerID, let now = instances.current, was != now {
                if instances.previous == was {
                    let (end, status, text) = try request(previous: true, containerID: was, handler)
                    if status == Self.mismatch { continue }
                    if let end { return end }
                    if status == 0 || status >= 500 {
                        // Still there: try again rather than move past its unread lines.
                        if !follow { throw Failure(status: status, description: "previous logs of \(name): \(text)") }
                        if try !failed("previous logs: " + (status == 0 ? text : "HTTP \(status): \(text)")) { return .stopped }
                        continue
                    }
                    if status != 200 {
                        report(
                            "\(name): the end of the previous container instance could not be read (HTTP \(status): \(text)); lines it wrote after \(c.second) may be missing"
                        )
                    }
                } else {
                    report(
                        "\(name): container instance \(was) was replaced more than once since it was last read; lines it wrote after \(c.second) are no longer available"
                    )
                }
            }

            let (end, status, text) = try request(previous: false, containerID: instances.current, handler)
            if status == Self.mismatch { continue }
            if let end { return end }
            switch status {
            case 200:
                failures = 0
                if !follow { return .finished }
                if completed { return .podCompleted }
                // The instance stopped; its successor starts shortly.
                if try !pause(handler, retryDelay) { return .stopped }
            case 404:
                return .podGone
            case 401, 403:
                throw Failure(status: status, description: "logs of \(name): HTTP \(status): \(text)")
            default:
                let waiting = text.contains("is waiting to start")
                if !follow {
                    if waiting { return .finished }
                    throw Failure(status: status, description: "logs of \(name): " + (status == 0 ? text : "HTTP \(status): \(text)"))
                }
                if completed { return .podCompleted }
                if waiting {
                    if try !pause(handler, retryDelay) { return .stopped }
                } else if try !failed(status == 0 ? text : "HTTP \(status): \(text)") {
                    return .stopped
                }
            }
        }
    }

    /// One log request. Returns an end when the handler stopped or `until` was passed, else the
    /// HTTP status (0: the connection failed, while following; `mismatch`: read again) and an
    /// error text.
    private func request(previous: Bool, containerID: String?, _ handler: (Event) throws -> Bool) throws -> (End?, Int, String) {
        var options = PodLogOptions(container: container, follow: follow && !previous, timestamps: true)
        options.previous = previous
        options.sinceTime = sequence.cursor?.second ?? since
        sequence.beginRequest(containerID: containerID, start: since)
        requests += 1
        var end: End?
        var mismatched = false
        var thrown: Error?
        var errorBody: [UInt8] = []
        var status = 0
        do {
            // A followed stream can be cut mid-line (a kubelet restart): its unterminated end is
            // not a line, and is read whole from the next request.
            status = try client.stream(
                options.path(namespace: namespace, pod: pod), accept: "application/json, */*",
                deliverUnterminatedTail: !options.follow,
                tick: {
                    do { if try !handler(.tick) { end = .stopped; return false } } catch { thrown = error; return false }
                    return true
                }
            ) { line in
                guard thrown == nil, end == nil, !mismatched else { return false }
                guard let (t, message) = Self.split(line) else {
                    if errorBody.count < 1024 { errorBody.append(contentsOf: line.prefix(1024)) }
                    malformedLines += 1
                    return true
                }
                if let until, t > until { end = .finished; return false }
                let ordinal: Int
                switch sequence.accept(t, fingerprint: LogCursor.fingerprint(line)) {
                case .new(let n): ordinal = n
                case .repeated: return true
                case .mismatch:
                    report(
                        "\(name): the log from \(sequence.cursor?.second.description ?? "?") is not the one read before (rotated, or another instance); reading it again from there"
                    )
                    sequence.discardCount()
                    mismatched = true
                    return false
                }
                if let since, t < since { return true }  // before the range: passed, not kept
                do {
                    if try !handler(.line(t, ordinal: ordinal, instance: containerID, message: message)) { end = .stopped; return false }
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
        if mismatched { return (nil, Self.mismatch, "") }
        if status != 200 { malformedLines -= min(malformedLines, 1) }  // the error body is not a log line
        return (end, status, KubeClient.Response(status: status, body: errorBody).errorText)
    }

    /// The status `request` returns when the reply was not the log read before: read it again.
    private static let mismatch = -1

    private func pause(_ handler: (Event) throws -> Bool, _ seconds: Double) throws -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if try !handler(.tick) { return false }
            Thread.sleep(forTimeInterval: min(0.2, seconds))
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

/// A container's current instance and the one before it, from the pod's status.
struct ContainerInstances {
    var current: String?
    var previous: String?

    init(pod: [String: Any], container: String) {
        let statuses = (pod["status"] as? [String: Any])?["containerStatuses"] as? [[String: Any]] ?? []
        guard let status = statuses.first(where: { $0["name"] as? String == container }) else { return }
        current = (status["containerID"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        let last = (status["lastState"] as? [String: Any])?["terminated"] as? [String: Any]
        previous = (last?["containerID"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    }
}
