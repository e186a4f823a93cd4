import KubetrailCore

/// What the agent requires of the aggregator's reply (`IngestReply`, in Core) before its
/// checkpoints move past a batch: the document itself, naming the batch sent and its count.
extension IngestReply {
    /// Why a reply does not acknowledge a batch.
    struct Refusal: Error, Equatable, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// The reply acknowledges exactly `batchID` with `records` records, or says why not.
    static func acknowledgement(of body: [UInt8], batchID: String, records: Int) throws(Refusal) -> IngestReply {
        let reply: IngestReply
        do { reply = try decode(body) } catch {
            throw Refusal("the reply is not the aggregator's JSON reply document (\(error))")
        }
        guard let acknowledged = reply.batchID, acknowledged == batchID else {
            throw Refusal("the reply acknowledges batch \"\((reply.batchID ?? "null").prefix(64))\", not the batch sent (\(batchID))")
        }
        guard reply.records == records else {
            throw Refusal("the reply counts \(reply.records) records for batch \(batchID), which has \(records)")
        }
        return reply
    }

    /// The first rejection, for the agent's log.
    var firstRejection: String? {
        rejections.first.map { "\($0.reason) at \($0.path):\($0.offset): \($0.detail)" }
    }
}
