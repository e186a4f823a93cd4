import Foundation

/// A throwaway certificate authority in a test's directory: EC keys and certificates made with
/// `openssl`, valid for two days. `issue` writes `NAME.key` and `NAME.pem`.
public struct TestCertificateAuthority {
    let dir: TemporaryDirectory

    /// Writes `ca.key` and `ca.pem`.
    public init(in dir: TemporaryDirectory, subject: String) throws {
        self.dir = dir
        try openssl("req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj '\(subject)'")
    }

    /// A certificate signed by this CA; `extensions` as openssl's extfile lines.
    public func issue(_ name: String, subject: String, extensions: [String]) throws {
        try dir.write("\(name).ext", extensions.joined(separator: "\n") + "\n")
        try openssl("req $ec -keyout \(name).key -out \(name).csr -subj '\(subject)'")
        try openssl("x509 -req -in \(name).csr -CA ca.pem -CAkey ca.key -CAcreateserial -out \(name).pem -days 2 -extfile \(name).ext")
    }

    /// A self-signed certificate no test CA vouches for.
    public func selfSigned(_ name: String, subject: String) throws {
        try openssl("req -x509 $ec -keyout \(name).key -out \(name).pem -days 2 -subj '\(subject)'")
    }

    private func openssl(_ arguments: String) throws {
        let script = "set -e; cd '\(dir.url.path)'; ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'; openssl \(arguments) 2>&1"
        let r = try Subprocess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", script])
        guard r.status == 0 else { throw ServerError("openssl \(arguments) failed: \(r.stdout) \(r.stderr)") }
    }
}

/// A throwaway CA with a server certificate for 127.0.0.1, a client certificate and a rogue
/// self-signed one.
public func makeCertificates(in dir: TemporaryDirectory) throws {
    let ca = try TestCertificateAuthority(in: dir, subject: "/CN=kubetrail-test-ca")
    try ca.issue("server", subject: "/CN=127.0.0.1", extensions: ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth"])
    try ca.issue("client", subject: "/CN=kube-apiserver", extensions: ["extendedKeyUsage=clientAuth"])
    try ca.selfSigned("rogue", subject: "/CN=rogue")
}
