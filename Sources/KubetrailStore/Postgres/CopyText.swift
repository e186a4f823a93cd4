import Foundation

/// COPY's text format, as kubetrail writes rows (`COPY … FROM STDIN`): cells split by tabs,
/// rows ended by newlines, NULL as `\N`, and backslash, tab, newline and carriage return
/// escaped with a backslash. (Scans read the binary format: `CopyBinary`.)
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
}
