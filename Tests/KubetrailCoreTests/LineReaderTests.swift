import Foundation
import Testing
import TestSupport
@testable import KubetrailCore

func readLines(_ source: ByteSource, max: Int = 1 << 20, chunk: Int = 4096) throws -> [String] {
    var out: [String] = []
    try LineReader(source, maxLineBytes: max, chunkSize: chunk).forEach { item in
        switch item {
        case .line(let b, let n, let off): out.append("\(n)@\(off):\(String(decoding: b, as: UTF8.self))")
        case .oversized(let n, let off, let len): out.append("\(n)@\(off):OVERSIZED(\(len))")
        }
        return true
    }
    return out
}

@Suite struct LineReaderTests {
    @Test func linesOffsetsAndMissingFinalNewline() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("a.log", "one\ntwo\n\nthree")
        #expect(try readLines(FileDescriptorSource(path: path)) == ["1@0:one", "2@4:two", "3@8:", "4@9:three"])
    }

    @Test func oversizedLineIsSkippedInConstantMemory() throws {
        let dir = try TemporaryDirectory()
        let huge = String(repeating: "x", count: 300_000)
        let path = try dir.write("a.log", "before\n\(huge)\nafter\n\(huge)")
        let lines = try readLines(FileDescriptorSource(path: path), max: 10_000, chunk: 4096)
        #expect(lines == ["1@0:before", "2@7:OVERSIZED(300000)", "3@300008:after", "4@300014:OVERSIZED(300000)"])
    }

    @Test func linesSpanningManyChunksAreWhole() throws {
        let dir = try TemporaryDirectory()
        var text = ""
        for i in 0..<2000 { text += String(repeating: Character(UnicodeScalar(97 + i % 26)!), count: i % 700) + "\n" }
        let path = try dir.write("a.log", text)
        let lines = try readLines(FileDescriptorSource(path: path), chunk: 4096)
        #expect(lines.count == 2000)
        let got: [String] = lines.map { line in
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count > 1 ? String(parts[1]) : ""
        }
        let want: [String] = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(got == want)
    }

    @Test func gzipIncludingConcatenatedMembers() throws {
        let dir = try TemporaryDirectory()
        let a = try Deflater(level: 6, gzip: true).compress(Array("first\nsecond\n".utf8))
        let b = try Deflater(level: 1, gzip: true).compress(Array("third\n".utf8))
        let path = try dir.write("a.log.gz", Data(a + b))
        let raw = try FileDescriptorSource(path: path)
        #expect(try readLines(GzipSource(raw, path: path)) == ["1@0:first", "2@6:second", "3@13:third"])
    }

    @Test func truncatedGzipIsAnErrorAfterTheGoodLines() throws {
        let dir = try TemporaryDirectory()
        let body = (0..<5000).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let gz = try Deflater(level: 6, gzip: true).compress(Array(body.utf8))
        let path = try dir.write("a.log.gz", Data(gz.prefix(gz.count / 2)))
        var seen = 0
        #expect(throws: IOError.self) {
            try LineReader(GzipSource(FileDescriptorSource(path: path), path: path)).forEach { _ in
                seen += 1; return true
            }
        }
        #expect(seen > 100)
    }

    @Test func zlibRoundTripAndBombLimit() throws {
        let text = Array(String(repeating: "kubetrail ", count: 100_000).utf8)
        let z = try Deflater(level: 1).compress(text)
        #expect(try Inflater.inflate(z, format: .zlib) == text)
        #expect(throws: ZlibError.self) { try Inflater.inflate(z, format: .zlib, limit: 10_000) }
        #expect(throws: ZlibError.self) { try Inflater.inflate(Array(z.prefix(10)), format: .zlib) }
    }
}
