import Testing
import Foundation
import Store
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Runs `pbxsim repl` with stdin from a string (a pipe: no prompt, no line editing).
func runRepl(_ input: String, args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = packageRoot.appendingPathComponent(".build/debug/pbxsim")
    p.arguments = ["repl"] + args
    var e = ProcessInfo.processInfo.environment
    e["NO_COLOR"] = "1"
    e["COLUMNS"] = "1000"
    for (k, v) in env { e[k] = v }
    p.environment = e
    let i = Pipe(), o = Pipe(), r = Pipe()
    p.standardInput = i
    p.standardOutput = o
    p.standardError = r
    try p.run()
    i.fileHandleForWriting.write(input.data(using: .utf8)!)
    try i.fileHandleForWriting.close()
    let od = o.fileHandleForReading.readDataToEndOfFile()
    let ed = r.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
}

@Suite(.serialized) struct ReplTests {
    /// `report` may be asked for again later in a session: each stores the summary as of then
    /// (the second failed with a UNIQUE constraint while the store wrote the summary with a plain
    /// INSERT, in the commit before this test).
    @Test func reportTwiceInOneSession() throws {
        let db = tempPath("repl-report.sqlite")
        let first = tempPath("first.html"), second = tempPath("second.html")
        let res = try runRepl("""
            dial PBX-1/1000 012-345-1011
            run until 60s
            report \(first)
            dial PBX-1/1000 012-345-1011
            run until 120s
            report \(second)
            quit
            """, args: ["--db", db])
        #expect(res.status == 0, "\(res.err)")
        #expect(res.out.contains("wrote \(first)") && res.out.contains("wrote \(second)"), "\(res.out)\n\(res.err)")
        let d = try SQLiteDatabase(path: db, readOnly: true)
        #expect(try d.scalarInt("SELECT CAST(value AS INTEGER) FROM summary WHERE pbx = 'PBX-1' AND field = 'offered'") == 2)
    }

    @Test func scriptedSessionOnTheDefaultSite() throws {
        let db = tempPath("repl1.sqlite")
        let res = try runRepl("""
            # the seed call, by hand
            advance 1s
            down sip1.itsp.example sip2.itsp.example sip3.itsp.example
            dial PBX-1/1000 012-345-1011
            run
            calls
            status
            dns itsp.example
            quit

            """, args: ["--db", db])
        #expect(res.status == 0, "stderr: \(res.err)")
        #expect(res.out.contains("[1] PBX-1                reroute"))
        #expect(res.out.contains("call 1  PBX-1/1000 -> 012-345-1011  answered via public by PBX-2/1011  setup 16.400s  SIP targets 192.0.2.10, 192.0.2.11, 192.0.2.12  (rerouted)"))
        #expect(res.out.contains("PBX-1 (198.51.100.1)  V-SIPGW INS, registered at"))
        #expect(res.out.contains("sip1.itsp.example 192.0.2.10  DOWN"))
        #expect(res.out.contains("PBX-1: SRV _sip._udp.itsp.example -> 10 60 5060 sip1.itsp.example"))
        // The session is recorded like a run.
        let store = try SQLiteDatabase(path: db, readOnly: true)
        #expect(try store.rows("SELECT tool, scenario, status FROM run") == [["repl", "default-site", "completed"]])
        #expect(try store.rows("SELECT outcome, route, sip_targets FROM call") == [["answered", "public", "[\"192.0.2.10\",\"192.0.2.11\",\"192.0.2.12\"]"]])
    }

    @Test func mistakesPrintAnErrorAndAHintButTheSessionGoesOn() throws {
        let res = try runRepl("""
            dail PBX-1/1000 012-345-1011
            down nosuchhost
            advance soon
            trace 9
            dial PBX-1/1000 012-345-1011
            run
            calls

            """, args: ["--db", tempPath("repl2.sqlite")])
        #expect(res.status == 1) // a command failed
        #expect(res.err.contains("error: unknown command 'dail'; did you mean 'dial'?"))
        #expect(res.err.contains("error: unknown host 'nosuchhost'"))
        #expect(res.err.contains("hint: advance 5s"))
        #expect(res.err.contains("error: no call 9"))
        #expect(res.out.contains("call 1  PBX-1/1000 -> 012-345-1011"))
    }

    @Test func flowDrawsTheLadder() throws {
        let svg = tempPath("call1.svg")
        let res = try runRepl("""
            down sip1.itsp.example sip2.itsp.example sip3.itsp.example
            dial PBX-1/1000 012-345-1011
            run
            flow 1
            flow 1 --svg \(svg)

            """, args: ["--db", tempPath("repl3.sqlite")])
        #expect(res.status == 0, "stderr: \(res.err)")
        for column in ["PBX-1/1000", "PBX-1", "sip1.itsp.example", "TELCO-098", "TELCO-012", "PBX-2", "PBX-2/1011"] {
            #expect(res.out.contains(column), "no column \(column)")
        }
        #expect(res.out.contains("INVITE (re)"))
        #expect(res.out.contains("* REROUTE: all 3 SIP targets failed"))
        #expect(res.out.contains("CONNECT"))
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(text.hasPrefix("<?xml") && text.contains("<svg") && text.hasSuffix("</svg>\n"))
        #expect(text.contains("REROUTE"))
        _ = try XMLDocument(data: text.data(using: .utf8)!) // well-formed XML
    }

    /// `save` writes a scenario that `pbxsim run` replays to the same result, row for row.
    @Test func saveReplaysToTheSameTrace() throws {
        let db = tempPath("repl4.sqlite")
        let saved = tempPath("session.yaml")
        let res = try runRepl("""
            dial PBX-1/1000 012-345-1011 hold 5s
            down sip1.itsp.example
            advance 500ms
            step 3
            respond sip2.itsp.example 503 retry-after 60s
            dial PBX-1/1000 012-345-1011 hold 5s
            advance 20s
            busy PBX-2/1011
            dial PBX-1/1000 012-345-1011
            run
            save \(saved)

            """, args: ["--db", db])
        #expect(res.status == 0, "stderr: \(res.err)")
        let replay = try runCLI(["run", saved, "--db", db])
        #expect(replay.status == 0, "\(replay.out) \(replay.err)")
        let store = try SQLiteDatabase(path: db, readOnly: true)
        for (table, cols) in [("step", "seq, at_ns, call_id, actor, kind, detail"),
                              ("sip_message", "seq, at_ns, call_id, src, dst, method, status_code, branch, delivered, raw"),
                              ("call", "call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by, setup_delay_us, sip_targets")] {
            let a = try store.rows("SELECT \(cols) FROM \(table) WHERE run_id = 1 ORDER BY 1")
            let b = try store.rows("SELECT \(cols) FROM \(table) WHERE run_id = 2 ORDER BY 1")
            #expect(a.count > 0)
            #expect(a == b, "\(table) differs between the session and its replay")
        }
    }

    @Test func scenarioFileAndInvalidScenario() throws {
        let res = try runRepl("run\ncalls\n", args: [scenarioPath("busy-far-end.yaml"), "--db", tempPath("repl5.sqlite")])
        #expect(res.status == 0)
        #expect(res.out.contains("call 1  PBX-1/1000 -> 012-345-1011  busy (sip-final) via sip"))
        let bad = tempPath("bad-repl.yaml")
        try "name: x\nnetwork: {hosts: {a: 10.0.0.1}}\npbxs: [{name: P, host: b}]\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let r2 = try runRepl("", args: [bad, "--db", tempPath("repl6.sqlite")])
        #expect(r2.status == 2)
        #expect(r2.err.contains("\(bad):3:"))
        #expect(r2.err.contains("unknown host 'b'"))
    }
}
