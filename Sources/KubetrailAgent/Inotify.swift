#if canImport(Glibc)
import Glibc
#endif

/// inotify on directories (discovery, rotation, deletion) and files (appends), read without
/// blocking. An overflowed queue is reported as such, so the agent rescans instead of trusting
/// a stream it knows has gaps.
public final class Inotify {
    public struct Event: Equatable, Sendable {
        public struct Kind: OptionSet, Sendable, Hashable {
            public let rawValue: UInt32
            public init(rawValue: UInt32) { self.rawValue = rawValue }
            public static let modified = Kind(rawValue: UInt32(IN_MODIFY))
            public static let created = Kind(rawValue: UInt32(IN_CREATE))
            public static let deleted = Kind(rawValue: UInt32(IN_DELETE))
            public static let movedFrom = Kind(rawValue: UInt32(IN_MOVED_FROM))
            public static let movedTo = Kind(rawValue: UInt32(IN_MOVED_TO))
            public static let selfDeleted = Kind(rawValue: UInt32(IN_DELETE_SELF))
            public static let attributes = Kind(rawValue: UInt32(IN_ATTRIB))
            public static let overflow = Kind(rawValue: UInt32(IN_Q_OVERFLOW))
            public static let ignored = Kind(rawValue: UInt32(IN_IGNORED))
        }

        public var watch: Int32
        public var kind: Kind
        /// The entry's name inside a watched directory (empty for events on the watch itself).
        public var name: String
        /// Pairs a MOVED_FROM with its MOVED_TO (a rename within watched directories).
        public var cookie: UInt32
    }

    public let fd: Int32

    public init() throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw AgentIOError(operation: "inotify_init1", errno: errno) }
    }

    deinit { close(fd) }

    /// Watches a directory for entries appearing, leaving and being renamed.
    public func watchDirectory(_ path: String) throws -> Int32 {
        try add(path, UInt32(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR))
    }

    /// Watches a file for appends and changes (truncation shows as modify with a smaller size).
    public func watchFile(_ path: String) throws -> Int32 {
        try add(path, UInt32(IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF))
    }

    public func remove(_ watch: Int32) { inotify_rm_watch(fd, watch) }

    private func add(_ path: String, _ mask: UInt32) throws -> Int32 {
        let w = inotify_add_watch(fd, path, mask)
        guard w >= 0 else { throw AgentIOError(operation: "inotify_add_watch", path: path, errno: errno) }
        return w
    }

    /// Waits up to `timeout` seconds for events and returns what is queued.
    public func read(timeout: Double) throws -> [Event] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&p, 1, Int32(timeout * 1000))
        if ready < 0 {
            if errno == EINTR { return [] }
            throw AgentIOError(operation: "poll", errno: errno)
        }
        guard ready > 0 else { return [] }
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                throw AgentIOError(operation: "read inotify", errno: errno)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                let header = MemoryLayout<inotify_event>.size  // 16: the flexible name[] is not imported
                while offset + header <= n {
                    let wd = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let cookie = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                    let len = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    var name = ""
                    if len > 0, offset + header + len <= n {
                        let bytes = UnsafeRawBufferPointer(rebasing: raw[(offset + header)..<(offset + header + len)])
                        name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    events.append(Event(watch: wd, kind: Event.Kind(rawValue: mask), name: name, cookie: cookie))
                    offset += header + len
                }
            }
        }
        return events
    }
}
