import KubetrailStore

/// `kubetrail logs` lines as stern prints them: `namespace/pod/container message`, the
/// timestamp first with `--timestamps`, and on a terminal one colour per pod (the same pod the
/// same colour across a follow, so interleaved pods stay apart).
final class LogLinesSink: QuerySink {
    let out: TextOutput
    let timestamps: Bool
    let colour: Bool
    private var index: [String: Int] = [:]
    private var colours: [String: String] = [:]

    /// Bright ANSI colours that read on dark and light terminals.
    static let palette = [
        "\u{1B}[32m", "\u{1B}[33m", "\u{1B}[34m", "\u{1B}[35m", "\u{1B}[36m", "\u{1B}[92m", "\u{1B}[93m", "\u{1B}[94m", "\u{1B}[95m", "\u{1B}[96m"
    ]
    static let reset = "\u{1B}[0m"

    init(_ out: TextOutput, timestamps: Bool, colour: Bool) {
        self.out = out
        self.timestamps = timestamps
        self.colour = colour
    }

    func begin(columns: [QueryColumn]) throws {
        for (i, c) in columns.enumerated() { index[c.name] = i }
    }

    func row(_ values: [QueryValue]) throws {
        func text(_ name: String) -> String { index[name].map { values[$0].plainText } ?? "" }
        let prefix = text("namespace") + "/" + text("pod_name") + "/" + text("container_name")
        var line = timestamps ? text("timestamp") + " " : ""
        if colour {
            let c = colours[prefix] ?? colourFor(text("namespace") + "/" + text("pod_name"))
            colours[prefix] = c
            line += c + prefix + Self.reset
        } else {
            line += prefix
        }
        var message = text("log_message")
        while message.last == "\n" || message.last == "\r" { message.removeLast() }
        out.write(line + " " + message + "\n")
    }

    func end() throws {}

    /// A stable colour per pod: FNV-1a of its name (Swift's hashValue differs per run).
    private func colourFor(_ pod: String) -> String {
        var h: UInt32 = 2_166_136_261
        for b in pod.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return Self.palette[Int(h % UInt32(Self.palette.count))]
    }
}
