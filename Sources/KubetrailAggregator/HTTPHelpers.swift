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

/// Bearer-token check: 401 without a valid token, 403 with a valid token of the other role.
struct Authenticator: Sendable {
    let ingest: TokenFile
    let query: TokenFile?
    /// Mutual TLS is on: every connection already proved a certificate from the client CA.
    let verifiedClientCertificates: Bool

    func require(_ role: Role, _ request: Request) throws {
        // kube-apiserver usually authenticates its webhook calls with a client certificate.
        if role == .webhook, verifiedClientCertificates, request.headers[.authorization] == nil { return }
        let role: Role = role == .webhook ? .ingest : role
        guard let header = request.headers[.authorization] else {
            throw APIError(status: .unauthorized, reason: "missing bearer token", headers: [.wwwAuthenticate: "Bearer"])
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError(status: .unauthorized, reason: "authorization must be a bearer token", headers: [.wwwAuthenticate: "Bearer"])
        }
        let token = header.dropFirst(7)
        let mine = role == .ingest ? ingest : query
        if mine?.accepts(token) == true { return }
        let other = role == .ingest ? query : ingest
        if other?.accepts(token) == true {
            throw APIError(status: .forbidden, reason: "this token may not \(role == .ingest ? "ingest" : "query")")
        }
        throw APIError(status: .unauthorized, reason: "invalid bearer token", headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\""])
    }
}
