/// Batch-sized record buffers the compressor hands back once a batch is deflated, for the next
/// batch to fill. A fresh megabyte per batch is mapped, faulted in a page at a time and unmapped
/// again: about 5 % of the agent's CPU. When no batch was begun for a while the pool lets its
/// buffers go, so an idle agent holds none.
final class BatchBufferPool: @unchecked Sendable {
    private let monitor = Monitor()
    private var buffers: [[UInt8]] = []
    private let limit: Int
    /// A buffer grown past this (a batch holding a near-16 MiB audit event) is not kept.
    private let maxBytes: Int
    private var lastTake = monotonicSeconds()

    init(limit: Int = 3, maxBytes: Int) {
        self.limit = limit
        self.maxBytes = maxBytes
    }

    var count: Int { monitor.locked { buffers.count } }

    func take() -> [UInt8]? {
        monitor.locked {
            lastTake = monotonicSeconds()
            return buffers.popLast()
        }
    }

    /// Keeps `buffer`'s storage (emptied) for a later batch; `buffer` is left empty.
    func give(_ buffer: inout [UInt8]) {
        guard buffer.capacity > 0, buffer.capacity <= maxBytes else {
            buffer = []
            return
        }
        buffer.removeAll(keepingCapacity: true)
        monitor.locked {
            if buffers.count < limit { buffers.append(buffer) }
        }
        buffer = []
    }

    /// Lets every buffer go when none was taken for `seconds`; true when it did.
    func trim(ifIdleFor seconds: Double) -> Bool {
        monitor.locked {
            guard !buffers.isEmpty, monotonicSeconds() - lastTake >= seconds else { return false }
            buffers = []
            return true
        }
    }
}
