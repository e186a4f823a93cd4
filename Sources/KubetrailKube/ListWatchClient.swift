/// What a `Reflector` asks of the API server: one list request, and one watch stream handed on
/// a line at a time. `KubeClient` is the real one; tests script an API server's answers.
public protocol ListWatchClient: AnyObject, Sendable {
    /// GET a list page (`path` with its query): the whole reply.
    func list(_ path: String, accept: String) throws -> KubeClient.Response
    /// GET a watch and hand each event line to `onLine` (false stops); `tick` runs after each
    /// chunk and about once a second while idle (false stops). Returns the HTTP status.
    func watch(_ path: String, accept: String, tick: () -> Bool, onLine: (UnsafeRawBufferPointer) -> Bool) throws -> Int
}

extension KubeClient: ListWatchClient {
    public func list(_ path: String, accept: String) throws -> Response {
        try get(path, accept: accept)
    }

    public func watch(_ path: String, accept: String, tick: () -> Bool, onLine: (UnsafeRawBufferPointer) -> Bool) throws -> Int {
        try stream(path, accept: accept, tick: tick, onLine: onLine)
    }
}
