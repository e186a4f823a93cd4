/// Requests whose bodies are credentials: a Secret's data, a TokenReview's bearer token, the
/// token a TokenRequest returns. kubetrail never stores those bodies, whatever level the audit
/// policy logged them at: a policy that still logs `tokenreviews` at Request level would
/// otherwise put every validated bearer token in `request_object`, readable by every holder of
/// a query token (and in every export).
enum CredentialBodies {
    static func carriesCredentials(resource: String?, subresource: String?) -> Bool {
        switch resource {
        case "secrets", "tokenreviews": return true
        case "serviceaccounts": return subresource == "token"
        default: return false
        }
    }
}
