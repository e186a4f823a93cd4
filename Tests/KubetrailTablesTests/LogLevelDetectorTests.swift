import Foundation
import Testing
import Yams
@testable import KubetrailTables
import TestSupport

@Suite struct LogLevelDetectorTests {
    // MARK: - Agreement with the labelled fixtures

    /// A log line whose level a fixture states.
    struct LabelledLine: Sendable {
        var location: String
        var text: String
        var expected: LogLevel?
    }

    /// Builds (line, expected level) pairs from the fixtures that state a level.
    ///
    /// **ops-agent** (`app-logs/ops-agent/<name>.input.log` + `<name>.expected_output_fluentbit.yaml`):
    /// the golden file lists the records Google's ops-agent produced, in input order. Records can
    /// span lines (stack traces, pretty-printed JSON, Oracle's timestamp-only header line) and some
    /// input records produce no entry, so entries are matched to input lines, not zipped:
    /// 1. probe = first line of `jsonPayload.message` (first 40 characters, trimmed); when the
    ///    message is absent or not a string (vault audit, MongoDB's structured `attr`), the longest
    ///    scalar anywhere in `jsonPayload`;
    /// 2. the first input line at or after a cursor that contains the probe is the hit; the cursor
    ///    then moves past it, so repeated messages match in order;
    /// 3. the record starts at the hit, walked back over continuation lines (indented lines, lines
    ///    inside a JSON object opened on an earlier line, the line after a bare timestamp);
    /// 4. expected = the entry's Cloud Logging `severity`: 100→DEBUG, 200/300→INFO, 400→WARN,
    ///    500→ERROR, 600/700/800→FATAL, 0 (DEFAULT) or absent→nil.
    /// Entries whose probe is empty (nginx's two trailing blank input lines) have nothing to
    /// classify and are skipped.
    ///
    /// **Datadog** (`app-logs/datadog-log-pipeline-tests/`): every `sample` of
    /// `DERIVED_samples_with_expected_level.jsonl`, then any sample of the `*_tests.yaml` files not
    /// already seen (today all 19 are the same, so the YAML adds none). Expected = `status` when the
    /// test states one, else `custom.level` put through Datadog's status remapper (the etcd, CoreDNS
    /// and kube-scheduler pipelines end with one on `level`; their tests just do not show its result):
    /// prefix `emerg`/`f`/`a`/`c`→FATAL, `e`→ERROR, `w`→WARN, `n`/`i`→INFO, `d`/`t`/`v`→DEBUG. A test
    /// with neither (or `result: null`, a line the pipeline does not parse) expects nil.
    ///
    /// **Scoring:** a pair agrees when the detected level equals the expected one after folding TRACE
    /// into DEBUG, because neither Cloud Logging nor Datadog has a trace severity. An expected nil
    /// counts like any level: detecting a level there is a disagreement, and so is detecting nil
    /// where a level is expected.
    enum LevelCorpus {
        static func pairs() throws -> [LabelledLine] {
            try opsAgentPairs() + datadogPairs()
        }

        static func opsAgentPairs() throws -> [LabelledLine] {
            var pairs: [LabelledLine] = []
            for input in Fixtures.files(under: "app-logs/ops-agent", withExtension: "log") where input.hasSuffix(".input.log") {
                let golden = input.replacingOccurrences(of: ".input.log", with: ".expected_output_fluentbit.yaml")
                let lines = try Fixtures.text(input).components(separatedBy: "\n")
                let continues = continuationFlags(lines)
                guard let root = try Yams.compose(yaml: Fixtures.text(golden)) else { continue }
                var cursor = 0
                for document in root.sequence.map(Array.init) ?? [] {
                    for entry in document["entries"]?.sequence.map(Array.init) ?? [] {
                        guard let probe = probe(entry["jsonPayload"]) else { continue }
                        guard let hit = (cursor..<lines.count).first(where: { lines[$0].contains(probe) }) else {
                            Issue.record("\(input): no input line contains \(probe.debugDescription)")
                            continue
                        }
                        var start = hit
                        while start > cursor, continues[start] { start -= 1 }
                        cursor = hit + 1
                        pairs.append(
                            LabelledLine(
                                location: "\(input.split(separator: "/").last!):\(start + 1)",
                                text: lines[start],
                                expected: cloudLogging(entry["severity"]?.float)))
                    }
                }
            }
            return pairs
        }

        static func datadogPairs() throws -> [LabelledLine] {
            let dir = "app-logs/datadog-log-pipeline-tests"
            var pairs: [LabelledLine] = []
            var seen = Set<String>()
            let jsonl = try Fixtures.text("\(dir)/DERIVED_samples_with_expected_level.jsonl")
            for (n, line) in jsonl.split(separator: "\n").enumerated() {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let sample = try #require(object["sample"] as? String)
                let expected = datadog(
                    status: object["expected_status"] as? String,
                    level: object["expected_custom_level"] as? String)
                seen.insert(sample)
                pairs.append(LabelledLine(location: "DERIVED_samples_with_expected_level.jsonl:\(n + 1)", text: sample, expected: expected))
            }
            for file in Fixtures.files(under: dir, withExtension: "yaml") {
                let root = try #require(try Yams.compose(yaml: Fixtures.text(file)))
                for (n, test) in (root["tests"]?.sequence.map(Array.init) ?? []).enumerated() {
                    guard let sample = test["sample"]?.string, seen.insert(sample).inserted else { continue }
                    let result = test["result"]  // `null` when the pipeline does not parse the sample
                    pairs.append(
                        LabelledLine(
                            location: "\(file.split(separator: "/").last!) test \(n + 1)", text: sample,
                            expected: datadog(
                                status: result?["status"]?.string,
                                level: result?["custom"]?["level"]?.string)))
                }
            }
            return pairs
        }

        static func cloudLogging(_ severity: Double?) -> LogLevel? {
            switch severity.map(Int.init) {
            case 100: .debug
            case 200, 300: .info
            case 400: .warn
            case 500: .error
            case 600, 700, 800: .fatal
            default: nil
            }
        }

        /// Datadog's status remapper, as documented; `e…` means error, as the argocd test shows (`E` → `error`).
        static func datadog(status: String?, level: String?) -> LogLevel? {
            guard let raw = (status ?? level)?.lowercased(), let first = raw.first else { return nil }
            if raw.hasPrefix("emerg") || "fac".contains(first) { return .fatal }
            switch first {
            case "e": return .error
            case "w": return .warn
            case "n", "i", "o", "s": return .info
            case "d", "t", "v": return .debug
            default: return .info
            }
        }

        static func probe(_ payload: Node?) -> String? {
            guard let payload else { return nil }
            if let message = payload["message"]?.scalar?.string { return firstLine(message) }
            return scalars(payload).compactMap(firstLine).max { $0.count < $1.count }
        }

        static func firstLine(_ text: String) -> String? {
            let line = (text.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
            return line.isEmpty ? nil : String(line.prefix(40))
        }

        static func scalars(_ node: Node) -> [String] {
            switch node {
            case .scalar(let scalar): [scalar.string]
            case .mapping(let mapping): mapping.flatMap { scalars($0.value) }
            case .sequence(let sequence): sequence.flatMap { scalars($0) }
            default: []
            }
        }

        /// Lines that carry on the record of an earlier line rather than start one.
        static func continuationFlags(_ lines: [String]) -> [Bool] {
            var flags = [Bool](repeating: false, count: lines.count)
            var depth = 0
            var afterBareTimestamp = false
            for (i, line) in lines.enumerated() {
                flags[i] = line.hasPrefix(" ") || line.hasPrefix("\t") || depth > 0 || (afterBareTimestamp && !line.isEmpty)
                if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    afterBareTimestamp = line.first!.isNumber && line.allSatisfy { "0123456789-:.+TZ".contains($0) }
                }
                if depth > 0 || line.hasPrefix("{") { depth = max(0, depth + braceBalance(line)) }
            }
            return flags
        }

        static func braceBalance(_ line: String) -> Int {
            var balance = 0, inString = false, escaped = false
            for c in line.utf8 {
                if escaped { escaped = false; continue }
                switch c {
                case UInt8(ascii: "\\") where inString: escaped = true
                case UInt8(ascii: "\""): inString.toggle()
                case UInt8(ascii: "{") where !inString: balance += 1
                case UInt8(ascii: "}") where !inString: balance -= 1
                default: break
                }
            }
            return balance
        }
    }

    @Test func agreesWithLabelledFixtures() throws {
        let pairs = try LevelCorpus.pairs()
        var agreed = 0
        var disagreements: [String] = []
        for pair in pairs {
            let got = LogLevelDetector.detect(pair.text)
            let folded = got == .trace ? .debug : got
            if folded == pair.expected {
                agreed += 1
            } else {
                disagreements.append(
                    "  \(pair.location): expected \(pair.expected?.rawValue ?? "nil"), got \(got?.rawValue ?? "nil") | \(pair.text.prefix(110))")
            }
        }
        let rate = pairs.isEmpty ? 0 : Double(agreed) / Double(pairs.count)
        print("level detection agreement: \(agreed)/\(pairs.count) = \(String(format: "%.1f", rate * 100))%")
        print(disagreements.joined(separator: "\n"))
        // 347 ops-agent records + 19 Datadog samples today; the floor keeps the test from passing on an empty corpus.
        #expect(pairs.count >= 350)
        #expect(rate >= 0.90)
    }

    /// Where a Datadog test shows both, the remapper applied to `custom.level` must give its `status`.
    @Test func datadogRemapperMatchesStatedStatuses() throws {
        var checked = 0
        for file in Fixtures.files(under: "app-logs/datadog-log-pipeline-tests", withExtension: "yaml") {
            let root = try #require(try Yams.compose(yaml: Fixtures.text(file)))
            for test in root["tests"]?.sequence.map(Array.init) ?? [] {
                guard let status = test["result"]?["status"]?.string,
                    let level = test["result"]?["custom"]?["level"]?.string
                else { continue }
                #expect(LevelCorpus.datadog(status: nil, level: level) == LevelCorpus.datadog(status: status, level: nil), "\(level) vs \(status)")
                checked += 1
            }
        }
        #expect(checked >= 8)
    }

    // MARK: - Recognised forms

    @Test(
        arguments: [
            (#"{"level":"info","msg":"started"}"#, LogLevel.info),
            (#"{"severity":"WARNING","message":"disk"}"#, .warn),
            (#"{"lvl":"eror"}"#, .error),
            (#"{"@timestamp":"2025-09-19T02:20:17.920Z", "log.level": "INFO", "message":"initialized"}"#, .info),
            (#"{"Level":"Information","MessageTemplate":"x"}"#, .info),
            (#"{"msg":"a \"quoted\" {brace}","nested":{"level":"debug"},"list":[1,{"a":"]"}],"level":"error"}"#, .error),
            (#"  {"level" :  "  fatal " }"#, .fatal),
            (#"{"level":10}"#, .trace), (#"{"level":20}"#, .debug), (#"{"level":30,"time":1}"#, .info),
            (#"{"level":40}"#, .warn), (#"{"level":50}"#, .error), (#"{"level":60}"#, .fatal),
            (#"{"t":{"$date":"2025-07-21T15:00:28.308+00:00"},"s":"I","c":"CONTROL","msg":"x"}"#, .info),
            (#"{"t":{"$date":"x"},"s":"W"}"#, .warn), (#"{"s":"E"}"#, .error), (#"{"s":"F"}"#, .fatal), (#"{"s":"D2"}"#, .debug),
            ("\u{FEFF}{\"level\":\"warn\"}", .warn),
            // Runtimes split long lines (docker at 16 KiB): the first piece still declares its level.
            (#"{"level":"info","msg":"truncat"#, .info)
        ] as [(String, LogLevel)])
    func jsonKeys(line: String, level: LogLevel) {
        #expect(LogLevelDetector.detect(line) == level, "\(line)")
    }

    @Test(
        arguments: [
            #"{"severity":"DEFAULT","message":"x"}"#,
            #"{"level":"UNKNOWN"}"#,
            #"{"request":{"level":"error"},"msg":"nested keys describe something else"}"#,
            #"{"message":"ERROR something bad","error":"boom","status":"failure"}"#,
            #"{"s":"error"}"#,
            #"{"level":7}"#,
            #"{"type": "server", "timestamp": "2024-06-10T12:34:56,789Z","#,
            #"{"text":"Simple text"]"#
        ] as [String])
    func jsonWithoutLevel(line: String) {
        #expect(LogLevelDetector.detect(line) == nil, "\(line)")
    }

    @Test(
        arguments: [
            (#"time="2022-12-16T22:27:42Z" level=info msg="Alloc=10469""#, LogLevel.info),
            (#"level=warn ts=2024-01-01T00:00:00Z caller=main.go:42 msg="slow""#, .warn),
            (#"ts=2024-01-01T00:00:00Z caller=main.go:42 level="error" msg="x""#, .error),
            ("lvl=dbug msg=x lvl=debug", .debug),
            ("t=2024 LEVEL=Warning", .warn)
        ] as [(String, LogLevel)])
    func logfmt(line: String, level: LogLevel) {
        #expect(LogLevelDetector.detect(line) == level, "\(line)")
    }

    @Test(
        arguments: [
            "msg=x loglevel=info", "sublevel=error msg=x", "level=high msg=x", "level= error"
        ] as [String])
    func logfmtNeedsWholeKeyAndKnownValue(line: String) {
        #expect(LogLevelDetector.detect(line) == nil, "\(line)")
    }

    @Test(
        arguments: [
            ("I0424 11:47:41.605254       1 deprecated_insecure_serving.go:49] Serving healthz", LogLevel.info),
            ("W0424 11:47:41.605188       1 authorization.go:47] Authorization is disabled", .warn),
            ("E0102 15:04:05.123456 1 reflector.go:138] Failed to watch", .error),
            ("F0102 15:04:05.123456 1 main.go:1] cannot start", .fatal),
            ("2020-08-20 18:19:25.769683 I | embed: ready to serve client requests", .info),
            ("2020-08-20 18:23:44.714594 W | rafthttp: lost the TCP streaming connection", .warn),
            ("2020-08-20 18:23:44.721706 E | rafthttp: failed to dial", .error),
            ("2020-08-20 18:23:44.721706 N | etcdserver: notice", .info),
            ("2020-08-20 18:23:44.721706 C | etcdmain: critical", .fatal),
            ("2014-11-03T18:28:32.450-0500 I NETWORK [initandlisten] waiting for connections", .info),
            ("2014-11-03T18:28:32.450-0500 D1 NETWORK [conn1] debug", .debug),
            ("[12036]{-1}[-1/-1] 2025-08-18 09:14:33.987654 e commlib  commlibImpl.cpp(00456) : failed", .error)
        ] as [(String, LogLevel)])
    func letterCodes(line: String, level: LogLevel) {
        #expect(LogLevelDetector.detect(line) == level, "\(line)")
    }

    @Test(
        arguments: [
            "E0102 is the error code we got", "I am done at 10:00", "E2E tests passed"
        ] as [String])
    func letterCodesNeedTheirPosition(line: String) {
        #expect(LogLevelDetector.detect(line) == nil, "\(line)")
    }

    @Test(
        arguments: [
            ("[error] 123#0: *1 open() failed", LogLevel.error),
            ("[ERROR] something", .error),
            ("[warn] low disk", .warn),
            ("[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] File does not exist", .error),
            ("2025-08-18 01:01:20.441571+00:00 [erro] <0.692.0> Connection attempt rejected", .error),
            ("2025-08-18 02:22:33.444+00:00 [noti] <0.400.0> Node down", .info),
            ("2025-07-22T16:02:00.000000Z 0 [Note] mysqld: ready for connections.", .info),
            ("2025-07-22T16:02:02.000002Z 11 [Warning] [MY-010068] [Server] CA certificate is self signed.", .warn),
            ("[INFO] 127.0.0.1:50759 - 29008 \"A IN example.org. udp 41 false 4096\" NOERROR", .info),
            ("2019-11-28T14:47:20.55Z [INFO] 10.145.105.176:36008 - 21628", .info),
            ("[ns_server:warn,2025-08-18T09:16:05.452Z,ns_1@127.0.0.1:0000:index_updater]Index build slow", .warn),
            ("2021/08/26 16:50:17 [error] 29060#29060: *2191 open() failed", .error),
            ("[notice] 2021-12-02T23:36:42.555157Z nonode@nohost <0.17165.1> PUT /oteld 201", .info),
            ("2024-01-01 10:00:00 [info     ] request handled", .info),
            ("[2024-01-01T00:00:00Z WARN  my_app::db] pool exhausted", .warn),
            ("10:00:00.123 [error] GenServer terminating", .error)
        ] as [(String, LogLevel)])
    func bracketed(line: String, level: LogLevel) {
        #expect(LogLevelDetector.detect(line) == level, "\(line)")
    }

    @Test(
        arguments: [
            ("ERROR something broke", LogLevel.error),
            ("2025-07-22 08:05:12,118 WARN [main] CassandraDaemon.java:401 - JVM vendor", .warn),
            ("INFO  [main] 2025-07-22 10:15:44,001 CassandraDaemon.java:687 - Starting", .info),
            ("DEBUG [main] 2025-07-22 08:05:12,118 CassandraDaemon.java:401 - JVM vendor", .debug),
            ("2025-03-18T10:32:55Z\tINFO\tStarting EventSource\t{\"controller\": \"x\"}", .info),
            ("[2025-07-22 08:22:15,466] INFO Initiating client connection", .info),
            ("2022-01-31 17:51:45,451 [myid:1] - WARN  [NIOWorkerThread-3:NIOServerCnxn@514] - slow", .warn),
            ("21-Jul-2025 10:33:44.234 SEVERE [http-nio-8080-exec-4] Servlet.service() threw exception", .error),
            ("2024-01-01 10:00:00.123  INFO 12345 --- [main] c.e.DemoApplication : Started", .info),
            ("2024-01-01 10:00:00,123 - myapp.db - ERROR - connection lost", .error),
            ("WARNING:root:disk almost full", .warn),
            ("panic: runtime error: index out of range [3] with length 3", .fatal),
            ("error: failed to push some refs", .error),
            ("Warning: LGWR switched to log 2", .warn),
            ("\u{1B}[31mERRO\u{1B}[0m[0000] boom", .error),
            ("INFO[0000] starting server", .info),
            ("10:00AM INF listening port=8080", .info),
            ("2021-01-01T00:00:00Z info starting server", .info),
            ("1:M 19 Sep 18:58:22.134 * Background saving terminated with success", .info),
            ("[1:C] 18 Jul 2025 19:08:05.257 * Starting Redis Server", .info),
            ("1:M 19 Sep 18:58:22.134 # WARNING overcommit_memory is set to 0!", .warn),
            ("1:S 19 Sep 18:58:22.134 . Client closed connection", .debug)
        ] as [(String, LogLevel)])
    func leadingWords(line: String, level: LogLevel) {
        #expect(LogLevelDetector.detect(line) == level, "\(line)")
    }

    @Test(
        arguments: [
            ("2025-07-21 10:14:21.123 UTC [21763] LOG:  connection received: host=192.168.1.10", LogLevel.info),
            ("2025-07-21 10:14:25.411 UTC [21767] ERROR:  syntax error at or near \"FROMM\"", .error),
            ("2025-07-21 10:14:30.673 UTC [21772] WARNING:  there is already a transaction in progress", .warn),
            ("2025-07-21 10:14:40.118 UTC [21778] FATAL:  password authentication failed", .fatal),
            ("2025-07-21 10:14:55.029 UTC [21793] PANIC:  could not write to log file", .fatal),
            ("2025-07-21 10:14:40.118 UTC [21778] DETAIL:  Connection matched pg_hba.conf line 90", .debug),
            ("2025-07-21 10:14:21.125 UTC [21763] STATEMENT:  SELECT 1;", .debug),
            ("2025-07-21 10:14:21.125 UTC [21763] HINT:  Use DROP ... CASCADE", .debug),
            ("2025-07-21 10:14:21.125 UTC [21763] CONTEXT:  PL/pgSQL function", .debug),
            ("2022-01-12 20:59:25.169 UTC [27445] postgres@postgres FATAL:  Peer authentication failed", .fatal),
            ("2025-07-21 10:14:21.123 UTC [21763] NOTICE:  relation exists, skipping", .info),
            ("2025-07-21 10:14:21.123 UTC [21763] DEBUG2:  proc_exit(0)", .debug)
        ] as [(String, LogLevel)])
    func postgres(line: String, level: LogLevel) {
        #expect(LogLevelDetector.detect(line) == level, "\(line)")
    }

    @Test(
        arguments: [
            ("warning", LogLevel.warn), ("warn", .warn), ("wrn", .warn),
            ("err", .error), ("error", .error), ("erro", .error), ("eror", .error),
            ("crit", .fatal), ("critical", .fatal), ("fatal", .fatal), ("panic", .fatal),
            ("emerg", .fatal), ("alert", .fatal), ("emergency", .fatal),
            ("notice", .info), ("noti", .info), ("note", .info), ("informational", .info), ("info", .info), ("inf", .info),
            ("debug", .debug), ("dbg", .debug), ("trace", .trace), ("trc", .trace)
        ] as [(String, LogLevel)])
    func synonyms(word: String, level: LogLevel) {
        for spelling in [word, word.uppercased(), word.prefix(1).uppercased() + word.dropFirst()] {
            #expect(LogLevelDetector.detect(#"{"level":"\#(spelling)"}"#) == level, "\(spelling) in JSON")
            #expect(LogLevelDetector.detect("[\(spelling)] x") == level, "[\(spelling)]")
            #expect(LogLevelDetector.detect("level=\(spelling) msg=x") == level, "level=\(spelling)")
        }
        #expect(LogLevelDetector.detect("2024-01-01T00:00:00Z \(word.uppercased()) message") == level, "after a timestamp")
    }

    @Test func severityDefaultDeclaresNothing() {
        #expect(LogLevelDetector.detect(#"{"severity":"DEFAULT"}"#) == nil)
        #expect(LogLevelDetector.detect("[default] x") == nil)
    }

    // MARK: - What must not be read as a level

    @Test(
        arguments: [
            "",
            "   \t  ",
            "dial tcp: i/o timeout error returned",
            "dial tcp 10.12.32.1:443: i/o timeout error returned while fetching",
            "Failed to connect: error connecting to upstream",
            "the warning light is on",
            "Alert rule HighCPU fired for pod web-1",
            "Information about the request follows",
            "2024-01-01T00:00:00Z Starting server; error budget is 0.1%",
            "2024-01-01 12:00:00 [main] com.example.Foo - Connection error, retrying",
            "Trace[79767753]: ---\"Objects listed\" error:Get \"https://10.12.32.1:443/apis\"",
            "redis: 2022/12/10 21:54:44 pubsub.go:159: redis: discarding bad PubSub connection",
            "\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)",
            "Caused by: java.io.IOException: No space left on device",
            "java.lang.RuntimeException: ERROR in module",
            "hdfsExists: invokeMethod((Lorg/apache/hadoop/fs/Path;)Z) error:",
            "10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] \"GET /error HTTP/1.1\" 500 12",
            "errors: 0, warnings: 2",
            "2024-01-01 10:00:00 * not redis without its role prefix",
            "ＥＲＲＯＲ full-width letters",
            "INFORMATIONAL_ONLY flag set"
        ] as [String])
    func prose(line: String) {
        #expect(LogLevelDetector.detect(line) == nil, "\(line.debugDescription)")
    }

    @Test func invalidUTF8RepairedIntoAString() {
        let repaired = String(decoding: Array("ERROR ".utf8) + [0xC3, 0x28, 0xFF, 0xFE], as: UTF8.self)
        #expect(LogLevelDetector.detect(repaired) == .error)
        let leadingGarbage = String(decoding: [0xFF, 0xFE] + Array(" boom".utf8), as: UTF8.self)
        #expect(LogLevelDetector.detect(leadingGarbage) == nil)
        let json = String(decoding: Array(#"{"msg":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#"","level":"warn"}"#.utf8), as: UTF8.self)
        #expect(LogLevelDetector.detect(json) == .warn)
    }

    @Test func megabyteLinesReturnQuickly() {
        let megabyte = 1 << 20
        let cases: [(String, LogLevel?)] = [
            (String(repeating: "x", count: megabyte), nil),
            (String(repeating: "level=x ", count: megabyte / 8), nil),
            (String(repeating: "[", count: megabyte), nil),
            (String(repeating: "{", count: megabyte), nil),
            ("{\"a\":" + String(repeating: "[", count: megabyte), nil),
            ("{\"msg\":\"" + String(repeating: "y", count: megabyte) + "\",\"level\":\"warn\"}", .warn),
            ("INFO " + String(repeating: "z", count: megabyte), .info),
            (String(repeating: "=", count: megabyte), nil)
        ]
        let clock = ContinuousClock()
        for (line, level) in cases {
            var got: LogLevel?
            let elapsed = clock.measure { got = LogLevelDetector.detect(line) }
            #expect(got == level)
            // Linear scans take about a millisecond here in release; the bound only catches blow-ups.
            #expect(elapsed < .seconds(5), "\(line.prefix(20))… took \(elapsed)")
        }
    }

    // MARK: - Container logs as kubetrail reads them

    @Test func containerLogFixtures() throws {
        var detected: [String: LogLevel] = [:]
        for file in Fixtures.files(under: "container-logs", withExtension: "log") {
            for (n, raw) in try Fixtures.text(file).split(separator: "\n").enumerated() {
                let message = containerMessage(String(raw))
                if let level = LogLevelDetector.detect(message) { detected["\(file):\(n + 1)"] = level }
            }
        }
        // Only two fixture lines declare a level: istio-proxy's JSON `"level":"info"` and the
        // session-db redis line `1:M … * Background saving …` (redis's `*` is NOTICE).
        #expect(
            detected == [
                "container-logs/fluentbit-docker-json/socks_session-db-fdd649d68-cq5sp_istio-proxy.log:1": .info,
                "container-logs/fluentbit-docker-json/socks_session-db-fdd649d68-cq5sp_session-db.log:1": .info
            ])
    }

    /// The application's own text: the `log` field of docker json-file lines, the message after
    /// `<time> <stream> <tag> ` on CRI lines; a corrupted docker line stays as it is.
    func containerMessage(_ line: String) -> String {
        if line.hasPrefix("{") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let log = object["log"] as? String
            {
                return log.hasSuffix("\n") ? String(log.dropLast()) : log
            }
            return line
        }
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        return parts.count == 4 && (parts[1] == "stdout" || parts[1] == "stderr") ? String(parts[3]) : line
    }

    @Test func stackdriverSeverityFixture() throws {
        let levels = try Fixtures.text("app-logs/fluentbit/stackdriver_multi_entries_severity.log")
            .split(separator: "\n").map { LogLevelDetector.detect(String($0)) }
        #expect(levels == [.info, nil, .debug, nil])
    }
}
