/// A request the API server answered with an error (or, with status 0, one that did not parse):
/// the HTTP status, for the callers that treat 401/403/404/410 apart, and a message for people.
public struct APIFailure: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var description: String

    public init(status: Int, description: String) {
        self.status = status
        self.description = description
    }
}
