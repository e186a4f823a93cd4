import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Sends quarantined batches once more; a batch the aggregator accepts is removed (with its
/// note), one it refuses again stays, and the reply is printed to the log.
public struct QuarantineReplay {
    let config: AgentConfiguration

    public init(configuration: AgentConfiguration) { config = configuration }

    public func run() throws -> (accepted: Int, refused: Int) {
        let quarantine = Quarantine(directory: config.stateDirectory + "/quarantine")
        let client = try CurlHTTPClient(options: .init(caFile: config.caFile))
        let tokens = TokenSource(path: config.tokenFile)
        var accepted = 0, refused = 0
        for file in quarantine.batches() {
            guard let body = readWholeFile(file, limit: 256 << 20) else { refused += 1; continue }
            var headers = [("Content-Type", "application/vnd.kubetrail.batch"), ("Content-Encoding", "deflate")]
            if let token = try tokens.current() { headers.append(("Authorization", "Bearer " + token)) }
            let reply = try client.post(config.ingestURL, body: body, headers: headers)
            if (200..<300).contains(reply.status) {
                unlink(file)
                unlink(String(file.dropLast(".ktwb.zz".count)) + ".txt")
                accepted += 1
            } else {
                AgentLog.error("still refused", ["file": file, "status": String(reply.status), "reply": String(reply.text.prefix(300))])
                refused += 1
            }
        }
        return (accepted, refused)
    }
}
