import Foundation
import KubetrailCore
import Testing
import TestSupport
@testable import KubetrailAgent

/// In-process, in the manner of Vector's file-source model test: one container log file driven
/// through seeded random writes (whole lines, CRI P…F groups, a line written in two parts),
/// reads in random chunk sizes through `TailedFile` and `RecordFramer`, acknowledgements of
/// random prefixes into `Checkpoints`, and restarts that resume from the checkpoint as saved on
/// disk. The acknowledged records must be the model's records, each once, in order.
@Suite struct TailingModelTests {
    struct Expected: Equatable {
        var offset: UInt64
        var text: String
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func acknowledgedRecordsAreTheWrittenOnesExactlyOnce(seed: UInt64) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("0.log", "")
        let checkpointPath = dir.path("checkpoints")
        var random = SplitMix64(seed: seed)
        var expected: [Expected] = []
        var size: UInt64 = 0
        var unfinished: String?  // a line written without its newline yet
        let writer = try #require(FileHandle(forWritingAtPath: path))
        func write(_ text: String) {
            writer.seekToEndOfFile()
            writer.write(Data(text.utf8))
            size += UInt64(text.utf8.count)
        }
        func line(_ n: Int, _ tag: String) -> String {
            "2026-12-06T00:00:00.\(String(format: "%09d", n))Z stdout \(tag) " + String(repeating: "x", count: Int(random.next() % 200)) + " \(n)"
        }

        func open() throws -> TailedFile {
            let fd = Glibc.open(path, O_RDONLY)
            #expect(fd >= 0)
            var st = stat()
            fstat(fd, &st)
            return TailedFile(
                kind: .containerLogLine, fd: fd, deviceInode: DeviceInode(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)), path: path,
                maxRecordBytes: 1 << 20)
        }
        var file = try open()
        var checkpoints = Checkpoints(path: checkpointPath)
        let key = "model"
        var pending: [Expected] = []  // framed, not acknowledged
        var acknowledged: [Expected] = []
        var n = 0
        for _ in 0..<400 {
            switch random.next() % 10 {
            case 0, 1, 2:
                if let start = unfinished {
                    // The rest of a line the writer had begun.
                    write(" end\n")
                    expected.append(Expected(offset: size - UInt64((start + " end\n").utf8.count), text: start + " end"))
                    unfinished = nil
                    continue
                }
                let count = 1 + Int(random.next() % 5)
                for _ in 0..<count {
                    n += 1
                    let text = line(n, "F")
                    expected.append(Expected(offset: size, text: text))
                    write(text + "\n")
                }
            case 3:
                guard unfinished == nil else { continue }
                // A long line the runtime split: P pieces, then the F.
                let pieces = (0...Int(random.next() % 3)).map { _ -> String in
                    n += 1; return line(n, "P")
                }
                n += 1
                let group = (pieces + [line(n, "F")]).joined(separator: "\n")
                expected.append(Expected(offset: size, text: group))
                write(group + "\n")
            case 4:
                guard unfinished == nil else { continue }
                n += 1
                unfinished = line(n, "F")
                write(unfinished!)
            case 5, 6, 7:
                // Read a chunk of random size where the framer is.
                file.refreshSize()
                let want = 1 + Int(random.next() % 700)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: want, alignment: 1)
                defer { buffer.deallocate() }
                let got = file.read(into: buffer.baseAddress!, count: want, at: file.framer.position)
                guard got > 0 else { continue }
                file.framer.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<got])) { record in
                    pending.append(Expected(offset: record.offset, text: String(decoding: record.bytes, as: UTF8.self)))
                }
            case 8:
                // The aggregator acknowledges the oldest few.
                let count = Int(random.next() % UInt64(pending.count + 1))
                for record in pending.prefix(count) {
                    acknowledged.append(record)
                    let end = record.offset + UInt64(record.text.utf8.count) + 1
                    file.acked = end
                    checkpoints.advance(key, path: path, to: end) { file.bytes(at: $0, count: $1) }
                }
                pending.removeFirst(count)
            default:
                // A restart: what was read but not acknowledged is read again, from the checkpoint on disk.
                try checkpoints.save()
                checkpoints = Checkpoints(path: checkpointPath)
                file = try open()
                file.refreshSize()
                let resume = checkpoints.resumeOffset(for: key, size: file.size) { file.bytes(at: $0, count: $1) }
                #expect(!resume.truncated)
                file.framer.reset(to: resume.offset)
                file.acked = resume.offset
                pending = []
            }
        }
        // The end: the writer finishes its line, everything is read and acknowledged.
        if let start = unfinished {
            write(" end\n")
            expected.append(Expected(offset: size - UInt64((start + " end\n").utf8.count), text: start + " end"))
        }
        file.refreshSize()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        while file.framer.position < file.size {
            let got = file.read(into: buffer.baseAddress!, count: 4096, at: file.framer.position)
            file.framer.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<got])) { record in
                pending.append(Expected(offset: record.offset, text: String(decoding: record.bytes, as: UTF8.self)))
            }
        }
        acknowledged += pending
        #expect(acknowledged.count == expected.count)
        #expect(acknowledged == expected, "seed \(seed)")
        #expect(file.framer.committed == size)
    }
}
