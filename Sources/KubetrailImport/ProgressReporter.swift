import Foundation

/// A one-line progress display on a terminal (stderr), redrawn at most five times a second.
public final class ProgressReporter {
    private var name = ""
    private var size: Int64?
    private var bytesRead: () -> Int64 = { 0 }
    private var started = Date()
    private var lastDraw = Date.distantPast
    private var records = 0

    public init() {}

    /// A progress bar belongs on a terminal only; pipes and files get just the summary.
    public static var isTerminal: Bool { isatty(2) == 1 }

    func startFile(_ path: String, size: Int64?, bytesRead: @escaping () -> Int64) {
        name = (path as NSString).lastPathComponent
        self.size = size
        self.bytesRead = bytesRead
        started = Date()
        draw(force: true)
    }

    func update(records: Int) {
        self.records = records
        draw(force: false)
    }

    func finishFile() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private func draw(force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        var line = "\r\u{1B}[K  \(name)  \(records) records  \(Int(Double(records) / elapsed))/s"
        if let size, size > 0 {
            let fraction = min(1, Double(bytesRead()) / Double(size))
            let width = 24
            let filled = Int(fraction * Double(width))
            line += "  [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
            line += String(format: " %3.0f%%", fraction * 100)
        }
        FileHandle.standardError.write(Data(line.utf8))
    }
}
