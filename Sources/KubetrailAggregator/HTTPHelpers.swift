import KubetrailCore
import Hummingbird
import KubetrailTables
import NIOCore

/// Every error answer: a status and a one-line JSON reason.
struct APIError: Error {
    var status: HTTPResponse.Status
    var reason: String
    var headers: HTTPFields = [:]

    var response: Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: "{\"error\":" + JSONText.string(reason) + "}\n")))
    }
}

func jsonResponse(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
}

/// Turns thrown `APIError`s into their JSON answers, so handlers can just throw.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as HTTPError {
            return APIError(status: error.status, reason: error.body ?? error.status.reasonPhrase).response
        }
    }
}

enum Role: String { case ingest, query, webhook }

/// Bearer-token check: 401 without a valid token, 403 with a valid token of another role or
/// scope. Returns the scope of the ingest token (what it may send, for whom).
struct Authenticator: Sendable {
    let ingest: TokenFile
    let query: TokenFile?
    /// Mutual TLS is on: every connection already proved a certificate from the client CA.
    let verifiedClientCertificates: Bool

    @discardableResult
    func require(_ role: Role, _ request: Request) throws -> TokenScope? {
        // kube-apiserver usually authenticates its webhook calls with a client certificate.
        if role == .webhook, verifiedClientCertificates, request.headers[.authorization] == nil { return .clientCertificate }
        guard let header = request.headers[.authorization] else {
            throw APIError(status: .unauthorized, reason: "missing bearer token", headers: [.wwwAuthenticate: "Bearer", .connection: "close"])
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError(status: .unauthorized, reason: "authorization must be a bearer token", headers: [.wwwAuthenticate: "Bearer", .connection: "close"])
        }
        let token = header.dropFirst(7)
        if role == .query {
            if query?.accepts(token) == true { return nil }
            if ingest.accepts(token) { throw APIError(status: .forbidden, reason: "this token may not query", headers: [.connection: "close"]) }
        } else if let scope = ingest.scope(of: token) {
            if role == .webhook && !scope.kinds.contains(.webhook) {
                throw APIError(
                    status: .forbidden,
                    reason: "this token may not post audit webhook events (the webhook has its own token, kinds=webhook, or a client certificate)",
                    headers: [.connection: "close"])
            }
            if role == .ingest && scope.kinds.isDisjoint(with: [.audit, .logs]) {
                throw APIError(status: .forbidden, reason: "this token may not ship logs", headers: [.connection: "close"])
            }
            return scope
        } else if query?.accepts(token) == true {
            throw APIError(
                status: .forbidden, reason: "this token may not \(role == .ingest ? "ingest" : "post audit webhook events")", headers: [.connection: "close"])
        }
        throw APIError(
            status: .unauthorized, reason: "invalid bearer token", headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\"", .connection: "close"])
    }
}
