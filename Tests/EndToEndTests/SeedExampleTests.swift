import Testing
import Foundation
@testable import Scenario
import Store
import Trace
import SimCore

@Suite struct SeedExampleTests {
    let ms: Int64 = 1_000_000

    @Test func seedCallIsReroutedAndAnswered() throws {
        let (r, sink) = runMemory(try loadBundled("seed-example.yaml"))
        #expect(r.allHeld)
        let call = try #require(r.calls[1])
        #expect(call.outcome == "answered")
        #expect(call.route == "public")
        #expect(call.answeredBy == "PBX-2/1011")
        #expect(call.sipTargets == ["192.0.2.10", "192.0.2.11", "192.0.2.12"])
        #expect(call.rerouted)

        // The contract's timing: INVITEs to 192.0.2.10 at 1.0, 1.5, 2.5, 4.5 s; next target at
        // 5.0 s; the third (after DNS, answered from the cache) at 9.0 s; public attempt at 13 s.
        let invites = sink.sipMessages.filter { $0.callID == 1 && $0.method == "INVITE" }
        let to10 = invites.filter { $0.dst == "192.0.2.10:5060" }.map(\.atNs)
        #expect(to10 == [1000, 1500, 2500, 4500].map { $0 * ms })
        #expect(invites.filter { $0.dst == "192.0.2.11:5060" }.first?.atNs == 5000 * ms)
        #expect(invites.filter { $0.dst == "192.0.2.12:5060" }.first?.atNs == 9000 * ms)
        #expect(invites.allSatisfy { !$0.delivered })
        // A new branch per target, the same branch within a target.
        let branches = Dictionary(grouping: invites, by: \.dst).mapValues { Set($0.map(\.branch)) }
        #expect(branches.values.allSatisfy { $0.count == 1 })
        #expect(Set(branches.values.map { $0.first! }).count == 3)
        let reroute = try #require(sink.steps.first { $0.callID == 1 && $0.kind == .reroute })
        #expect(reroute.atNs == 13_000 * ms)
        let seized = try #require(sink.steps.first { $0.callID == 1 && $0.kind == .trunkSeized })
        #expect(seized.atNs == 13_000 * ms)
        // Through both telephone companies to PBX-2's DID.
        #expect(sink.steps.contains { $0.callID == 1 && $0.actor == "TELCO-098" && $0.kind == .pstnSetup })
        #expect(sink.steps.contains { $0.callID == 1 && $0.actor == "TELCO-012" && $0.kind == .pstnSetup })
        #expect(sink.steps.contains { $0.callID == 1 && $0.kind == .didMapped && $0.detail.contains("1011") })
        // Answered 3 s after ringing (answer_after), plus the PSTN path back.
        let ringing = try #require(sink.steps.first { $0.kind == .extensionRinging })
        let answered = try #require(sink.steps.first { $0.kind == .extensionAnswered })
        #expect(answered.atNs - ringing.atNs == 3000 * ms)
    }

    @Test func sameSeedGivesIdenticalTrace() throws {
        let s = try loadBundled("seed-example.yaml")
        let (_, a) = runMemory(s)
        let (_, b) = runMemory(s)
        #expect(a.events == b.events)
        #expect(a.events.count > 50) // the call's steps and messages (the warm start's boot is not traced)
    }

    @Test func sqliteContents() throws {
        let db = tempPath("seed.sqlite")
        let res = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db])
        #expect(res.status == 0, "stdout: \(res.out) stderr: \(res.err)")
        #expect(res.out.contains("call 1  PBX-1/1000 -> 012-345-1011  answered via public by PBX-2/1011"))
        #expect(res.out.contains("all 4 expectation(s) held"))
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let run = try store.rows("SELECT run_id, scenario, seed, status FROM run")
        #expect(run.count == 1)
        #expect(run[0][1] == "seed-example" && run[0][2] == "1" && run[0][3] == "passed")
        let call = try store.rows("SELECT call_id, caller, dialed, placed_at_us, outcome, route, answered_by, setup_delay_us, sip_targets FROM call")
        #expect(call.count == 1)
        #expect(call[0] == ["1", "PBX-1/1000", "012-345-1011", "1000000", "answered", "public", "PBX-2/1011",
                            call[0][7], "[\"192.0.2.10\",\"192.0.2.11\",\"192.0.2.12\"]"])
        let setup = Int64(call[0][7] ?? "0") ?? 0
        #expect(setup > 13_000_000 && setup < 20_000_000)
        // Every INVITE of the call is a row, with its raw text (a retransmission's text is stored
        // once: '' and raw_of, the row whose text it repeats).
        let inv = try store.rows("SELECT m.at_us, m.dst, m.delivered, \(TraceStore.rawSQL) FROM sip_message m WHERE m.call_id = 1 AND m.method = 'INVITE' ORDER BY m.seq")
        let copies = try store.rows("SELECT count(*) FROM sip_message WHERE call_id = 1 AND method = 'INVITE' AND retransmission = 1 AND raw = '' AND raw_of IS NOT NULL")
        #expect(copies.first?[0] == "9") // 3 retransmissions to each of the three targets
        #expect(inv.count == 12)
        #expect(inv.prefix(4).map { $0[0] } == ["1000000", "1500000", "2500000", "4500000"])
        #expect(inv.allSatisfy { $0[2] == "0" && ($0[3] ?? "").hasPrefix("INVITE sip:0123451011@itsp.example SIP/2.0\r\n") })
        let kinds = try store.rows("SELECT DISTINCT kind FROM step WHERE call_id = 1").compactMap { $0[0] }
        for k in ["call-placed", "attempt-started", "failover", "reroute", "trunk-seized", "pstn-setup", "call-answered", "call-ended"] {
            #expect(kinds.contains(k), "no \(k) step")
        }
        // A second run appends a run row.
        _ = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db])
        #expect(try store.scalarInt("SELECT count(*) FROM run") == 2)
        // The two runs' traces are identical row for row.
        let diff = try store.scalarInt("""
            SELECT count(*) FROM (SELECT seq, at_us, call_id, actor, kind, detail FROM step WHERE run_id = 1
                                  EXCEPT SELECT seq, at_us, call_id, actor, kind, detail FROM step WHERE run_id = 2)
            """)
        #expect(diff == 0)
    }

    @Test func failedExpectationExitsOne() throws {
        let path = tempPath("wrong.yaml")
        let text = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "route: public", with: "route: sip")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let res = try runCLI(["run", path, "--db", tempPath("wrong.sqlite")])
        #expect(res.status == 1)
        #expect(res.out.contains("call 1 route: expected sip, actual public"))
    }

    @Test func invalidInputExitsTwoWithFileLineAndKey() throws {
        let path = tempPath("bad.yaml")
        let text = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "invite_timeout: 4s", with: "invite_timeout: fast")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let db = tempPath("bad.sqlite")
        let res = try runCLI(["run", path, "--db", db])
        #expect(res.status == 2)
        #expect(res.err.contains("\(path):50:23: pbxs[0].v_sipgw.invite_timeout: expected a duration"), "stderr: \(res.err)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }
}

@Suite struct TraceLevelTests {
    /// Recording less never changes what happens: the call rows of a run are the same at every
    /// trace level; `steps` drops the SIP messages, `calls` the steps too.
    @Test func levelsRecordLessButTheSameCalls() throws {
        let db = tempPath("levels.sqlite")
        for level in ["full", "steps", "calls"] {
            let r = try runCLI(["run", scenarioPath("busy-hour-sip-failure.yaml"), "--db", db, "--trace", level, "--summary-only"])
            #expect(r.status == 0, "\(level): \(r.err)")
        }
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let cols = "call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by, setup_delay_us, sip_targets, rerouted, carrier, trunk_group"
        let full = try store.rows("SELECT \(cols) FROM call WHERE run_id = 1 ORDER BY call_id")
        #expect(full.count > 50)
        #expect(try store.rows("SELECT \(cols) FROM call WHERE run_id = 2 ORDER BY call_id") == full)
        #expect(try store.rows("SELECT \(cols) FROM call WHERE run_id = 3 ORDER BY call_id") == full)
        #expect(try store.scalarInt("SELECT count(*) FROM sip_message WHERE run_id = 1")! > 0)
        #expect(try store.scalarInt("SELECT count(*) FROM sip_message WHERE run_id = 2") == 0)
        #expect(try store.scalarInt("SELECT count(*) FROM step WHERE run_id = 2")! > 0)
        #expect(try store.scalarInt("SELECT count(*) FROM step WHERE run_id = 3") == 0)
        #expect(try store.rows("SELECT value FROM run_param WHERE run_id = 3 AND name = 'trace_level'") == [["calls"]])
        let bad = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "--trace", "everything"])
        #expect(bad.status == 2)
    }
}
