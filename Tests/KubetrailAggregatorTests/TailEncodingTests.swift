import Testing

@testable import KubetrailAggregator

/// `Accept-Encoding` as RFC 9110 §12.5.3 reads it: names in any case, weights, `*`, and q=0 as a refusal.
@Suite struct TailEncodingTests {
    @Test func zstdIsSentOnlyToClientsThatAcceptIt() {
        let cases: [(String?, TailEncoding)] = [
            (nil, .identity),
            ("", .identity),
            ("gzip, deflate", .identity),
            ("zstd", .zstd),
            ("deflate, gzip, br, zstd", .zstd),  // curl --compressed
            ("ZSTD;Q=0.5", .zstd),
            ("gzip;q=1.0, zstd ; q=0.001", .zstd),
            ("zstd;q=0", .identity),
            ("zstd;q=0.0, *", .identity),  // named beats the wildcard
            ("*", .zstd),
            ("*;q=0", .identity),
            ("gzip, *;q=0.1", .zstd),
            ("zstd;q=abc", .identity),  // a weight that is not a number counts as 0
            (",,;, zstd", .zstd),
            ("zstdx, xzstd", .identity)
        ]
        for (header, expected) in cases {
            #expect(TailEncoding.negotiate(header) == expected, "\(header ?? "nil")")
        }
    }

    /// Each frame decodes on its own, so frames end at whole bytes and start with zstd's magic.
    @Test func framesAreWholeAndSmallerForRepeatedText() {
        let text = Array(String(repeating: "{\"verb\":\"get\",\"user\":\"system:kube-scheduler\"}\n", count: 1000).utf8)
        let frame = ZstdFrames.shared.frame(text)
        #expect(Array(frame.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
        #expect(frame.count * 20 < text.count)
        #expect(Array(TailEncoding.zstd.heartbeat.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])
        #expect(TailEncoding.identity.encode(text) == text)
        #expect(ZstdFrames.shared.frame([]).count > 0, "an empty frame is still a frame")
    }
}
