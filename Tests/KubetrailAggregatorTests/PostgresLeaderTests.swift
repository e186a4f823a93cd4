import Foundation
import Testing
import TestSupport

/// Aggregators sharing PostgreSQL: one leads (pollers, digests, retention); when it dies, its
/// session's lock goes with it and another takes over. Ingest runs on all of them throughout.
@Suite(.serialized) struct PostgresLeaderTests {
    static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return try condition()
    }

    static func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func oneAggregatorLeadsAndAnotherTakesOverWhenItDies() throws {
        let f = try AggregatorFixture(.postgres)
        let (aLog, bLog) = (f.dir.path("a.log"), f.dir.path("b.log"))
        let a = try f.start(log: aLog)
        #expect(Self.waitFor(10) { Self.log(aLog).contains("leading:") }, "\(Self.log(aLog))")
        let b = try f.start(log: bLog)
        defer { b.stop() }
        // B checks every 5 s; give it two checks: it must not lead while A renews its lease.
        Thread.sleep(forTimeInterval: 6)
        #expect(!Self.log(bLog).contains("leading:"), "\(Self.log(bLog))")
        #expect(try f.ingest(b, file: f.write("b.z", AggregatorFixture.fixtureBatch().deflated())).status == 200)
        let digestsBefore = try f.count("SELECT COUNT(*) FROM kubetrail_audit_digests")
        a.kill()
        #expect(Self.waitFor(30) { Self.log(bLog).contains("leading:") }, "\(Self.log(bLog))")
        // The new leader writes the digests: a new one appears without A.
        #expect(try Self.waitFor(5) { try f.count("SELECT COUNT(*) FROM kubetrail_audit_digests") > digestsBefore })
    }
}
