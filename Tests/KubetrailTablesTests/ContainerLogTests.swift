import Foundation
import Testing
import TestSupport
@testable import KubetrailTables

func assemble(_ text: String, max: Int = 1 << 20) throws -> [ContainerLogAssembler.Record] {
    var a = ContainerLogAssembler(maxMessageBytes: max)
    var out: [ContainerLogAssembler.Record] = []
    var offset: Int64 = 0
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
        if let r = a.add(try ContainerLogLine.parse(String(line)), offset: offset, lineNumber: i + 1) { out.append(r) }
        offset += Int64(line.utf8.count + 1)
    }
    return out + a.finish()
}

@Suite struct ContainerLogTests {
    @Test func criPartialJoinsWithItsFinal() throws {
        let records = try assemble(Fixtures.text("container-logs/otel_examples_crio_0.log"))
        #expect(records.count == 5)
        #expect(records[2].message == "example: 13 (part of log) Tue Feb 16 08:59:33 UTC 2021example: 13 (end of log) Tue Feb 16 08:59:33 UTC 2021")
        #expect(records[2].lineNumber == 3)
        #expect(records.allSatisfy { !$0.incomplete && !$0.truncated })
    }

    @Test func dockerSplitLinesJoin() throws {
        let records = try assemble(Fixtures.text("container-logs/fluentbit-docker-json/tail_dockermode_splitted_line.log"))
        #expect(records.map(\.message) == ["2020-03-24 Single line", "2020-03-24 Another single line"])
        let multi = try assemble(Fixtures.text("container-logs/fluentbit-docker-json/tail_dockermode_splitted_multiple_lines.log"))
        #expect(
            multi.map(\.message) == [
                "2020-03-24 Multiple lines: ", "first bullet point", "second bullet point",
                "third bullet point", "fourth bullet point", "2020-03-24 Single line"
            ])
    }

    @Test func interleavedStreamsJoinSeparately() throws {
        let text = """
            2026-01-01T00:00:00Z stdout P out-a
            2026-01-01T00:00:00Z stderr P err-a
            2026-01-01T00:00:01Z stdout F out-b
            2026-01-01T00:00:01Z stderr F err-b
            """
        let records = try assemble(text)
        #expect(records.map(\.message) == ["out-aout-b", "err-aerr-b"])
        #expect(records.map(\.offset) == [0, 36])
    }

    @Test func overlongJoinIsTruncatedAndFlagged() throws {
        let piece = String(repeating: "é", count: 100)  // 200 bytes
        let text = (0..<10).map { "2026-01-01T00:00:00Z stdout \($0 == 9 ? "F" : "P") \(piece)" }.joined(separator: "\n")
        let records = try assemble(text, max: 1001)
        #expect(records.count == 1)
        #expect(records[0].truncated)
        #expect(records[0].message.utf8.count <= 1001)
        #expect(records[0].message.utf8.count >= 999)
    }

    @Test func openPartialAtEndIsKeptAsIncomplete() throws {
        let records = try assemble("2026-01-01T00:00:00Z stdout F done\n2026-01-01T00:00:01Z stdout P never finished")
        #expect(records.map(\.message) == ["done", "never finished"])
        #expect(records.map(\.incomplete) == [false, true])
    }

    @Test func kubeletPathsYieldPodIdentity() {
        let pods = ContainerLogPath(path: "/var/log/pods/kube-system_kube-apiserver-cp1_0f1e2d3c-aaaa-bbbb-cccc-123456789abc/kube-apiserver/3.log")
        #expect(
            pods
                == ContainerLogPath(
                    namespace: "kube-system", podName: "kube-apiserver-cp1",
                    podUID: "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", containerName: "kube-apiserver", restartCount: 3))
        let rotated = ContainerLogPath(path: "/var/log/pods/ns_p_uid/c/0.log.20260101-101010.gz")
        #expect(rotated.restartCount == 0 && rotated.podName == "p")
        let id = String(repeating: "ab", count: 32)
        let link = ContainerLogPath(path: "/var/log/containers/coredns-5d78c9869d-abcde_kube-system_coredns-\(id).log")
        #expect(link == ContainerLogPath(namespace: "kube-system", podName: "coredns-5d78c9869d-abcde", containerName: "coredns", containerID: id))
        #expect(ContainerLogPath(path: "/tmp/app.log") == ContainerLogPath())
    }

    @Test func podLogRowsCarryIdentityLevelAndStableIds() throws {
        let records = try assemble(Fixtures.text("container-logs/otel_examples_crio_0.log"))
        let n = PodLogNormalizer(
            context: IngestContext(clusterName: "c1", sourceType: .containerFile), path: ContainerLogPath(namespace: "ns", podName: "p", podUID: "u"),
            nodeName: "node-1", fileIdentity: "fp")
        let rows = records.map(n.row)
        #expect(Set(rows.map(\.common.id)).count == 5)
        #expect(rows.map(\.common.id) == records.map(n.row).map(\.common.id))
        #expect(rows[0].common.index == "c1")
        #expect(rows[0].values.count == PodLogRow.schema.columns.count)
        #expect(rows[0].timestamp.iso8601 == "2021-02-16T08:59:31.252009Z")
    }
}
