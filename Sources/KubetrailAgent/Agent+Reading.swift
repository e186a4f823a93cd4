import KubetrailCore
#if canImport(Glibc)
import Glibc
#endif

extension Agent {
    /// Reads from files with new bytes, a chunk per file per turn (fair across files), until
    /// the read-ahead bound is reached or a few MiB were read (then the loop polls again).
    func readAvailable() {
        var budget = Int64(config.maxUnackedBytes) - Int64(unackedBytes)
        events.readPaused(budget <= 0)
        var total = 0
        while budget > 0 && total < 8 << 20 && !compressionBacklogged {
            let candidates = files.filter { $0.dirty && $0.isOpen }
            if candidates.isEmpty { break }
            var progressed = false
            for i in 0..<candidates.count {
                let f = candidates[(roundRobin + i) % candidates.count]
                // Checked per chunk, not per pass: one pass over a hundred busy files could seal
                // eight batches, each holding its megabyte until the compressor gets to it.
                guard budget > 0, !compressionBacklogged else { break }
                let n = readChunk(f, limit: Int(min(budget, Int64(config.readChunkBytes))))
                if n > 0 {
                    progressed = true
                    budget -= Int64(n)
                    total += n
                }
            }
            roundRobin &+= 1
            if !progressed { break }
        }
    }

    /// Reading waits while this many sealed batches wait for the compressor: zlib is the
    /// agent's slowest step, and every batch queued ahead of it holds its uncompressed bytes
    /// (the read-ahead bound let eight pile up, 8 MiB of the agent's 28 MiB under load). Two
    /// keep the compressor busy.
    static let maxAwaitingCompression = 2

    var compressionBacklogged: Bool { shipper.awaitingCompression >= Self.maxAwaitingCompression }

    /// Reads one chunk of `f` and frames it; returns the bytes read.
    func readChunk(_ f: TailedFile, limit: Int) -> Int {
        if f.identity == nil {
            f.refreshSize()
            resumeFromCheckpoint(f)
            guard let key = f.establishIdentity() else { f.dirty = false; return 0 }
            files.claim(key, for: f)
        }
        let size = f.refreshSize()
        if size < f.framer.position {
            truncated(f, reason: "size \(size) is below the read offset \(f.framer.position)")
            return 0
        }
        if f.framer.position >= size {
            f.dirty = false
            flushStaleGroup(f)
            return 0
        }
        let want = Int(min(UInt64(limit), size - f.framer.position))
        let n = f.read(into: readBuffer.baseAddress!, count: want, at: f.framer.position)
        guard n > 0 else {
            if n < 0 { events.readFailed(f.path, errno: errno) }
            f.dirty = false
            return 0
        }
        guard let key = f.identity else { return 0 }
        let plain = f.source(truncated: false)
        let cut = f.source(truncated: true)
        var truncatedRecords: UInt64 = 0
        let auditHead = config.truncatedAuditHeadBytes
        f.framer.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])) { record in
            var record = record
            if record.truncated {
                truncatedRecords += 1
                // The aggregator cannot store half an audit event; its head is enough to say which.
                if f.kind == .auditLine, record.bytes.count > auditHead {
                    record.bytes = UnsafeRawBufferPointer(rebasing: record.bytes[0..<auditHead])
                }
            }
            // Sealed before a record would take the batch past its size, not after: the
            // buffer reserved for a batch then never doubles (a 2 MiB mapping and a copy of the
            // first megabyte, every batch).
            if !builder.isEmpty && builder.bytes + record.bytes.count + WireFormat.maxRecordHeadBytes > config.maxBatchBytes {
                sealIfDue(force: true)
            }
            builder.add(record.truncated ? cut : plain, key: key, record: record)
            if builder.bytes >= config.maxBatchBytes { sealIfDue(force: true) }
        }
        if truncatedRecords > 0 {
            events.linesCut(f.path, cap: f.framer.maxRecordBytes, count: truncatedRecords)
        }
        events.read(bytes: n)
        if f.framer.position >= size { f.dirty = false }
        return n
    }

    /// A `P` group whose `F` never came: after the merge age (or once a rotated file is idle)
    /// it is sent as it is rather than held forever.
    func flushStaleGroup(_ f: TailedFile) {
        guard f.framer.hasOpenGroup, let key = f.identity else { return }
        let idle = monotonicSeconds() - f.lastChange
        guard idle >= config.maxMergeAge || ((f.rotated || f.deleted) && idle >= config.rotatedIdle) else { return }
        let plain = f.source(truncated: false)
        let flushed = f.framer.flushOpenGroup { record in builder.add(plain, key: key, record: record) }
        if flushed { events.openGroupFlushed() }
    }
}
