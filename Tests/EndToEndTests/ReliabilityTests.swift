import Testing
import Foundation
import Store
@testable import Scenario
import SimCore
import Trace

/// Issue 13: no crash on any input, runs marked when they stop, databases never broken or
/// borrowed. Each promise in docs/reliability.md names the test here that holds it.
@Suite(.serialized) struct ReliabilityTests {
    func seedText() throws -> String { try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8) }

    func write(_ name: String, _ text: String) throws -> String {
        let p = tempPath(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// Runs a scenario text and returns the CLI result.
    func run(_ text: String, name: String = "hostile.yaml", args: [String] = []) throws -> (status: Int32, out: String, err: String) {
        try runCLI(["run", try write(name, text), "--db", tempPath("hostile.sqlite"), "-q"] + args)
    }

    // MARK: - No crash on any input

    /// Numbers out of range get exit 2 with file, line, column and key, before any arithmetic.
    @Test func outOfRangeNumbersAreRefusedWithTheirPlace() throws {
        let seed = try seedText()
        let traffic = try String(contentsOfFile: scenarioPath("public-trunk-overflow.yaml"), encoding: .utf8)
        let cases: [(String, String, String)] = [
            (seed.replacingOccurrences(of: "invite_timeout: 4s", with: "invite_timeout: 2562048h"), "invite_timeout", "366 days"),
            (seed.replacingOccurrences(of: "failover_timer_register: 4s\n      invite_timeout", with: "t1: 1000000h\n      invite_timeout"), "t1", "366 days"),
            (seed.replacingOccurrences(of: "failover_timer_register: 4s\n      invite_timeout", with: "register_expires: 9223372036\n      invite_timeout"), "register_expires", "at most"),
            (seed.replacingOccurrences(of: "{at: 1s, do: \"dial", with: "{at: 2562048h, do: \"dial"), "timeline[1].at", "366 days"),
            (seed.replacingOccurrences(of: "dial PBX-1/1000 012-345-1011\"", with: "dial PBX-1/1000 012-345-1011 hold 2562048h\""), "timeline[1].do", "366 days"),
            (seed.replacingOccurrences(of: "seed: 1\n", with: "seed: 1\nuntil: 99999999h\n"), "until", "366 days"),
            (seed.replacingOccurrences(of: "seed: 1\n", with: "seed: 1\nstart: \"2026-02-30 10:00\"\n"), "start", "date"),
            (seed.replacingOccurrences(of: "seed: 1\n", with: "seed: 1\nstart: \"2026-01-05 25:61\"\n"), "start", "date"),
            (seed.replacingOccurrences(of: "sip_server: 192.0.2.10\n      sip_server_failover", with: "sip_server: 999.1.1.1\n      sip_server_failover"), "sip_server", "IPv4"),
            (seed.replacingOccurrences(of: "{name: TELCO-012, area_code: \"012\"}", with: "{name: TELCO-012, area_code: \"098\"}"), "area_code", "already belongs"),
            (traffic.replacingOccurrences(of: "erlangs: 8", with: "rate: 1e-12"), "rate", "outside"),
            (traffic.replacingOccurrences(of: "calls: 600", with: "calls: 1000000000000"), "calls", "at most"),
            (traffic.replacingOccurrences(of: "calls: 600", with: "calls: 100000001"), "calls", "at most"),
            (traffic.replacingOccurrences(of: "calls: 600", with: "duration: 8000h").replacingOccurrences(of: "erlangs: 8", with: "erlangs: 10000"), "duration", "calls at this rate"),
            (traffic.replacingOccurrences(of: "erlangs: 8", with: "erlangs: 1e9"), "erlangs", "outside"),
            (traffic.replacingOccurrences(of: "\"012-555-0000..012-555-9999\"", with: "\"1000000000000000..9999999999999999\""), "numbers", "15 digits"),
        ]
        for (text, key, words) in cases {
            let r = try run(text)
            #expect(r.status == 2, "\(key): \(r.err)")
            #expect(r.err.contains("hostile.yaml:") && r.err.contains(key) && r.err.contains(words), "\(key): \(r.err)")
        }
    }

    /// Sweep values are held to the scenario's own rules, and draws are bounded.
    @Test func sweepValuesFollowTheScenarioRules() throws {
        let base = scenarioPath("seed-example.yaml")
        for (vary, words) in [("loss: {choice: [0, 101]}", "between 0 and 100"), ("loss: {choice: [nan]}", "percentage"),
                              ("invite_timeout: {choice: [4s, 0s]}", "positive"), ("latency: {uniform: [1ms, 2562048h]}", "366 days")] {
            let sweep = try write("hostile-sweep.yaml", "name: s\nbase: \(base)\nvary:\n  \(vary)\n")
            let r = try runCLI(["generate", sweep, "--runs", "2", "--db", tempPath("sweep.sqlite")])
            #expect(r.status == 2 && r.err.contains(words), "\(vary): \(r.err)")
        }
        let sweep = try write("hostile-count.yaml", "name: s\nbase: \(base)\ncalls:\n  count: {uniform: [1, 1e400]}\n  from: [PBX-1/1000]\n  to: [\"012-345-1011\"]\n")
        let r = try runCLI(["generate", sweep, "--runs", "2", "--db", tempPath("sweep.sqlite")])
        #expect(r.status == 2 && r.err.contains("count"), "\(r.err)")
    }

    /// Files that are not scenarios each get a plain sentence; a BOM is accepted; the hash is
    /// taken over the bytes; invalid UTF-8 and control characters are refused by position.
    @Test func filesAreReadAsASpecificationWould() throws {
        let zero = try runCLI(["run", "/dev/zero", "--db", tempPath("f.sqlite")])
        #expect(zero.status == 2 && zero.err.contains("larger than 4 MiB"))
        // `run` takes directories (every scenario in them); where one file belongs, a directory is named.
        let dir = try runCLI(["repl", packageRoot.appendingPathComponent("scenarios").path, "--db", tempPath("f.sqlite")])
        #expect(dir.status == 2 && dir.err.contains("is a directory"))
        let missing = try runCLI(["run", tempPath("missing.yaml"), "--db", tempPath("f.sqlite")])
        #expect(missing.status == 2 && missing.err.contains("no such file"))
        let db = tempPath("f.sqlite")
        #expect(try runCLI(["run", scenarioPath("busy-far-end.yaml"), "--db", db, "-q"]).status == 0)
        let asScenario = try runCLI(["run", db, "--db", tempPath("g.sqlite")])
        #expect(asScenario.status == 2 && asScenario.err.contains("is a SQLite database"))
        // Invalid UTF-8: the byte and its offset.
        var bytes = Array("name: x\nseed: 1\n".utf8)
        bytes.insert(0xFF, at: 6)
        let bad = tempPath("bad-utf8.yaml")
        _ = FileManager.default.createFile(atPath: bad, contents: Data(bytes))
        let r = try runCLI(["run", bad, "--db", tempPath("f.sqlite")])
        #expect(r.status == 2 && r.err.contains("invalid byte 0xFF at byte offset 6"))
        // NUL in a name: line and column.
        let nul = try run("name: a\u{0}b\nseed: 1\n", name: "nul.yaml")
        #expect(nul.status == 2 && nul.err.contains("nul.yaml:1:8") && nul.err.contains("U+0000"))
        // A BOM is accepted; the stored hash is over the file's bytes, so it differs from the same text without one.
        let bom = tempPath("bom.yaml")
        _ = FileManager.default.createFile(atPath: bom, contents: Data([0xEF, 0xBB, 0xBF] + Array(try seedText().utf8)))
        let hashes = tempPath("hashes.sqlite")
        #expect(try runCLI(["run", bom, "--db", hashes, "-q"]).status == 0)
        #expect(try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", hashes, "-q"]).status == 0)
        let h = try SQLiteDatabase(path: hashes, readOnly: true).rows("SELECT scenario_hash FROM run ORDER BY run_id").map { $0[0] ?? "" }
        #expect(h.count == 2 && h[0] != h[1])
        // Duplicate keys: both lines, not the whole file.
        let dup = try run("name: a\nseed: 1\nname: b\n", name: "dup.yaml")
        #expect(dup.status == 2 && dup.err.contains("first at line 1, again at line 3") && !dup.err.contains("name: b"))
    }

    /// IP addresses are compared as addresses: two spellings of one IPv6 address are one host.
    @Test func addressesCompareAsAddresses() throws {
        let text = try String(contentsOfFile: scenarioPath("ipv6-aaaa.yaml"), encoding: .utf8)
        let s = try ScenarioLoader.load(path: "v6.yaml", text: text.replacingOccurrences(of: "2001:db8::11", with: "2001:0DB8:0000::0011"))
        let orig = try ScenarioLoader.load(path: "v6.yaml", text: text)
        #expect(s.world.hosts.map(\.ip) == orig.world.hosts.map(\.ip))
    }

    /// Thousands of mutated bundled scenarios and sweeps through the loader and a bounded run:
    /// every one either loads or is refused with a ScenarioError; a crash would end this process.
    @Test func fuzzedScenariosNeverCrash() throws {
        let dir = packageRoot.appendingPathComponent("scenarios").path
        let texts = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
            .map { try String(contentsOfFile: dir + "/" + $0, encoding: .utf8) }
        let sweeps = try ["failover.yaml", "busy-hour.yaml"].map {
            try String(contentsOfFile: packageRoot.appendingPathComponent("sweeps/\($0)").path, encoding: .utf8)
                .replacingOccurrences(of: "../scenarios/", with: dir + "/")
        }
        let extremes = ["0", "-1", "1e400", "9223372036854775807", "18446744073709551616", "1e-12", "nan", "inf", "2562048h", "1000000h",
                        "99999999999999999999", "0s", "-5s", "1e9", "0.0000001", "4294967296", "25:61", "2026-02-30", "999.1.1.1",
                        "2001:0db8:0000::0011", "\"\"", "[]", "{}", "~", "1h99999999999999m", "65535", "101%", "..", "0..99999999999999999"]
        var rng = SplitMix64(state: 20261125)
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        var loaded = 0, refused = 0
        for i in 0..<2500 {
            let isSweep = i % 10 == 9
            var lines = (isSweep ? pick(sweeps) : pick(texts)).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let k = Int(rng.next() % UInt64(lines.count))
                switch rng.next() % 6 {
                case 0, 1, 2:
                    // Replace a number-like token with an extreme value.
                    let words = lines[k].split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                    let numeric = words.indices.filter { words[$0].first?.isNumber ?? false }
                    if !numeric.isEmpty {
                        let w = pick(numeric)
                        var ws = words
                        let tail = ws[w].drop { $0.isNumber || $0 == "." || $0 == "h" || $0 == "m" || $0 == "s" }
                        ws[w] = pick(extremes) + tail
                        lines[k] = ws.joined(separator: " ")
                    }
                case 3: lines.insert(lines[k], at: k)
                case 4: lines.remove(at: k)
                default: lines[k] += pick(extremes)
                }
            }
            let text = lines.joined(separator: "\n")
            do {
                if isSweep {
                    let sw = try SweepLoader.load(path: "fuzz-sweep.yaml", text: text, readFile: { try? String(contentsOfFile: $0, encoding: .utf8) })
                    for run in 0..<2 { _ = try sw.scenario(run: run, seed: 1) }
                } else {
                    let s = try ScenarioLoader.load(path: "fuzz.yaml", text: text)
                    // A bounded run: at most 2,000 events, never past the simulated-time ceiling.
                    let world = ScenarioRunner.makeWorld(s, sink: CountingSink(), traceLevel: .calls)
                    var n = 0
                    while n < 2_000, world.step(until: SimTime.maxDuration) { n += 1 }
                    world.recordCallsInProgress()
                }
                loaded += 1
            } catch is ScenarioError {
                refused += 1
            }
        }
        #expect(loaded > 100 && refused > 100, "loaded \(loaded), refused \(refused)")
    }

    // MARK: - Runs that are marked when they stop

    /// SIGINT, SIGTERM and SIGHUP during a long run: what is done is committed, the run is marked
    /// interrupted with its end time, calls in progress get rows, exit 130/143/129.
    @Test(arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143)), (SIGHUP, Int32(129))])
    func signalsMarkTheRun(_ sig: Int32, _ code: Int32) throws {
        // Enough traffic that it cannot end before the signal: 400 erlangs, 100 million calls.
        let text = try String(contentsOfFile: scenarioPath("public-trunk-overflow.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "calls: 600", with: "calls: 100000000")
            .replacingOccurrences(of: "erlangs: 8", with: "erlangs: 400")
            .components(separatedBy: "\nexpect:")[0]
        let file = try write("long.yaml", text)
        let db = tempPath("signal-\(sig).sqlite")
        let p = Process()
        p.executableURL = packageRoot.appendingPathComponent(".build/debug/pbxsim")
        p.arguments = ["run", file, "--db", db, "--summary-only", "--trace", "calls"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Wait until calls are committed (the writer commits every 20,000 rows), then signal.
        var seen = false
        for _ in 0..<600 where !seen {
            usleep(50_000)
            seen = ((try? SQLiteDatabase(path: db, readOnly: true).scalarInt("SELECT count(*) FROM call")) ?? 0) > 0
        }
        #expect(seen)
        kill(p.processIdentifier, sig)
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == code, "\(e)")
        #expect(o.contains("interrupted by") && o.contains("summary"))
        let d = try SQLiteDatabase(path: db, readOnly: true)
        let row = try #require(try d.rows("SELECT status, ended_at_us, calls FROM run").first)
        #expect(row[0] == "interrupted" && row[1] != nil)
        #expect(try d.scalarInt("SELECT count(*) FROM call") == Int64(row[2] ?? "-1"))
        #expect(try d.rows("PRAGMA integrity_check").first?[0] == "ok")
    }

    /// A run left `running` by a process that is gone (SIGKILL, power loss) reads as interrupted;
    /// prune drops it; generate redoes the unfinished runs of its sweep and keeps the others.
    @Test func deadWritersAreReportedAndResumed() throws {
        let env = ["SOURCE_DATE_EPOCH": "1767225600"]
        let sweep = packageRoot.appendingPathComponent("sweeps/failover.yaml").path
        let clean = tempPath("resume-clean.sqlite"), db = tempPath("resume.sqlite")
        #expect(try runCLI(["generate", sweep, "--runs", "6", "--db", clean, "--seed", "5"], env: env).status == 0)
        #expect(try runCLI(["generate", sweep, "--runs", "6", "--db", db, "--seed", "5"], env: env).status == 0)
        // Make run 4 look like a killed writer's: running, a dead pid on this host, rows missing.
        let host = RunLiveness.me.split(separator: " ")[0]
        let w = try SQLiteDatabase(path: db)
        try w.execute("UPDATE run SET status = 'running', writer = '\(host) 999999999' WHERE run_id = 4")
        try w.execute("DELETE FROM call WHERE run_id = 4 AND call_id > 1")
        #expect(RunLiveness.status("running", writer: "\(host) 999999999") == "interrupted")
        let export = try runCLI(["export", db, "--format", "jsonl", "--out", tempPath("x.jsonl")])
        #expect(export.status == 0 && export.err.contains("run 4 is interrupted"))
        // The same generate command redoes run 4 and keeps 1-3, 5-6: the file equals a clean one.
        let again = try runCLI(["generate", sweep, "--runs", "6", "--db", db, "--seed", "5"], env: env)
        #expect(again.status == 0 && again.out.contains("resuming: 5 of 6"), "\(again.err)")
        func dump(_ p: String) throws -> [[String?]] {
            try SQLiteDatabase(path: p, readOnly: true).rows("SELECT * FROM call ORDER BY run_id, call_id")
                + SQLiteDatabase(path: p, readOnly: true).rows("SELECT run_id, status, calls, writer FROM run ORDER BY run_id")
        }
        #expect(try dump(db) == dump(clean))
        // Another seed into the same file clashes instead of mixing.
        let clash = try runCLI(["generate", sweep, "--runs", "6", "--db", db, "--seed", "6"], env: env)
        #expect(clash.status == 2 && clash.err.contains("another sweep or seed"))
        // prune drops an interrupted run with all its rows.
        try w.execute("UPDATE run SET status = 'interrupted' WHERE run_id = 2")
        let prune = try runCLI(["prune", db])
        #expect(prune.status == 0 && prune.out.contains("dropped 1"))
        #expect(try w.scalarInt("SELECT count(*) FROM call WHERE run_id = 2") == 0)
        #expect(try w.scalarInt("SELECT count(*) FROM run") == 5)
    }

    /// The REPL: quit with a call in progress records it; extra arguments and durations past the
    /// ceiling are refused; step takes one count.
    @Test func replQuitRecordsCallsInProgress() throws {
        let db = tempPath("repl-quit.sqlite")
        let r = try runRepl("""
            advance 1s
            dial PBX-1/1000 012-345-1011 hold 60s
            advance 5s
            step 1 junk
            advance 2562048h
            status now
            quit
            """, args: ["--db", db])
        #expect(r.status == 1) // the refused commands
        #expect(r.err.contains("usage: step [N]") && r.err.contains("366 days") && r.err.contains("status takes no argument"))
        let rows = try SQLiteDatabase(path: db, readOnly: true).rows("SELECT outcome, ended_at_us, route FROM call")
        #expect(rows.count == 1 && rows[0][0] == "answered" && rows[0][1] == nil && rows[0][2] == "sip")
    }

    // MARK: - Databases never broken or borrowed

    /// Several processes creating one new database at once all complete with every row present.
    @Test func concurrentRunsOnOneNewDatabase() throws {
        for trial in 0..<3 {
            let db = tempPath("concurrent-\(trial).sqlite")
            let procs: [(Process, Pipe)] = try (0..<4).map { _ in
                let p = Process()
                p.executableURL = packageRoot.appendingPathComponent(".build/debug/pbxsim")
                p.arguments = ["run", scenarioPath("seed-example.yaml"), scenarioPath("busy-far-end.yaml"), "--db", db, "-q"]
                p.standardOutput = FileHandle.nullDevice
                let err = Pipe()
                p.standardError = err
                try p.run()
                return (p, err)
            }
            for (p, err) in procs {
                let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                #expect(p.terminationStatus == 0, "trial \(trial): \(e)")
            }
            let d = try SQLiteDatabase(path: db, readOnly: true)
            #expect(try d.scalarInt("SELECT count(*) FROM run WHERE status = 'passed'") == 8)
            #expect(try d.scalarInt("SELECT count(*) FROM call") == 8)
            #expect(try d.scalarInt("PRAGMA user_version") == Int64(TraceStore.schemaVersion))
            #expect(try d.scalarInt("PRAGMA application_id") == TraceStore.applicationID)
            #expect(try d.rows("PRAGMA integrity_check").first?[0] == "ok")
        }
    }

    /// A database that is not ours is refused by name and left byte for byte as it was.
    @Test func foreignDatabasesAreRefusedUntouched() throws {
        let foreign = tempPath("foreign.sqlite")
        let f = try SQLiteDatabase(path: foreign)
        try f.execute("CREATE TABLE call (who TEXT, at INTEGER); INSERT INTO call VALUES ('alice', 1);")
        let other = tempPath("other-app.sqlite")
        let o = try SQLiteDatabase(path: other)
        try o.execute("PRAGMA application_id = 1234; CREATE TABLE t (x);")
        for path in [foreign, other] {
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let r = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", path, "-q"])
            #expect(r.status == 2 && r.err.contains(path) && r.err.contains("not a pbxsim trace database"), "\(r.err)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
        let empty = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", "", "-q"])
        #expect(empty.status == 2 && empty.err.contains("empty database file name"))
    }

    /// A database that reaches its size limit (as a full disk would) stops the run with exit 3
    /// and a sentence that says so; the runs before it are intact.
    @Test func fullDatabaseKeepsEarlierRuns() throws {
        let db = tempPath("full.sqlite")
        #expect(try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "-q"]).status == 0)
        let r = try runCLI(["run", scenarioPath("busy-hour-sip-failure.yaml"), "--db", db, "-q", "--max-db-size", "1M"])
        #expect(r.status == 3 && r.err.contains("size limit") && r.err.contains("earlier runs are intact"), "\(r.err)")
        let d = try SQLiteDatabase(path: db, readOnly: true)
        #expect(try d.rows("PRAGMA integrity_check").first?[0] == "ok")
        #expect(try d.rows("SELECT status FROM run ORDER BY run_id").map { $0[0] ?? "" } == ["passed", "trace-error"])
        #expect(try d.scalarInt("SELECT count(*) FROM call WHERE run_id = 1") == 1)
    }

    /// `generate` into a database that reaches its size limit stops with exit 3 and says which
    /// runs are written: the batch it was writing rolled back whole, the runs before it are
    /// complete and intact, and the same command with room finishes the rest.
    @Test func generateIntoAFullDatabaseKeepsTheRunsBefore() throws {
        let db = tempPath("gen-full.sqlite")
        let sweep = packageRoot.appendingPathComponent("sweeps/failover.yaml").path
        let r = try runCLI(["generate", sweep, "--runs", "400", "--jobs", "2", "--db", db, "--max-db-size", "2M"])
        #expect(r.status == 3 && r.err.contains("size limit") && r.err.contains("is not written"), "\(r.err)")
        let d = try SQLiteDatabase(path: db, readOnly: true)
        #expect(try d.rows("PRAGMA integrity_check").first?[0] == "ok")
        let completed = try d.scalarInt("SELECT count(*) FROM run WHERE status = 'completed'") ?? -1
        #expect(completed > 0 && completed < 400)
        // The message names how many runs before the failed batch are intact, and they are.
        #expect(r.err.contains("the \(completed) run(s) before it are intact"), "\(r.err)")
        // Completed runs are the first ones, in order, each with its call rows.
        #expect(try d.scalarInt("SELECT max(run_id) FROM run WHERE status = 'completed'") == completed)
        #expect(try d.scalarInt("SELECT count(DISTINCT run_id) FROM call") == completed)
        let again = try runCLI(["generate", sweep, "--runs", "400", "--jobs", "2", "--db", db])
        #expect(again.status == 0 && again.out.contains("resuming: \(completed) of 400"), "\(again.out)\(again.err)")
        let e = try SQLiteDatabase(path: db, readOnly: true)
        #expect(try e.scalarInt("SELECT count(*) FROM run WHERE status = 'completed'") == 400)
    }

    /// A SIP message larger than a UDP datagram is refused by name in a pcap export.
    @Test func pcapRefusesOversizedMessages() throws {
        let db = tempPath("big-message.sqlite")
        #expect(try runCLI(["run", scenarioPath("busy-far-end.yaml"), "--db", db, "-q"]).status == 0)
        let w = try SQLiteDatabase(path: db)
        try w.execute("UPDATE sip_message SET raw = raw || '\(String(repeating: "x", count: 70_000))' WHERE seq = (SELECT min(seq) FROM sip_message)")
        let out = tempPath("big.pcap")
        let r = try runCLI(["export", db, "--format", "pcap", "--out", out])
        #expect(r.status == 2 && r.err.contains("do not fit one UDP datagram") && r.err.contains("seq"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

/// Counts events and keeps nothing.
final class CountingSink: TraceSink {
    var count = 0
    func record(_ event: TraceEvent) { count += 1 }
    func flush() throws {}
}
