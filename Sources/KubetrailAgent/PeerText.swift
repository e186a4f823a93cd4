/// Text a peer sent (a reply body), made fit for the log and the quarantine notes.
///
/// Whatever answers at the aggregator's address controls these bytes: it could echo the bearer
/// token it was sent, or forge log lines with newlines. So the token is blanked out, control
/// characters become spaces, and only a bounded prefix is kept.
enum PeerText {
    static func excerpt(_ text: String, hiding secret: String?, limit: Int = 300) -> String {
        var clean = text
        if let secret, !secret.isEmpty { clean = clean.replacing(secret, with: "[token]") }
        let kept = clean.unicodeScalars.prefix(limit).map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) }
        return String(kept)
    }
}
