import Testing
import Foundation
import Store
import Trace

/// The trace contract (issue 9 item 4): exporters read typed fields, never `detail`. Rewording
/// every step's `detail` in a database leaves the episodes' attempts, network and labels, and the
/// ladder's notes and arrows, unchanged.
@Suite struct TypedFieldsTests {
    @Test func exportsDoNotDependOnDetail() throws {
        let db = tempPath("typed.sqlite")
        for s in ["seed-example.yaml", "503-retry-after.yaml", "ack-lost.yaml", "transport-error.yaml"] {
            #expect(try runCLI(["run", scenarioPath(s), "--db", db, "-q"]).status <= 1)
        }
        func episodes(_ file: String) throws -> [[String: Any]] {
            let out = tempPath(file)
            #expect(try runCLI(["export", db, "--format", "episodes", "--out", out]).status == 0)
            return try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }
        let before = try episodes("typed-before.jsonl")
        let flowBefore = try runCLI(["flow", db, "--run", "1", "--call", "1"]).out
        let store = try SQLiteDatabase(path: db)
        try store.execute("UPDATE step SET detail = 'reworded ' || seq")
        let after = try episodes("typed-after.jsonl")
        #expect(before.count == after.count && before.count >= 4)
        for (b, a) in zip(before, after) {
            for key in ["attempts", "network", "labels"] {
                let bj = try JSONSerialization.data(withJSONObject: b[key] ?? NSNull(), options: [.sortedKeys, .fragmentsAllowed])
                let aj = try JSONSerialization.data(withJSONObject: a[key] ?? NSNull(), options: [.sortedKeys, .fragmentsAllowed])
                #expect(bj == aj, "\(key) changed when detail was reworded")
            }
        }
        // The attempts carry typed results: the seed call's three targets, each left without a response.
        let attempts = try #require(before.first?["attempts"] as? [[String: Any]])
        #expect(attempts.map { $0["target"] as? String } == ["192.0.2.10:5060", "192.0.2.11:5060", "192.0.2.12:5060"])
        #expect(attempts.map { $0["origin"] as? String } == ["configured", "failover", "dns itsp.example -> sip3.itsp.example"])
        // The ladder draws the same arrows and timeouts (its note texts are the details themselves).
        let flowAfter = try runCLI(["flow", db, "--run", "1", "--call", "1"]).out
        #expect(flowBefore.components(separatedBy: "timeout:").count == flowAfter.components(separatedBy: "timeout:").count)
        #expect(flowBefore.components(separatedBy: "REROUTE").count == flowAfter.components(separatedBy: "REROUTE").count)
    }

    /// The flat parser reads back exactly what the writer wrote.
    @Test func fieldsRoundTrip() {
        let fields: [StepField] = [.init("subject", "sip1 \"x\" \\ é"), .init("code", 503), .init("loss_pct", 30.5), .init("latency_ns", Int64(24_000_000))]
        let parsed = StepFields.parse(fields.json)
        #expect(parsed.text("subject") == "sip1 \"x\" \\ é" && parsed.int("code") == 503 && parsed.double("loss_pct") == 30.5)
        #expect(parsed.int("latency_ns") == 24_000_000)
        #expect(StepFields.parse(nil).values.isEmpty && StepFields.parse("not json").values.isEmpty)
    }
}
