import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

/// Sends quarantined batches once more; a batch the aggregator confirms (its reply document
/// names the batch, as for the agent's own sends) is removed with its note, any other answer
/// leaves it in place and is printed to the log.
public struct QuarantineReplay {
    let config: AgentConfiguration

    public init(configuration: AgentConfiguration) { config = configuration }

    public func run() throws -> (accepted: Int, refused: Int) {
        let quarantine = Quarantine(directory: config.stateDirectory + "/quarantine")
        let client = IngestHTTPClient(options: .init(caFile: config.caFile))
        let tokens = TokenSource(path: config.tokenFile)
        var accepted = 0, refused = 0
        for file in quarantine.batches() {
            guard let body = readWholeFile(file, limit: 256 << 20), let facts = Quarantine.noteFacts(of: file) else {
                AgentLog.error("cannot read the quarantined batch or its note", ["file": file])
                refused += 1
                continue
            }
            var headers = [("Content-Type", "application/vnd.kubetrail.batch"), ("Content-Encoding", "deflate")]
            let token = try tokens.current()
            if let token { headers.append(("Authorization", "Bearer " + token)) }
            let reply = try client.post(config.ingestURL, body: body, headers: headers)
            var problem = "HTTP \(reply.status)"
            if (200..<300).contains(reply.status) {
                do {
                    _ = try IngestReply.acknowledgement(of: reply.body, batchID: facts.batchID, records: facts.records)
                    unlink(file)
                    unlink(String(file.dropLast(".ktwb.zz".count)) + ".txt")
                    accepted += 1
                    continue
                } catch {
                    problem += " without acknowledgement: \(error)"
                }
            }
            AgentLog.error(
                "still refused",
                [
                    "file": file, "status": String(reply.status),
                    "error": PeerText.excerpt(problem, hiding: token),
                    "reply": PeerText.excerpt(reply.text, hiding: token)
                ])
            refused += 1
        }
        return (accepted, refused)
    }
}
