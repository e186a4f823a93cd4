import Testing
@testable import KubetrailCore

/// One precedence (flag, variable, file, default) and one duration grammar for every setting.
@Suite struct SettingLayersTests {
    @Test func aFlagWinsOverItsVariableWhichWinsOverTheFile() throws {
        let layers = SettingLayers(environment: ["KUBETRAIL_STATE_DIR": "/from/env", "KUBETRAIL_MAX_BODY_BYTES": "2000", "KUBETRAIL_CA_FILE": ""])
        #expect(layers.text("state-dir", "/from/flag", file: "/from/file") == "/from/flag")
        #expect(layers.text("state-dir", nil, file: "/from/file") == "/from/env")
        #expect(layers.text("token-file", nil, file: "/from/file") == "/from/file")
        #expect(layers.text("token-file", nil) == nil)
        #expect(layers.text("ca-file", nil, file: "/from/file") == "/from/file")  // empty is unset
        #expect(try layers.number("max-body-bytes", nil, file: 9) == 2000)
        #expect(try layers.number("max-body-bytes", 7, file: 9) == 7)
        #expect(try layers.number("max-inflated-bytes", nil, file: 9) == 9)
        #expect(SettingLayers.variable(for: "follower-stall-timeout") == "KUBETRAIL_FOLLOWER_STALL_TIMEOUT")
    }

    @Test func aBadValueNamesWhereItCameFrom() {
        let layers = SettingLayers(environment: [
            "KUBETRAIL_MAX_BODY_BYTES": "lots", "KUBETRAIL_QUERY_TIMEOUT": "0", "KUBETRAIL_BATCH_WAIT": "soon", "KUBETRAIL_MAX_SPOOL_BYTES": "-1"
        ])
        #expect(throws: SettingError("KUBETRAIL_MAX_BODY_BYTES must be a whole number (0 or more), got lots")) { try layers.number("max-body-bytes", nil) }
        #expect(throws: SettingError("KUBETRAIL_MAX_SPOOL_BYTES must be a whole number (0 or more), got -1")) { try layers.number("max-spool-bytes", nil) }
        #expect(throws: SettingError("--batch-wait must be seconds or a duration such as 500ms, 30s or 2h, got 2 minutes")) {
            try layers.duration("batch-wait", "2 minutes")
        }
        #expect(throws: SettingError("KUBETRAIL_BATCH_WAIT must be seconds or a duration such as 500ms, 30s or 2h, got soon")) {
            try layers.duration("batch-wait", nil)
        }
        #expect(throws: SettingError("KUBETRAIL_QUERY_TIMEOUT must be longer than zero: seconds or a duration such as 500ms, 30s or 2h, got 0")) {
            try layers.duration("query-timeout", nil, positive: true)
        }
    }

    @Test func oneDurationGrammar() {
        #expect(DurationText.seconds("500ms") == 0.5)
        #expect(DurationText.seconds("1m30s") == 90)
        #expect(DurationText.seconds("1m500ms") == 60.5)
        #expect(DurationText.seconds("2h") == 7200 && DurationText.seconds("14d") == 14 * 86_400 && DurationText.seconds("1w") == 604_800)
        #expect(DurationText.seconds("1.5s") == 1.5)
        // A bare number has no unit: refused where a unit matters (retention), seconds in a setting.
        #expect(DurationText.seconds("14") == nil && DurationText.setting("14") == 14 && DurationText.setting("0.25") == 0.25)
        for bad in ["", "ms", "s", "5x", "5 mins", "-1s", "1ss"] {
            #expect(DurationText.seconds(bad) == nil, "\(bad)")
        }
        #expect(DurationText.setting("-1") == nil)
    }
}

extension SettingError: Equatable {
    public static func == (a: SettingError, b: SettingError) -> Bool { a.description == b.description }
}
