import Foundation
import Testing
import TestSupport
@testable import KubetrailCore

@Suite struct ContainerLogLineTests {
    @Test func crioFixtureHasOnePartialWithOffsetTimestamps() throws {
        let lines = try Fixtures.text("container-logs/otel_examples_crio_0.log").split(separator: "\n").map { try ContainerLogLine.parse(String($0)) }
        #expect(lines.count == 6)
        #expect(lines.map(\.isPartial) == [false, false, true, false, false, false])
        #expect(lines[2].content == "example: 13 (part of log) Tue Feb 16 08:59:33 UTC 2021")
        #expect(lines[0].timestamp?.iso8601 == "2021-02-16T08:59:31.252009Z")
        #expect(lines.allSatisfy { $0.stream == "stdout" && $0.format == .cri })
    }

    @Test func crioLineWithoutTrailingNewline() throws {
        let line = try ContainerLogLine.parse(Fixtures.text("container-logs/clo_logsamples_raw_container_crio.log"))
        #expect(line.content == "linux/amd64, go1.20.12 X:strictfipsruntime,")
        #expect(line.timestamp?.iso8601 == "2024-07-02T12:40:06.615800Z")
    }

    @Test func stderrJavaTraceKeepsTabs() throws {
        let lines = try Fixtures.text("container-logs/DERIVED_cri_stderr_java_stacktrace_from_fluentbit_multiline.log")
            .split(separator: "\n").map { try ContainerLogLine.parse(String($0)) }
        #expect(lines.count == 19)
        #expect(lines.allSatisfy { $0.stream == "stderr" && !$0.isPartial })
        #expect(lines.contains { $0.content.hasPrefix("\tat ") })
    }

    @Test func dockerPartialAndTrimmedNanoseconds() throws {
        let lines = try Fixtures.text("container-logs/otel_examples_docker_json_0.log").split(separator: "\n").map { try ContainerLogLine.parse(String($0)) }
        #expect(lines.map(\.isPartial) == [false, true, false, false, false, false, false])
        #expect(lines[0].content == "example: 12 Tue Feb 16 09:15:12 UTC 2021")
        #expect(lines[5].timestamp?.iso8601 == "2021-02-16T09:15:16.510487Z")
    }

    @Test func corruptedDockerLineIsAClearErrorOthersParse() throws {
        let raw = try Fixtures.text("container-logs/beats_docker_json_corrupted.log").split(separator: "\n")
        var errors: [Int: ContainerLogError] = [:]
        for (i, l) in raw.enumerated() {
            do { _ = try ContainerLogLine.parse(String(l)) } catch { errors[i + 1] = error }
        }
        #expect(Array(errors.keys) == [7])
        #expect(errors[7]?.reason == "malformed CRI line")
    }

    @Test(arguments: [
        ("2021-02-16T08:59:31Z stdout", "missing"),
        ("2021-02-16T08:59:31Z stdin F x", "unknown stream"),
        ("2021-02-16T08:59:31Z stdout X x", "unknown tag"),
        ("yesterday stdout F x", "invalid timestamp"),
        (#"{"stream":"stdout"}"#, "no \"log\" field"),
        (#"{"log":"x\n","time":"soon"}"#, "invalid time"),
        (#"{"log":"x\n","stream":"stdsomething"}"#, "unknown stream")
    ])
    func malformedLinesSayWhy(line: String, why: String) {
        #expect(throws: ContainerLogError.self) { try ContainerLogLine.parse(line) }
        do { _ = try ContainerLogLine.parse(line) } catch { #expect(error.description.contains(why), "\(error)") }
    }

    @Test func dockerCRLFLineIsCompleteAndLosesItsLineEnd() throws {
        // "\r\n" is a single Character in Swift; the newline test must look at bytes.
        let line = try ContainerLogLine.parse(#"{"log":"hello\r\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}"#)
        #expect(!line.isPartial)
        #expect(line.content == "hello")
    }

    @Test func emptyContentAndTagFlags() throws {
        #expect(try ContainerLogLine.parse("2021-02-16T08:59:31Z stdout F").content == "")
        #expect(try ContainerLogLine.parse("2021-02-16T08:59:31Z stdout F ").content == "")
        #expect(try ContainerLogLine.parse("2021-02-16T08:59:31Z stderr P:flag x").isPartial)
    }
}
