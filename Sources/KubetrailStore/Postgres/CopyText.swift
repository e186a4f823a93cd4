import Foundation

/// PostgreSQL's COPY text format, both ways: cells separated by tabs, a row ended by a
/// newline, NULL as `\N`, and a backslash before `b f n r t v`, a backslash, or (read only)
/// octal and hex codes. kubetrail writes rows this way (`COPY … FROM STDIN`) and reads its
/// scans this way (`COPY … TO STDOUT`).
enum CopyText {
    static func append(_ row: [String?], to out: inout [UInt8]) {
        for (i, value) in row.enumerated() {
            if i > 0 { out.append(UInt8(ascii: "\t")) }
            guard let value else {
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "N")])
                continue
            }
            for b in value.utf8 {
                switch b {
                case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default: out.append(b)
                }
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// Splits one line (with its newline) into `columns` cells, unescaping each in place (a
    /// cell never grows when unescaped). False when the line has another number of cells.
    static func split(_ line: UnsafeMutableRawBufferPointer, into cells: UnsafeMutableBufferPointer<PostgresCell>, columns: Int) -> Bool {
        guard let base = line.baseAddress, columns > 0 else { return false }
        var end = line.count
        if end > 0, line[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        var start = 0, i = 0
        while true {
            let rest = end - start
            let tab = rest > 0 ? memchr(base + start, Int32(UInt8(ascii: "\t")), rest) : nil
            let stop = tab.map { base.distance(to: UnsafeMutableRawPointer($0)) } ?? end
            guard i < columns else { return false }
            cells[i] = cell(base + start, count: stop - start)
            i += 1
            guard tab != nil else { break }
            start = stop + 1
        }
        return i == columns
    }

    private static func cell(_ p: UnsafeMutableRawPointer, count: Int) -> PostgresCell {
        guard count > 0, let slash = memchr(p, Int32(UInt8(ascii: "\\")), count) else { return PostgresCell(start: UnsafeRawPointer(p), count: count) }
        if count == 2, p.load(fromByteOffset: 1, as: UInt8.self) == UInt8(ascii: "N") { return PostgresCell(start: nil, count: 0) }
        let bytes = p.assumingMemoryBound(to: UInt8.self)
        var read = p.distance(to: slash), write = read
        while read < count {
            let b = bytes[read]
            read += 1
            guard b == UInt8(ascii: "\\"), read < count else { bytes[write] = b; write += 1; continue }
            let e = bytes[read]
            read += 1
            switch e {
            case UInt8(ascii: "b"): bytes[write] = 8
            case UInt8(ascii: "f"): bytes[write] = 12
            case UInt8(ascii: "n"): bytes[write] = 10
            case UInt8(ascii: "r"): bytes[write] = 13
            case UInt8(ascii: "t"): bytes[write] = 9
            case UInt8(ascii: "v"): bytes[write] = 11
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = Int(e - 48), digits = 1
                while digits < 3, read < count, bytes[read] >= 48, bytes[read] <= 55 { v = v * 8 + Int(bytes[read] - 48); read += 1; digits += 1 }
                bytes[write] = UInt8(truncatingIfNeeded: v)
            case UInt8(ascii: "x") where read < count && hex(bytes[read]) != nil:
                var v = hex(bytes[read])!
                read += 1
                if read < count, let h = hex(bytes[read]) { v = v * 16 + h; read += 1 }
                bytes[write] = v
            default: bytes[write] = e
            }
            write += 1
        }
        return PostgresCell(start: UnsafeRawPointer(p), count: write)
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 65...70: return b - 55
        case 97...102: return b - 87
        default: return nil
        }
    }
}
