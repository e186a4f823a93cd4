import Foundation
import Testing
import TestSupport
@testable import KubetrailAgent

@Suite struct AgentConfigTests {
    @Test func theReadmeAgentBlockParsesAndMeansWhatItSays() throws {
        let readme = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```hcl\nagent {"))
        let end = try #require(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let block = String(readme[readme.index(start.lowerBound, offsetBy: 7)..<end.lowerBound])
        let dir = try TemporaryDirectory()
        let path = try dir.write("agent.tpc", "connection \"kubernetes\" {\n  namespace = \"*\"\n}\n" + block)
        var config = AgentConfiguration()
        try AgentConfigFile.apply(path: path, to: &config)
        #expect(config.aggregatorURL == "https://kubetrail-aggregator.kubetrail.svc:8443")
        #expect(config.ingestURL == "https://kubetrail-aggregator.kubetrail.svc:8443/v1/ingest")
        #expect(config.tokenFile == "/etc/kubetrail/ingest.token")
        #expect(config.auditPaths == ["/var/log/kubernetes/audit/*.log"])
        #expect(config.namespaces.allows("shop") && !config.namespaces.allows("kube-node-lease"))
        #expect(config.batchAge == 1)
    }

    @Test func unknownOptionsAndWrongTypesNameTheFileAndLine() throws {
        let dir = try TemporaryDirectory()
        var config = AgentConfiguration()
        let typo = try dir.write("a.tpc", "agent {\n  aggregator = \"http://x\"\n  batch_wiat = \"1s\"\n}\n")
        #expect(throws: AgentConfigurationError.self) { try AgentConfigFile.apply(path: typo, to: &config) }
        do { try AgentConfigFile.apply(path: typo, to: &config) } catch {
            #expect("\(error)" == "\(typo):3: unknown option batch_wiat in the agent block")
        }
        let wrong = try dir.write("b.tpc", "agent {\n  audit_paths = 5\n}\n")
        do { try AgentConfigFile.apply(path: wrong, to: &config); Issue.record("accepted a number as paths") } catch {
            #expect("\(error)".hasPrefix("\(wrong):2: audit_paths must be a list of strings"))
        }
    }

    @Test func theFileTakesTheSameDurationsAsTheFlags() throws {
        let dir = try TemporaryDirectory()
        var config = AgentConfiguration()
        try AgentConfigFile.apply(path: try dir.write("a.tpc", "agent {\n  batch_wait = \"250ms\"\n  rescan_interval = \"1m30s\"\n}\n"), to: &config)
        #expect(config.batchAge == 0.25 && config.rescanInterval == 90)
    }

    /// A bad value from the environment is a usage error that names the variable.
    @Test func aBadVariableNamesItself() throws {
        for (name, value, message) in [
            ("KUBETRAIL_BACKOFF", "soon", "KUBETRAIL_BACKOFF must be START,CAP such as 1s,30s, got soon"),
            ("KUBETRAIL_BATCH_WAIT", "a while", "KUBETRAIL_BATCH_WAIT must be seconds or a duration"),
            ("KUBETRAIL_MAX_SPOOL_BYTES", "-1", "KUBETRAIL_MAX_SPOOL_BYTES must be a whole number (0 or more), got -1")
        ] {
            let r = try Subprocess.run(
                Subprocess.productURL("kubetrail-agent"), ["--aggregator", "http://127.0.0.1:1", "--node-name", "n", "--no-containers"],
                environment: [name: value])
            #expect(r.status != 0 && r.stderr.contains(message), "\(name): \(r.stderr)")
        }
    }

    @Test func validationSaysWhatIsMissing() {
        var config = AgentConfiguration()
        #expect(throws: AgentConfigurationError.self) { try config.validate() }  // no aggregator
        config.aggregatorURL = "http://127.0.0.1:1"
        #expect(throws: AgentConfigurationError.self) { try config.validate() }  // no node name
        config.nodeName = "n"
        #expect(throws: Never.self) { try config.validate() }
    }

    @Test func fileNamesAreRecognised() {
        #expect(LogFileNames.isLumberjackBackup("audit-2026-11-27T10-30-45.123.log"))
        #expect(!LogFileNames.isLumberjackBackup("audit.log"))
        #expect(!LogFileNames.isLumberjackBackup("kube-apiserver-audit-x.log"))
        #expect(LogFileNames.isLiveContainerLog("0.log") && LogFileNames.isLiveContainerLog("12.log"))
        #expect(LogFileNames.isRotatedContainerLog("0.log.20261127-103045"))
        #expect(!LogFileNames.isRotatedContainerLog("0.log.20261127-103045.gz"))
        #expect(LogFileNames.isNeverRead("0.log.20261127-103045.gz") && LogFileNames.isNeverRead("audit-2026-11-27T10-30-45.123.log.gz"))
        let link = LogFileNames.containerLink("web-1_shop_app-" + String(repeating: "ab", count: 32) + ".log")
        #expect(link?.namespace == "shop" && link?.containerID.count == 64)
        #expect(LogFileNames.containerLink("web-1_shop_app.log") == nil)
        #expect(NamespaceFilter(include: "shop, kube-*", exclude: "kube-system").allows("kube-public"))
        #expect(!NamespaceFilter(include: "shop, kube-*", exclude: "kube-system").allows("kube-system"))
        #expect(!NamespaceFilter(include: "shop").allows("billing"))
    }
}

@Suite struct ManifestAgentConfigTests {
    @Test func theConfigMapsAgentBlockParsesAndPointsIntoTheMounts() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("agent.tpc", try Manifests.configMapEntry("agent.tpc"))
        var config = AgentConfiguration()
        try AgentConfigFile.apply(path: path, to: &config)
        #expect(config.aggregatorURL == "https://kubetrail-aggregator.kubetrail.svc:8443")
        // Both DaemonSets (workers, control plane) run the same configuration.
        for manifest in ["agent.yaml", "agent-control-plane.yaml"] {
            let mounts = try Manifests.mountPaths(manifest)
            for file in [config.tokenFile, config.caFile].compactMap({ $0 }) + [config.stateDirectory + "/", config.podsDirectory + "/"] + config.auditPaths {
                #expect(mounts.contains { file.hasPrefix($0 + "/") }, "\(file) is not under a mount of \(manifest): \(mounts)")
            }
        }
        // Only the control plane's DaemonSet holds the token that may ship audit lines.
        let workers = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("manifests/base/agent.yaml"), encoding: .utf8)
        let controlPlane = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("manifests/base/agent-control-plane.yaml"), encoding: .utf8)
        #expect(workers.contains("- key: worker.token") && !workers.contains("- key: ingest.token") && workers.contains("operator: DoesNotExist"))
        #expect(controlPlane.contains("- key: ingest.token") && controlPlane.contains("operator: Exists"))
    }
}
