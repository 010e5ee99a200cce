import Testing
import Foundation
import Store

/// `pbxsim run` as a CI test runner (issue 12, items 1, 2 and 6).
@Suite struct RunnerTests {
    /// A directory of scenarios: one passing, one failing, one invalid.
    func library() throws -> String {
        let dir = tempPath("runner-lib")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        let seed = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
        try seed.write(toFile: dir + "/a-pass.yaml", atomically: true, encoding: .utf8)
        try seed.replacingOccurrences(of: "route: public", with: "route: sip").write(toFile: dir + "/sub/b-fail.yaml", atomically: true, encoding: .utf8)
        try "name: broken\nseed: 1\nnetwork: {hosts: {a: 999.1.1.1}}\n".write(toFile: dir + "/c-invalid.yaml", atomically: true, encoding: .utf8)
        try String(contentsOfFile: scenarioPath("busy-far-end.yaml"), encoding: .utf8).write(toFile: dir + "/d-pass.yaml", atomically: true, encoding: .utf8)
        try "not a scenario".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func directoriesTallyAndExitStatus() throws {
        let dir = try library()
        let r = try runCLI(["run", dir, "--db", tempPath("runner.sqlite"), "--jobs", "2"])
        // Invalid input wins (2); the other files still ran and are reported, sorted.
        #expect(r.status == 2)
        let lines = r.out.components(separatedBy: "\n").filter { !$0.isEmpty }
        let heads = lines.filter { $0.hasPrefix("PASS") || $0.hasPrefix("FAIL") || $0.hasPrefix("ERROR") }
        #expect(heads.count == 4)
        #expect(heads[0].hasPrefix("PASS") && heads[0].contains("a-pass.yaml"))
        #expect(heads[1].hasPrefix("ERROR") && heads[1].contains("c-invalid.yaml"))
        #expect(heads[2].hasPrefix("PASS") && heads[2].contains("d-pass.yaml"))
        #expect(heads[3].hasPrefix("FAIL") && heads[3].contains("sub/b-fail.yaml"))
        #expect(r.out.contains("call 1 route: expected sip, actual public"))
        #expect(r.out.contains("999.1.1.1"))
        #expect(lines.last?.hasPrefix("4 scenario(s): 2 passed, 1 failed, 1 invalid") == true)
        // Without the invalid file: 1 (an expectation failed).
        try FileManager.default.removeItem(atPath: dir + "/c-invalid.yaml")
        #expect(try runCLI(["run", dir, "--db", tempPath("runner.sqlite")]).status == 1)
        try FileManager.default.removeItem(atPath: dir + "/sub/b-fail.yaml")
        #expect(try runCLI(["run", dir, "--db", tempPath("runner.sqlite")]).status == 0)
    }

    /// Any number of jobs gives the same lines (wall times aside) and the same database rows.
    @Test func jobsDoNotChangeResults() throws {
        let lib = packageRoot.appendingPathComponent("scenarios").path
        var outs: [String] = [], dumps: [[[String?]]] = []
        for jobs in ["1", "4"] {
            let db = tempPath("jobs-\(jobs).sqlite")
            let r = try runCLI(["run", lib, "--db", db, "--jobs", jobs], env: ["SOURCE_DATE_EPOCH": "1767225600"])
            #expect(r.status == 0)
            outs.append(r.out.replacingOccurrences(of: #"[0-9.]+s wall"#, with: "", options: .regularExpression)
                .components(separatedBy: "\n").dropLast(2).joined(separator: "\n"))
            let d = try SQLiteDatabase(path: db, readOnly: true)
            dumps.append(try d.rows("SELECT run_id, scenario, status, calls, fingerprint FROM run ORDER BY run_id")
                         + d.rows("SELECT * FROM call ORDER BY run_id, call_id")
                         + d.rows("SELECT run_id, seq, kind, detail FROM step ORDER BY run_id, seq"))
        }
        #expect(outs[0] == outs[1])
        #expect(dumps[0] == dumps[1])
    }

    /// JUnit XML read back by Python's xml.etree (not our code); JSON Lines by Foundation.
    @Test func junitAndJSON() throws {
        let dir = try library()
        let xml = tempPath("results.xml"), jsonl = tempPath("results.jsonl")
        let r = try runCLI(["run", dir, "--db", tempPath("runner-j.sqlite"), "--junit", xml, "--json", jsonl])
        #expect(r.status == 2)
        let script = """
            import sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            assert root.tag == "testsuites", root.tag
            suites = root.findall("testsuite")
            for s in suites:
                cases = s.findall("testcase")
                assert int(s.get("tests")) == len(cases), (s.get("name"), s.get("tests"), len(cases))
                assert int(s.get("failures")) == len([c for c in cases if c.find("failure") is not None])
                assert int(s.get("errors")) == len([c for c in cases if c.find("error") is not None])
            fails = [c.find("failure").get("message") for s in suites for c in s.findall("testcase") if c.find("failure") is not None]
            print(len(suites), int(root.get("tests")), int(root.get("failures")), int(root.get("errors")), "|".join(fails))
            """
        let (status, o, e) = try runProgram("/usr/bin/env", ["python3", "-c", script, xml])
        #expect(status == 0, "\(e)")
        let f = o.trimmingCharacters(in: .whitespacesAndNewlines).components(separatedBy: " ")
        // 4 files: the seed (4 expectations) twice, busy-far-end (6), the invalid one (1 error).
        #expect(f.count >= 5 && f[0] == "4" && f[1] == "15" && f[2] == "1" && f[3] == "1", "\(o)")
        #expect(o.contains("expected sip, actual public"))
        let objects = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        #expect(objects.count == 4)
        #expect(objects.map { $0["status"] as? String } == ["passed", "invalid", "passed", "failed"])
        #expect((objects[0]["fingerprint"] as? String)?.hasPrefix("fp64:") == true)
        #expect((objects[1]["error"] as? String)?.contains("999.1.1.1") == true)
    }

    /// A fingerprint is the same in another process, and `expect: - fingerprint:` pins it.
    @Test func fingerprintsArePinned() throws {
        let dbA = tempPath("fp-a.sqlite")
        let a = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", dbA, "-q"])
        let b = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", tempPath("fp-b.sqlite"), "-q"])
        let fa = try #require(a.out.components(separatedBy: "fingerprint ").dropFirst().first?.prefix(21))
        #expect(b.out.contains("fingerprint \(fa)"))
        #expect(try SQLiteDatabase(path: dbA, readOnly: true).rows("SELECT fingerprint FROM run").first?[0] == String(fa))
        let text = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
        let pinned = tempPath("pinned.yaml")
        try (text + "  - fingerprint: \(fa)\n").write(toFile: pinned, atomically: true, encoding: .utf8)
        #expect(try runCLI(["run", pinned, "--db", tempPath("fp-c.sqlite"), "-q"]).status == 0)
        try (text + "  - fingerprint: fp64:0000000000000000\n").write(toFile: pinned, atomically: true, encoding: .utf8)
        let wrong = try runCLI(["run", pinned, "--db", tempPath("fp-c.sqlite"), "-q"])
        #expect(wrong.status == 1 && wrong.out.contains("fingerprint: expected fp64:0000000000000000, actual \(fa)"))
        // Another seed, another trace (a scenario with random ring delays; the seed example draws
        // nothing at random once the warm start has registered the cards).
        func fingerprint(_ seed: String) throws -> String? {
            let r = try runCLI(["run", scenarioPath("trs-after-failover.yaml"), "--db", tempPath("fp-d.sqlite"), "-q", "--seed", seed])
            return r.out.components(separatedBy: "fingerprint ").dropFirst().first.map { String($0.prefix(21)) }
        }
        let f1 = try fingerprint("1"), f2 = try fingerprint("2")
        #expect(f1 != nil && f1 != f2)
    }
}

/// Trace expectations (issue 12 item 3): each can fail, and a failure shows the steps around it.
@Suite struct TraceExpectationTests {
    @Test func failuresShowExpectedActualAndContext() throws {
        // Cold start: the card's registration fails from time zero and it goes OUS.
        let text = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "seed: 1\n", with: "seed: 1\ncold_start: true\n") + """
              - no_request_to: {host: sip2.itsp.example, between: [5s, 6s]}
              - card_state: {pbx: PBX-1, at: 30s, state: INS}
              - sip_attempts: {pbx: PBX-1, min: 4}
              - setup_delay: {max: 10s}

            """
        let file = tempPath("trace-exp.yaml")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runCLI(["run", file, "--db", tempPath("trace-exp.sqlite"), "-q"])
        #expect(r.status == 1)
        // The failover INVITE to sip2 at 5 s, from PBX-1, with the call's steps around it.
        #expect(r.out.contains("no_request_to sip2.itsp.example between 5.000s and 6.000s: expected no request, actual INVITE from 198.51.100.1:5060 at 5.000s (call 1)"))
        #expect(r.out.contains("PBX-1/V-SIPGW  failover  leave 192.0.2.10:5060"))
        // The card went OUS at 12.02 s (every registrar target failed).
        #expect(r.out.contains("card_state PBX-1 at 30.000s: expected INS, actual OUS"))
        #expect(r.out.contains("sip_attempts PBX-1: expected at least 4, actual 3"))
        #expect(r.out.contains("setup_delay of every answered call: expected at most 10s, actual call 1: 16.400s"))
        #expect(r.out.contains("4 of 8 expectation(s) failed"))
    }

    @Test func badTraceExpectationsAreInvalid() throws {
        let base = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
        for (extra, words) in [("  - no_request_to: {host: nowhere.example}\n", "unknown host"),
                               ("  - card_state: {pbx: PBX-9, at: 1s, state: INS}\n", "no PBX"),
                               ("  - card_state: {pbx: PBX-1, at: 1s, state: UP}\n", "INS, OUS or Fault"),
                               ("  - setup_delay: {}\n", "min, max or both")] {
            let file = tempPath("bad-trace-exp.yaml")
            try (base + extra).write(toFile: file, atomically: true, encoding: .utf8)
            let r = try runCLI(["run", file, "--db", tempPath("bad-trace-exp.sqlite"), "-q"])
            #expect(r.status == 2 && r.err.contains(words), "\(extra): \(r.err)")
        }
    }
}

/// A misspelt key names the key it most likely meant (issue 12 item 4, in part).
@Suite struct SuggestionTests {
    @Test func misspeltKeySuggestsTheClosest() throws {
        let text = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "invite_timeout: 4s", with: "invite_timout: 4s")
        let file = tempPath("typo.yaml")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runCLI(["run", file, "--db", tempPath("typo.sqlite")])
        #expect(r.status == 2 && r.err.contains("typo.yaml:50:7: pbxs[0].v_sipgw.invite_timout: unknown key 'invite_timout'; did you mean invite_timeout?"))
        // Nothing close: no guess.
        let far = tempPath("far.yaml")
        try text.replacingOccurrences(of: "invite_timout: 4s", with: "zzzzzz: 4s").write(toFile: far, atomically: true, encoding: .utf8)
        let f = try runCLI(["run", far, "--db", tempPath("typo.sqlite")])
        #expect(f.status == 2 && f.err.contains("unknown key 'zzzzzz'") && !f.err.contains("did you mean"))
    }
}
