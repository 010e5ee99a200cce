import Testing
import Foundation
import Store
@testable import Export
import Trace

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF inside quotes).
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = [], row: [String] = [], field = ""
    var inQuotes = false
    var it = Array(text.unicodeScalars), i = 0
    while i < it.count {
        let c = it[i]
        if inQuotes {
            if c == "\"" {
                if i + 1 < it.count && it[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { inQuotes = false }
            } else { field.unicodeScalars.append(c) }
        } else {
            switch c {
            case "\"": inQuotes = true
            case ",": row.append(field); field = ""
            case "\r": break
            case "\n": row.append(field); rows.append(row); row = []; field = ""
            default: field.unicodeScalars.append(c)
            }
        }
        i += 1
    }
    it.removeAll()
    return rows
}

/// The SIP packets of a pcap as decoded by the real tshark (checksums verified), one row of the
/// requested fields per packet.
func tsharkFields(_ pcap: String, _ fields: [String]) throws -> [[String]] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["tshark", "-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-Y", "sip",
                   "-T", "fields", "-E", "separator=|"] + fields.flatMap { ["-e", $0] }
    let o = Pipe()
    p.standardOutput = o
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = o.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "tshark failed (is it installed? .ci/run installs it)")
    return String(decoding: data, as: UTF8.self).split(separator: "\n")
        .map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
}

@Suite(.serialized) struct ExportTests {
    /// A database with three runs of different failure modes.
    static func makeDB() throws -> String {
        let db = tempPath("export.sqlite")
        for f in ["seed-example.yaml", "503-retry-after.yaml", "busy-far-end.yaml"] {
            let r = try runCLI(["run", scenarioPath(f), "--db", db, "-q"])
            #expect(r.status == 0)
        }
        return db
    }

    /// RFC 4180 fields and JSON objects as the exporters write them, read back by a parser and by
    /// Foundation: quotes doubled (also before a combining mark), line breaks and commas quoted,
    /// JSON escapes, nulls, numbers.
    @Test func fieldsAndObjectsAreWrittenExactly() throws {
        let awkward = "a \"q\"\u{301}, b\r\nc"
        let line = Exporter.csvLine(["plain", nil, awkward, "", "é,✓"])
        #expect(line == "plain,,\"a \"\"q\"\"\u{301}, b\r\nc\",,\"é,✓\"\r\n")
        #expect(parseCSV(line).first == ["plain", "", awkward, "", "é,✓"])
        var o = JSONObject()
        o.add("s", awkward); o.add("none", nil as String?); o.add("n", -7); o.add("big", Int64.max); o.add("d", 0.5)
        o.add("b", true); o.addRaw("raw", "[1,2]")
        #expect(o.text == #"{"s":"a \"q\"\#u{301}, b\r\nc","none":null,"n":-7,"big":9223372036854775807,"d":0.5,"b":true,"raw":[1,2]}"#)
        let back = try #require(try JSONSerialization.jsonObject(with: Data(o.text.utf8)) as? [String: Any])
        #expect(back["s"] as? String == awkward && back["none"] is NSNull && (back["raw"] as? [Int]) == [1, 2])
        #expect(JSONObject().text == "{}")
    }

    @Test func jsonlRoundTrip() throws {
        let db = try Self.makeDB()
        let out = tempPath("steps.jsonl")
        let r = try runCLI(["export", db, "--format", "jsonl", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let steps = try store.scalarInt("SELECT count(*) FROM step")!, msgs = try store.scalarInt("SELECT count(*) FROM sip_message")!
        #expect(lines.count == Int(steps + msgs))
        var lastKey: (Int, Int) = (0, 0)
        var seenSteps = 0
        for l in lines {
            let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as! [String: Any]
            let run = o["run_id"] as! Int, seq = o["seq"] as! Int
            #expect((run, seq) > lastKey) // ordered by run then seq: steps and messages interleaved
            lastKey = (run, seq)
            #expect(o["at_ms"] as! Double == Double(o["at_us"] as! Int) / 1000)
            if o["type"] as! String == "step" {
                seenSteps += 1
                let row = try store.rows("SELECT at_us, coalesce(call_id, -1), actor, kind, detail FROM step WHERE run_id = ? AND seq = ?", [.int(Int64(run)), .int(Int64(seq))])[0]
                #expect(row[0] == String(o["at_us"] as! Int))
                #expect(row[1] == String((o["call_id"] as? Int) ?? -1))
                #expect(row[2] == o["actor"] as? String && row[3] == o["kind"] as? String && row[4] == o["detail"] as? String)
            } else {
                let row = try store.rows("SELECT m.src, m.dst, coalesce(m.method, ''), coalesce(m.status_code, 0), m.branch, \(TraceStore.rawSQL), m.delivered FROM sip_message m WHERE m.run_id = ? AND m.seq = ?", [.int(Int64(run)), .int(Int64(seq))])[0]
                #expect(row[0] == o["src"] as? String && row[1] == o["dst"] as? String)
                #expect(row[2] == ((o["method"] as? String) ?? "") && row[3] == String((o["status_code"] as? Int) ?? 0))
                #expect(row[4] == o["branch"] as? String && row[5] == o["raw"] as? String)
                #expect((row[6] == "1") == (o["delivered"] as! Bool))
            }
        }
        #expect(seenSteps == Int(steps))
    }

    @Test func episodesCarryInputsAttemptsAndLabels() throws {
        let db = try Self.makeDB()
        let r = try runCLI(["export", db, "--format", "episodes", "--split"])
        #expect(r.status == 0, "\(r.err)")
        let eps = r.out.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let store = try SQLiteDatabase(path: db, readOnly: true)
        #expect(eps.count == Int(try store.scalarInt("SELECT count(*) FROM call")!))
        let seed = eps.first { ($0["run_id"] as! Int) == 1 }!
        let inputs = seed["inputs"] as! [String: Any]
        #expect(inputs["caller"] as? String == "PBX-1/1000")
        #expect(inputs["weekday"] as? String == "Monday" && inputs["time_of_day"] as? String == "09:00:01")
        #expect(inputs["card_state"] as? String == "INS")
        let net = inputs["network"] as! [String: Any]
        #expect(net["down"] as! [String] == ["sip1.itsp.example", "sip2.itsp.example", "sip3.itsp.example"])
        let card = (inputs["config"] as! [String: Any])["v_sipgw"] as! [String: Any]
        #expect(card["sip_server_failover"] as? String == "192.0.2.11" && card["invite_timeout_ms"] as? Int == 4000)
        let attempts = seed["attempts"] as! [[String: Any]]
        #expect(attempts.map { $0["target"] as! String } == ["192.0.2.10:5060", "192.0.2.11:5060", "192.0.2.12:5060"])
        #expect(attempts.map { $0["started_at_us"] as! Int } == [1_000_000, 5_000_000, 9_000_000])
        let labels = seed["labels"] as! [String: Any]
        #expect(labels["outcome"] as? String == "answered" && labels["route"] as? String == "public" && labels["rerouted"] as? Bool == true)
        #expect(labels["sip_attempts"] as? Int == 3)
        // Every call of a run is in the same split.
        for run in Set(eps.map { $0["run_id"] as! Int }) {
            #expect(Set(eps.filter { $0["run_id"] as! Int == run }.map { $0["split"] as! String }).count == 1)
        }
        // The 503 run's second call saw sip2 blocklisted... and the responding server in its inputs.
        let retry = eps.first { ($0["run_id"] as! Int) == 2 }!
        #expect(((retry["inputs"] as! [String: Any])["network"] as! [String: Any])["responding"] as! [String: String] == ["sip1.itsp.example": "503 Retry-After 2m"])
    }

    @Test func csvRoundTrip() throws {
        let db = try Self.makeDB()
        let prefix = tempPath("export")
        let r = try runCLI(["export", db, "--format", "csv", "--out", prefix, "--run", "1", "3"])
        #expect(r.status == 0, "\(r.err)")
        let calls = parseCSV(try String(contentsOfFile: prefix + "-calls.csv", encoding: .utf8))
        let steps = parseCSV(try String(contentsOfFile: prefix + "-steps.csv", encoding: .utf8))
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let dbCalls = try store.rows("SELECT * FROM call WHERE run_id IN (1, 3) ORDER BY run_id, call_id").map { $0.map { $0 ?? "" } }
        #expect(calls.first?.first == "run_id")
        // The call table's columns first, then the documented input columns.
        #expect(Array(calls.dropFirst()).map { Array($0.prefix(dbCalls[0].count)) } == dbCalls)
        #expect(calls[0] == Exporter.callColumns + Exporter.inputColumns)
        let inputs = Dictionary(uniqueKeysWithValues: zip(calls[0], calls[1]))
        #expect(inputs["latency_ms"] == "10" && inputs["loss_pct"] == "0" && inputs["transport"] == "udp")
        #expect(inputs["invite_timeout_ms"] == "4000" && inputs["t1_ms"] == "500" && inputs["weekday"] == "Monday")
        let n = try store.scalarInt("SELECT (SELECT count(*) FROM step WHERE run_id IN (1,3)) + (SELECT count(*) FROM sip_message WHERE run_id IN (1,3))")!
        #expect(steps.count - 1 == Int(n))
        // Raw SIP text with CRLF and commas survives the quoting.
        let raws = steps.dropFirst().filter { $0[2] == "sip" }.map { $0[15] }
        let dbRaws = try store.rows("SELECT \(TraceStore.rawSQL) FROM sip_message m WHERE m.run_id IN (1,3) ORDER BY m.run_id, m.seq").map { $0[0] ?? "" }
        #expect(raws == dbRaws)
    }

    /// The pcap decodes in the real tshark: one SIP packet per message, with the same methods,
    /// status codes, Call-IDs and branches as the database.
    @Test func pcapDecodesInTshark() throws {
        let db = try Self.makeDB()
        let pcap = tempPath("trace.pcap")
        let r = try runCLI(["export", db, "--format", "pcap", "--out", pcap])
        #expect(r.status == 0, "\(r.err)")
        let decoded = try tsharkFields(pcap, ["sip.Method", "sip.Status-Code", "sip.Call-ID", "sip.Via.branch",
                                              "ip.checksum.status", "udp.checksum.status"])
        let store = try SQLiteDatabase(path: db, readOnly: true)
        // Call-IDs carry their run (`r<run>-`), so they are unique across the runs of one file.
        let rows = try store.rows("SELECT coalesce(method, ''), coalesce(status_code, ''), 'r' || run_id || '-' || sip_call_id, branch FROM sip_message ORDER BY run_id, seq")
        #expect(decoded.count == rows.count)
        for (d, row) in zip(decoded, rows) {
            #expect(d[0] == row[0] && d[1] == row[1] && d[2] == row[2])
            #expect(d[3].split(separator: ",").first.map(String.init) == row[3]) // top Via first
            // Checksum status 1 = good (0 = bad, 2 = unverified): tshark verified both.
            #expect(d[4] == "1" && d[5] == "1")
        }
    }

    /// The Call-ID made unique per run, on bytes: the expected texts are written out by hand, and
    /// the byte path gives what the character-by-character one gives on every case (compact and
    /// long names in any case, runs of spaces, a name with nothing after it, a Call-ID in the
    /// body, no final CRLF, bare CR and LF, non-ASCII headers and bodies, empty text).
    @Test func callIDIsScopedToTheRunOnBytes() {
        func scoped(_ raw: String, run: Int64) -> String { String(decoding: Exporter.runScopedCallIDBytes(raw, run: run), as: UTF8.self) }
        let invite = "INVITE sip:1011@x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nCall-ID:   abc@h\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nCall-ID: body\r\n"
        #expect(scoped(invite, run: 7)
                == "INVITE sip:1011@x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nCall-ID: r7-abc@h\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nCall-ID: body\r\n")
        #expect(scoped("SIP/2.0 200 OK\r\ni:x\r\nCALL-id: y", run: 12) == "SIP/2.0 200 OK\r\ni: r12-x\r\nCALL-id: r12-y")
        #expect(scoped("A\r\nCall-ID:\r\ni:\r\n", run: 1) == "A\r\nCall-ID:\r\ni:\r\n")
        let cases = [invite, "", "\r\n", "Call-ID: a", "i: a\r\n\r\n", "x\nCall-ID: a\r\nb\rc\r\n", "Call-ID: é\r\ni: b\r\n\r\nbody é",
                     "To: <sip:é@x>\r\nCall-ID: a\r\n", "Call-ID:\u{301} a\r\n", "Via: a\r\n\r\n\r\nCall-ID: late", "Call-Id:  \r\n",
                     "Call-ID-X: a\r\ncall-id:b\r\nI:c\r\n\r\n"]
        for c in cases {
            for run: Int64 in [1, 40] {
                #expect(Exporter.runScopedCallIDBytes(c, run: run) == Array(Exporter.runScopedCallIDByCharacters(c, run: run).utf8), "\(c.debugDescription)")
            }
        }
    }

    /// Several runs in one pcap: each starts on its own day after the previous one ended, in order.
    @Test func pcapRunsDoNotOverlap() throws {
        let db = try Self.makeDB()
        let pcap = tempPath("runs.pcap")
        #expect(try runCLI(["export", db, "--format", "pcap", "--out", pcap]).status == 0)
        let decoded = try tsharkFields(pcap, ["frame.time_epoch", "sip.Call-ID"])
        var firstOfRun: [String: Double] = [:], lastOfRun: [String: Double] = [:]
        for d in decoded {
            let run = String(d[1].prefix { $0 != "-" })
            let t = Double(d[0]) ?? 0
            firstOfRun[run] = min(firstOfRun[run] ?? .infinity, t)
            lastOfRun[run] = max(lastOfRun[run] ?? 0, t)
        }
        let runs = firstOfRun.keys.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }
        #expect(runs.count >= 2)
        #expect(firstOfRun[runs[0]]! >= Double(Exporter.pcapEpoch))
        for (a, b) in zip(runs, runs.dropFirst()) {
            #expect(firstOfRun[b]! > lastOfRun[a]!)
            #expect(Int(firstOfRun[b]! - Double(Exporter.pcapEpoch)) % 86_400 < 3_600) // starts shortly after a midnight
        }
    }

    /// Issue 10: `tshark -z expert` (with IP and UDP checksum validation) reports nothing on the
    /// pcap of every bundled scenario; one flipped byte makes it report a bad checksum, so the
    /// check can fail.
    @Test func tsharkExpertIsCleanOnEveryBundledScenario() throws {
        let db = tempPath("expert.sqlite")
        let r = try runCLI(["run", packageRoot.appendingPathComponent("scenarios").path, "--db", db, "--jobs", "2"])
        #expect(r.status == 0, "\(r.out)")
        let pcap = tempPath("expert.pcap")
        #expect(try runCLI(["export", db, "--format", "pcap", "--out", pcap]).status == 0)
        func expert(_ file: String) throws -> String {
            try runProgram("/usr/bin/env", ["tshark", "-r", file, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                                            "-q", "-z", "expert"]).out
        }
        let clean = try expert(pcap)
        #expect(!clean.contains("Errors (") && !clean.contains("Warnings (") && !clean.contains("Notes ("), "\(clean)")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: pcap))
        bytes[bytes.count - 5] ^= 0xFF
        let broken = tempPath("expert-broken.pcap")
        try bytes.write(to: URL(fileURLWithPath: broken))
        #expect(try expert(broken).contains("Bad checksum"))
    }

    /// IPv6 messages become IPv6/UDP packets that tshark decodes with good checksums.
    @Test func pcapIPv6() throws {
        let db = tempPath("v6.sqlite")
        #expect(try runCLI(["run", scenarioPath("ipv6-aaaa.yaml"), "--db", db, "-q"]).status == 0)
        let pcap = tempPath("v6.pcap")
        #expect(try runCLI(["export", db, "--format", "pcap", "--out", pcap]).status == 0)
        let rows = try tsharkFields(pcap, ["ipv6.src", "sip.Call-ID", "udp.checksum.status"])
        let store = try SQLiteDatabase(path: db, readOnly: true)
        #expect(rows.count == Int(try store.scalarInt("SELECT count(*) FROM sip_message")!))
        #expect(rows.allSatisfy { $0.count == 3 && $0[0].hasPrefix("2001:db8") && $0[2] == "1" })
        // Host and port of every URI as tshark reads them (RFC 3261 §25.1, RFC 5118): an IPv6
        // literal is in brackets, so the host is the whole address and the port a number.
        let uris = try tsharkFields(pcap, ["sip.r-uri.host", "sip.r-uri.port", "sip.to.host", "sip.from.host", "sip.contact.host", "sip.contact.port"])
        #expect(uris.count == rows.count)
        #expect(uris.contains { $0[0] == "[2001:db8::11]" }, "REGISTER sip:[2001:db8::11]")
        for u in uris {
            for host in [u[0], u[2], u[3], u[4]] where !host.isEmpty {
                #expect(host == "itsp.example" || (host.hasPrefix("[2001:db8") && host.hasSuffix("]")), "host \(host) in \(u)")
            }
            for port in [u[1], u[5]] where !port.isEmpty { #expect(Int(port) != nil, "port \(port) in \(u)") }
        }
    }

    /// Bad input to export, generate and merge: a located message and exit status 2.
    @Test func invalidInputIsReported() throws {
        let db = try Self.makeDB()
        let r1 = try runCLI(["export", db, "--format", "jsonl", "--run", "99"])
        #expect(r1.status == 2 && r1.err.contains("no run 99"))
        let r2 = try runCLI(["export", db, "--format", "xml"])
        #expect(r2.status == 2 && r2.err.contains("'xml' is invalid for '--format") && r2.err.contains("'jsonl', 'episodes', 'csv' or 'pcap'"), "\(r2.err)")
        let r3 = try runCLI(["export", db, "--format", "csv"])
        #expect(r3.status == 2 && r3.err.contains("give --out PREFIX"))
        let sweep = tempPath("bad-sweep.yaml")
        try "base: \(scenarioPath("seed-example.yaml"))\nvary:\n  latency: {uniform: [5ms, 1ms]}\n".write(toFile: sweep, atomically: true, encoding: .utf8)
        let r4 = try runCLI(["generate", sweep, "--runs", "2", "--db", tempPath("bad-gen.sqlite")])
        #expect(r4.status == 2 && r4.err.contains("\(sweep):3:") && r4.err.contains("low must not exceed high"), "\(r4.err)")
        try "base: \(scenarioPath("seed-example.yaml"))\nvary:\n  jitter: 5ms\n".write(toFile: sweep, atomically: true, encoding: .utf8)
        let r5 = try runCLI(["generate", sweep, "--runs", "2", "--db", tempPath("bad-gen.sqlite")])
        #expect(r5.status == 2 && r5.err.contains("vary.jitter: unknown key 'jitter'"), "\(r5.err)")
        let r6 = try runCLI(["generate", sweep, "--runs", "2", "--db", tempPath("bad-gen.sqlite"), "--shard", "2/2"])
        #expect(r6.status == 2 && r6.err.contains("--shard") && r6.err.contains("expected I/K with 0 <= I < K, got '2/2'"), "\(r6.err)")
        for bad in ["1", "a/2", "1/0", "-1/2", "0/2/3"] {
            let r = try runCLI(["generate", sweep, "--runs", "2", "--db", tempPath("bad-gen.sqlite"), "--shard=\(bad)"])
            #expect(r.status == 2 && r.err.contains("got '\(bad)'"), "\(bad): \(r.err)")
        }
        let r8 = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", tempPath("size.sqlite"), "-q", "--max-db-size", "12Q"])
        #expect(r8.status == 2 && r8.err.contains("--max-db-size") && r8.err.contains("expected a size like 500M or 20G (or 0), got '12Q'"), "\(r8.err)")
        let r7 = try runCLI(["merge", tempPath("m.sqlite"), "/nonexistent/x.sqlite"])
        #expect(r7.status == 2 && r7.err.contains("/nonexistent/x.sqlite"))
    }

    /// The same sweep and seed give identical databases, whole or as merged shards.
    @Test func generateIsReproducibleAndShardsMerge() throws {
        let env = ["SOURCE_DATE_EPOCH": "1767225600"]
        let sweep = packageRoot.appendingPathComponent("sweeps/failover.yaml").path
        let a = tempPath("gen-a.sqlite"), b = tempPath("gen-b.sqlite"), s0 = tempPath("gen-s0.sqlite"), s1 = tempPath("gen-s1.sqlite"), m = tempPath("gen-m.sqlite")
        for (db, extra) in [(a, [String]()), (b, ["--jobs", "1"]), (s0, ["--shard", "0/2"]), (s1, ["--shard", "1/2"])] {
            let r = try runCLI(["generate", sweep, "--runs", "24", "--db", db, "--seed", "7"] + extra, env: env)
            #expect(r.status == 0, "\(r.err)")
        }
        let mr = try runCLI(["merge", m, s0, s1])
        #expect(mr.status == 0, "\(mr.err)")
        let tables = ["run", "host", "run_param", "pbx_config", "call", "step", "sip_message"]
        func dump(_ path: String) throws -> [String: [[String?]]] {
            let db = try SQLiteDatabase(path: path, readOnly: true)
            var out: [String: [[String?]]] = [:]
            for t in tables { out[t] = try db.rows("SELECT * FROM \(t) ORDER BY 1, 2") }
            return out
        }
        let da = try dump(a), db_ = try dump(b), dm = try dump(m)
        #expect((da["run"]?.count ?? 0) == 24)
        #expect((da["call"]?.count ?? 0) > 24)
        for t in tables {
            #expect(da[t]! == db_[t]!, "\(t): two generations differ")
            #expect(da[t]! == dm[t]!, "\(t): merged shards differ from one run")
        }
        // Merging a shard again is skipped, not doubled (issue 13); a database given as its own
        // source is refused.
        let again = try runCLI(["merge", m, s0])
        #expect(again.status == 0 && again.out.contains("skipped") && again.out.contains("already in"))
        let merged = try SQLiteDatabase(path: m, readOnly: true)
        #expect(try merged.scalarInt("SELECT count(*) FROM run") == 24)
        let selfMerge = try runCLI(["merge", m, m])
        #expect(selfMerge.status == 2 && selfMerge.err.contains("is the output database"))
        #expect(try merged.scalarInt("SELECT count(*) FROM run") == 24)
        // Different runs under the same ids are still merged, with shifted ids.
        let other = tempPath("gen-other.sqlite")
        #expect(try runCLI(["generate", sweep, "--runs", "3", "--db", other, "--seed", "99"]).status == 0)
        let shifted = try runCLI(["merge", m, other])
        #expect(shifted.out.contains("shifted by 24"))
        #expect(try merged.scalarInt("SELECT count(*) FROM run") == 27)
    }
}
