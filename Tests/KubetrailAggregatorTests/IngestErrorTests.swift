import Foundation
import KubetrailCore
import Testing
import TestSupport

@Suite(.serialized) struct IngestErrorTests {
    func reason(_ r: Curl.Reply) -> String { r.json?["error"] as? String ?? "" }

    @Test func everyErrorClassHasItsStatusAndAReason() throws {
        let f = try AggregatorFixture()
        let server = try f.start(["--max-body-bytes", "2000000", "--max-inflated-bytes", "50000000"])
        defer { server.stop() }
        let good = try f.write("good.z", AggregatorFixture.fixtureBatch().deflated())

        let noToken = try Curl.request(server.baseURL + "/v1/ingest", headers: ["Content-Encoding": "deflate"], bodyFile: good)
        #expect(noToken.status == 401 && reason(noToken) == "missing bearer token")
        #expect(try f.ingest(server, file: good, token: "wrong").status == 401)
        let queryRole = try f.ingest(server, file: good, token: f.queryToken)
        #expect(queryRole.status == 403 && reason(queryRole).contains("may not ingest"))
        #expect(try f.ingest(server, file: good, encoding: nil).status == 415)
        #expect(try f.ingest(server, file: good, encoding: "gzip").status == 415)

        let garbage = try f.write("garbage.z", Array("this is not zlib at all".utf8))
        let g = try f.ingest(server, file: garbage)
        #expect(g.status == 400 && reason(g).contains("not zlib"), "\(g.body)")

        let notABatch = try f.write("nab.z", Deflater(level: 1).compress(Array("{\"json\":true}".utf8)))
        let n = try f.ingest(server, file: notABatch)
        #expect(n.status == 400 && reason(n).contains("bad magic"), "\(n.body)")

        let cut = try AggregatorFixture.fixtureBatch().deflated()
        let truncated = try f.ingest(server, file: f.write("cut.z", Array(cut.prefix(cut.count / 2))))
        #expect(truncated.status == 400, "\(truncated.body)")

        // A batch whose record declares 2 GiB: rejected from its header, nothing allocated.
        var declared: [UInt8] = Array("KTWB".utf8) + [1, 0, 1, 0x6E, 0, 1, 1, 1, 0x61, 0, 1, 0, 0]
        var v: UInt64 = 2 << 30
        while v >= 0x80 { declared.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        declared.append(UInt8(v))
        let twoGiB = try f.ingest(server, file: f.write("2g.z", Deflater(level: 1).compress(declared + Array("short".utf8))))
        #expect(twoGiB.status == 413, "\(twoGiB.body)")

        // 1 GiB of zeros deflates to about a megabyte: a bomb.
        let bomb = f.dir.path("bomb.z")
        let made = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                """
                import zlib
                c = zlib.compressobj(9)
                with open('\(bomb)', 'wb') as out:
                    chunk = bytes(1 << 20)
                    for _ in range(1024): out.write(c.compress(chunk))
                    out.write(c.flush())
                """
            ])
        #expect(made.status == 0, "\(made.stderr)")
        let zeros = try f.ingest(server, file: bomb)
        #expect(zeros.status == 400, "\(zeros.body)")  // rejected at its first inflated bytes

        // A well-formed bomb: a valid header, then 8 MiB records of zeros, 1 GiB in all.
        let validBomb = f.dir.path("valid-bomb.z")
        let madeValid = try Subprocess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                """
                import zlib
                def v(n):
                    out = bytearray()
                    while n >= 0x80:
                        out.append((n & 0x7f) | 0x80); n >>= 7
                    out.append(n); return bytes(out)
                c = zlib.compressobj(9)
                with open('\(validBomb)', 'wb') as out:
                    out.write(c.compress(b'KTWB' + bytes([1, 0]) + v(1) + b'n' + v(0) + v(1) + bytes([1]) + v(2) + b'/a' + v(1) + b'x' + v(128)))
                    record = bytes(8 << 20)
                    for i in range(128):
                        out.write(c.compress(v(0) + v(i * ((8 << 20) + 1)) + v(8 << 20)))
                        out.write(c.compress(record))
                    out.write(c.flush())
                """
            ])
        #expect(madeValid.status == 0, "\(madeValid.stderr)")
        let b = try f.ingest(server, file: validBomb)
        #expect(b.status == 413, "\(b.body)")

        let big = try f.write("big.z", (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761) })
        #expect(try f.ingest(server, file: big).status == 413)

        let get = try Curl.request(server.baseURL + "/v1/ingest", method: "GET", headers: ["Authorization": "Bearer \(f.ingestToken)"])
        #expect(get.status == 405)
        #expect(try Curl.request(server.baseURL + "/v1/nothing", method: "GET").status == 404)

        // After all that, the server still works and stored nothing from the bad requests.
        #expect(try f.ingest(server, file: good).status == 200)
        #expect(try f.count("SELECT COUNT(*) FROM kubernetes_audit_logs") == 100)
    }
}
