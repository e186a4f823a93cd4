import Foundation
import Testing
import TestSupport
@testable import KubetrailCore

@Suite struct HCLTests {
    /// Every `hcl` block of the product README, as written there.
    static func readmeBlocks() throws -> [String] {
        let readme = try String(contentsOf: Fixtures.root.deletingLastPathComponent().appendingPathComponent("product-readme.md"), encoding: .utf8)
        return readme.components(separatedBy: "```hcl\n").dropFirst().map { $0.components(separatedBy: "```").first ?? "" }
    }

    @Test func everyReadmeBlockParsesAndMeansWhatItSays() throws {
        let blocks = try Self.readmeBlocks()
        #expect(blocks.count == 3)
        let first = try HCL.parse(blocks[0], file: "readme-1.tpc")
        let connection = try #require(first.blocks.first)
        #expect(connection.type == "connection" && connection.labels == ["kubernetes"])
        #expect(connection.attribute("kubeconfig_path")?.value == .string("~/.kube/config"))
        #expect(connection.attribute("namespace")?.value == .string("*"))
        #expect(connection.attribute("follow_logs")?.value == .bool(true))
        #expect(connection.attribute("since_time")?.value == .string("1h"))
        let source = try #require(try HCL.parse(blocks[1], file: "readme-2.tpc").blocks.first)
        #expect(source.type == "source" && source.labels == ["kubernetes_audit_logs"])
        #expect(
            source.attribute("audit_log_paths")?.value == .list([.string("/var/log/audit/kube/kube-apiserver.log"), .string("/var/log/kube-audit/audit.log")]))
        let third = try HCL.parse(blocks[2], file: "readme-3.tpc")
        #expect(third.blocks.map(\.type) == ["connection", "source"])
        #expect(third.blocks[0].attribute("cluster_name")?.value == .string("talos"))
        #expect(third.blocks[1].attribute("api_only")?.value == .bool(true))
        #expect(third.blocks[0].attribute("service_account") == nil)  // commented out in the README
    }

    @Test func valuesCommentsAndNesting() throws {
        let doc = try HCL.parse(
            """
            /* header */
            top = 1.5 // trailing
            aggregator {
              listen = "0.0.0.0:8443"   # note
              ports  = [1, 2,
                        3,]
              labels = { team = "sre", "tier": "db" }
              retention {
                kubernetes_pod_logs = "14d"
              }
              escaped = "a\\"b\\n"
            }
            """, file: "x.tpc")
        #expect(doc.attributes.first?.value == .number(1.5))
        let agg = doc.blocks[0]
        #expect(agg.attribute("ports")?.value == .list([.number(1), .number(2), .number(3)]))
        #expect(agg.attribute("labels")?.value == .object([("team", .string("sre")), ("tier", .string("db"))]))
        #expect(agg.blocks[0].attribute("kubernetes_pod_logs")?.line == 9)
        #expect(agg.attribute("escaped")?.value == .string("a\"b\n"))
    }

    @Test(arguments: [
        ("a = \"open\n", 1, "string not closed"),
        ("b {\n  c = 1\n", 3, "block not closed"),
        ("x = \"${var.y}\"", 1, "interpolation"),
        ("\n\ny = yes", 3, "unknown value yes"),
        ("z = 1 2", 1, "unexpected '2'"),
        ("}", 1, "unexpected '}'"),
        ("/* never closed", 1, "comment not closed"),
        ("k = <<EOF\nx\nEOF", 1, "heredoc")
    ])
    func errorsNameTheLine(text: String, line: Int, message: String) {
        do {
            _ = try HCL.parse(text, file: "bad.tpc")
            Issue.record("parsed: \(text)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.description.hasPrefix("bad.tpc:\(line): "))
            #expect(error.message.contains(message), "\(error)")
        }
    }
}
