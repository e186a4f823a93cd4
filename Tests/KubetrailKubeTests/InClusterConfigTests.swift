import Foundation
import Testing
import TestSupport
@testable import KubetrailKube

private final class FakeClock: @unchecked Sendable {
    var now = 1000.0
}

@Suite struct InClusterConfigTests {
    @Test func theServiceAccountIsFoundAsClientGoFindsIt() throws {
        let dir = try TemporaryDirectory()
        let sa = dir.path("sa")
        let env = ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"]
        #expect(!InClusterConfig.isPossible(environment: env, directory: sa))  // no token yet
        try dir.write("sa/token", "tok-1\n")
        try dir.write("sa/ca.crt", "pem")
        try dir.write("sa/namespace", "kubetrail\n")
        #expect(!InClusterConfig.isPossible(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], directory: sa))
        let c = try InClusterConfig.connection(environment: env, directory: sa)
        #expect(c.server == "https://[fd00::1]:443")
        #expect(c.namespace == "kubetrail")
        #expect(c.certificateAuthority == .file(sa + "/ca.crt"))
        #expect(c.tokenFile == sa + "/token")
        #expect(try InClusterConfig.connection(environment: env.merging(["POD_NAMESPACE": "ops"]) { a, _ in a }, directory: sa).namespace == "ops")
    }

    @Test func tokensAreReReadAfterAMinuteOrA401AndABadReadKeepsTheOldOne() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("token", "tok-1\n")
        let clock = FakeClock()
        let source = FileTokenSource(path: path, clock: { clock.now })
        #expect(try source.current() == "tok-1")
        try dir.write("token", "tok-2\n")
        #expect(try source.current() == "tok-1")  // cached
        clock.now += 51
        #expect(try source.current() == "tok-2")
        try dir.write("token", "")
        clock.now += 51
        #expect(try source.current() == "tok-2")  // an empty file keeps the previous token
        try dir.write("token", "tok-3")
        source.refused()
        #expect(try source.current() == "tok-3")
        #expect(throws: KubeconfigError.self) { try FileTokenSource(path: dir.path("absent")).current() }
    }
}
