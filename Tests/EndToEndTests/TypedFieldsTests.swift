import Testing
import Foundation
import Store
import Telephony
@testable import Trace

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

    /// A skipped candidate says why as a category (`cause`), not only in prose: a target already
    /// tried in the sequence (the DNS stage's SRV targets repeat the configured and failover IPs;
    /// domain.md: `skip_redundant_failover_addr`, on by default), one blocklisted by a 503's Retry-After
    /// (RFC 3261 §21.5.4), a DNS stage that failed (SERVFAIL), REGISTER's targets, and a TIE
    /// gateway that is down or full.
    @Test func skippedTargetsCarryATypedCause() throws {
        let db = tempPath("skip-cause.sqlite")
        try? FileManager.default.removeItem(atPath: db)
        let expected: [(String, String, String?)] = [
            ("seed-example.yaml", "already-tried", nil), ("503-retry-after.yaml", "blocklisted", nil),
            ("dns-servfail.yaml", "resolution-failed", nil), ("card-ous.yaml", "already-tried", "REGISTER"),
            ("tie-gateway-group.yaml", "gateway-unavailable", nil), ("tie-gateway-group.yaml", "gateway-busy", nil),
        ]
        for s in Set(expected.map(\.0)).sorted() { #expect(try runCLI(["run", scenarioPath(s), "--db", db, "-q"]).status <= 1) }
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let rows = try store.rows("""
            SELECT r.scenario, json_extract(s.fields, '$.cause'), json_extract(s.fields, '$.method'), json_extract(s.fields, '$.reason')
            FROM step s JOIN run r USING (run_id) WHERE s.kind = 'target-skipped'
            """)
        for (scenario, cause, method) in expected {
            let name = String(scenario.dropLast(5))
            #expect(rows.contains { $0[0] == name && $0[1] == cause && $0[2] == method }, "\(scenario): no target-skipped with cause \(cause)")
        }
        // Every skipped target has one, from the documented set, and it agrees with the prose reason.
        let causes: [String: (String) -> Bool] = [
            "already-tried": { $0 == "already tried" }, "blocklisted": { $0.hasPrefix("blocklisted") },
            "resolution-failed": { $0.hasPrefix("resolution failed: ") }, "gateway-unavailable": { $0 == "unavailable" },
            "gateway-busy": { $0 == "busy" },
        ]
        #expect(!rows.isEmpty)
        for r in rows {
            let cause = try #require(r[1], "a target-skipped step of \(r[0] ?? "") has no cause")
            #expect(causes[cause]?(r[3] ?? "") == true, "cause \(cause) with reason \(r[3] ?? "nil")")
        }
    }

    /// A DNS answer's records are typed fields, not only prose: the SRV records the zone of the seed
    /// example and of card-ous configures (priority, weight, port, target: RFC 2782), in the
    /// answer's order, from the network (card-ous registers at start) and from the cache (the seed
    /// call); AAAA addresses; an empty answer counts 0. The REGISTER failover
    /// timer names the registrar target it leaves.
    @Test func dnsAnswersAndRegisterFailoverCarryTypedFields() throws {
        let db = tempPath("dns-fields.sqlite")
        try? FileManager.default.removeItem(atPath: db)
        for s in ["seed-example.yaml", "ipv6-aaaa.yaml", "card-ous.yaml"] {
            #expect(try runCLI(["run", scenarioPath(s), "--db", db, "-q", "--verbose"]).status <= 1)
        }
        let store = try SQLiteDatabase(path: db, readOnly: true)
        func fields(_ scenario: String, _ kind: String, _ qtype: String? = nil) throws -> [StepFields] {
            try store.rows("""
                SELECT s.fields FROM step s JOIN run r USING (run_id) WHERE r.scenario = ? AND s.kind = ?
                """ + (qtype.map { " AND json_extract(s.fields, '$.qtype') = '\($0)'" } ?? "") + " ORDER BY s.seq",
                [.text(scenario), .text(kind)]).map { StepFields.parse($0[0] ?? "") }
        }
        let srv = "10 60 5060 sip1.itsp.example,10 40 5060 sip2.itsp.example,20 0 5060 sip3.itsp.example"
        let answers = try fields("card-ous", "dns-answer", "SRV")
        #expect(!answers.isEmpty)
        for f in answers {
            #expect(f.text("records") == srv && f.int("count") == 3 && f.text("rcode") == "NOERROR")
        }
        let hits = try fields("seed-example", "dns-cache-hit", "SRV")
        #expect(!hits.isEmpty)
        for f in hits { #expect(f.text("records") == srv && f.int("count") == 3) }
        let aaaa = try fields("ipv6-aaaa", "dns-answer", "AAAA")
        #expect(aaaa.contains { $0.text("records") == "2001:db8::10,2001:db8::11" && $0.int("count") == 2 })
        // ipv6-aaaa's name has no A records: an empty NOERROR answer.
        #expect(try fields("ipv6-aaaa", "dns-answer", "A").contains { $0.int("count") == 0 && $0.text("records") == nil })
        // The registration cycle names the card's numbers; a DID mapping says where the number came from.
        let cycles = try fields("card-ous", "registration").filter { $0.text("event") == "cycle-started" }
        // PBX-1's card registers 098-765-4321, PBX-2's 012-345-1011 (card-ous.yaml), as digits.
        #expect(Set(cycles.compactMap { $0.text("numbers") }) == ["0987654321", "0123451011"] && cycles.allSatisfy { $0.text("numbers") != nil })
        let dids = try fields("seed-example", "did-mapped")
        #expect(!dids.isEmpty && dids.allSatisfy { $0.text("via") == "did" && $0.text("number") == "0123451011" && $0.text("extension") == "1011" })
        let timers = try fields("card-ous", "timer-fired").filter { $0.text("timer") == "register-failover" }
        #expect(!timers.isEmpty)
        for t in timers { #expect(["192.0.2.10:5060", "192.0.2.11:5060", "192.0.2.12:5060"].contains(t.text("target") ?? "")) }
    }

    /// One of each way a call can end unanswered: the switch has no default, so a new case does not
    /// compile until it is listed here (and so checked against the documented causes below).
    static func everyEndReason() -> [EndReason] {
        let all: [EndReason] = [
            .farEndTrunkBusy, .noDIDEntry(pbx: "PBX-2", number: "0123450000"), .noExtension("PBX-2/1099"),
            .extensionAbsent("PBX-2/1011"), .extensionBusy("PBX-2/1011"), .subscriberBusy("TELCO-012/0125550000"),
            .notAnswered, .ringTimeout, .noPublicTrunk(pbx: "PBX-1"), .tollRestriction, .noTelephoneCompany(pbx: "PBX-1"),
            .allTrunksBusy, .callerInCall("PBX-1/1000"), .unallocatedNumber, .callerHungUp, .sipFinal(code: 486, policy: "failures"),
            .rerouteNotDialled,
        ]
        for r in all {
            switch r {
            case .farEndTrunkBusy, .noDIDEntry, .noExtension, .extensionAbsent, .extensionBusy, .subscriberBusy, .notAnswered,
                 .ringTimeout, .noPublicTrunk, .tollRestriction, .noTelephoneCompany, .allTrunksBusy, .callerInCall,
                 .unallocatedNumber, .callerHungUp, .sipFinal, .rerouteNotDialled: break
            }
        }
        return all
    }

    /// The caller PBX's end of an unanswered call says why as a category (`cause`): each cause is
    /// documented in docs/trace-schema.md, distinct, and agrees with the prose; in the bundled
    /// scenarios every such step has one, and a `sip-final` carries the call's final code.
    @Test func unansweredCallsEndWithATypedCause() throws {
        let reasons = TypedFieldsTests.everyEndReason()
        let causes = reasons.map(\.cause)
        #expect(Set(causes).count == causes.count, "two reasons share a cause")
        let schema = try String(contentsOf: packageRoot.appendingPathComponent("docs/trace-schema.md"), encoding: .utf8)
        let row = try #require(schema.split(separator: "\n").first { $0.hasPrefix("| `call-ended` (the caller PBX's end of a call)") })
        let documented = Set(row.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element))
        for c in EndReason.allCauses { #expect(documented.contains(c), "cause \(c) is not in docs/trace-schema.md") }
        #expect(Set(causes).isSubset(of: Set(EndReason.allCauses)))
        for r in reasons { #expect(!r.detail.isEmpty && !r.detail.contains("\\(")) }
        // The typed fields and the prose say the same: each field's value is in the detail, and a
        // reason that names a party, PBX or number has it as a field.
        for r in reasons {
            for f in r.extraFields {
                let value: String
                switch f.value { case .text(let t): value = t; case .int(let i): value = String(i); case .double: value = "" }
                #expect(!value.isEmpty && r.detail.contains(value), "\(r.cause): field \(f.name)=\(value) not in '\(r.detail)'")
            }
        }
        #expect(EndReason.extensionBusy("PBX-2/1011").extraFields.map(\.name) == ["party"])
        #expect(EndReason.noDIDEntry(pbx: "PBX-2", number: "0123450000").extraFields.map(\.name) == ["pbx", "number"])
        #expect(EndReason.sipFinal(code: 486, policy: "failures").detail == "486 Busy Here over SIP, no reroute (policy failures)")

        let db = tempPath("end-cause.sqlite")
        try? FileManager.default.removeItem(atPath: db)
        let scenarios = ["busy-far-end.yaml", "public-trunk-overflow.yaml", "callee-hangup.yaml", "busy-hour-sip-failure.yaml",
                         "quick-dial.yaml", "did-add-digits.yaml", "time-of-day-routing.yaml"]
        for s in scenarios { #expect(try runCLI(["run", scenarioPath(s), "--db", db, "-q"]).status <= 1) }
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let rows = try store.rows("""
            SELECT json_extract(s.fields, '$.outcome'), json_extract(s.fields, '$.cause'), json_extract(s.fields, '$.code'), c.final_code, c.outcome
            FROM step s JOIN call c ON c.run_id = s.run_id AND c.call_id = s.call_id
            WHERE s.kind = 'call-ended' AND json_extract(s.fields, '$.outcome') IS NOT NULL
            """)
        #expect(rows.count > 10)
        for r in rows {
            let cause = try #require(r[1], "a call-ended step with outcome \(r[0] ?? "") has no cause")
            #expect(causes.contains(cause), "undocumented cause \(cause)")
            #expect(r[0] == r[4], "the step's outcome is the call's")
            if cause == "sip-final" { #expect(r[2] != nil && r[2] == r[3], "sip-final code \(r[2] ?? "nil") against the call's final code \(r[3] ?? "nil")") }
        }
        #expect(Set(rows.compactMap { $0[1] }).count >= 4, "the bundled scenarios end calls in several ways")
        // The call row says the same at every trace level: its end_cause is the step's cause, and
        // at `--trace calls` (no steps) the same calls end with the same causes.
        let byCall = try store.rows("""
            SELECT c.run_id, c.call_id, c.end_cause, json_extract(s.fields, '$.cause'), c.outcome
            FROM call c LEFT JOIN step s ON s.run_id = c.run_id AND s.call_id = c.call_id
                 AND s.kind = 'call-ended' AND json_extract(s.fields, '$.outcome') IS NOT NULL
            """)
        for r in byCall {
            #expect(r[2] == r[3], "call \(r[1] ?? "") of run \(r[0] ?? ""): end_cause \(r[2] ?? "nil"), step cause \(r[3] ?? "nil")")
            if r[4] == "answered" { #expect(r[2] == nil) }
        }
        let callsOnly = tempPath("end-cause-calls.sqlite")
        try? FileManager.default.removeItem(atPath: callsOnly)
        for s in scenarios { #expect(try runCLI(["run", scenarioPath(s), "--db", callsOnly, "-q", "--trace", "calls"]).status <= 1) }
        let full = try store.rows("SELECT c.call_id, c.end_cause, r.scenario FROM call c JOIN run r USING (run_id) ORDER BY r.scenario, c.call_id")
        let lean = try SQLiteDatabase(path: callsOnly, readOnly: true)
            .rows("SELECT c.call_id, c.end_cause, r.scenario FROM call c JOIN run r USING (run_id) ORDER BY r.scenario, c.call_id")
        #expect(full == lean && full.contains { $0[1] != nil })
    }

    /// Texts bound in place from one row buffer (`run(texts:in:)`, as the trace sink binds them) are stored exactly: long and
    /// short, empty (not NULL, also when every text of the row is empty), NULL, non-ASCII; the
    /// statement is reused row after row with every binding renewed, and a failing insert throws
    /// and leaves the statement usable.
    @Test func textsBoundInPlaceAreStoredExactly() throws {
        let path = tempPath("bind-static.sqlite")
        try? FileManager.default.removeItem(atPath: path)
        let db = try SQLiteDatabase(path: path)
        try db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT, c TEXT)")
        let st = try db.prepare("INSERT INTO t (k, a, b, c) VALUES (?,?,?,?)")
        // The row's texts one after another in one buffer, as the trace sink lays them out.
        func run(_ texts: [(Int32, String?)]) throws {
            var bytes: [UInt8] = [], spans: [SQLiteStatement.TextSpan] = []
            for (p, t) in texts {
                guard let t else { spans.append(.init(parameter: p, start: -1, count: 0)); continue }
                let start = bytes.count
                bytes.append(contentsOf: Array(t.utf8))
                spans.append(.init(parameter: p, start: start, count: bytes.count - start))
            }
            try bytes.withUnsafeBufferPointer { try st.run(texts: spans[...], in: $0) }
        }
        let long = String(repeating: "INVITE sip:0123451011@itsp.example SIP/2.0\r\n", count: 40)
        let rows: [(Int64, String, String?, String?)] = [(1, long, "x", nil), (2, "", "é✓ 日本", "short"), (3, "a", nil, long + "!"), (5, "", "", nil)]
        for r in rows {
            st.bind(1, r.0)
            try run([(2, r.1), (3, r.2), (4, r.3)])
        }
        st.bind(1, 1 as Int64)
        #expect(throws: SQLiteError.self) { try run([(2, "dup"), (3, nil), (4, nil)]) }
        st.bind(1, 4 as Int64)
        try run([(2, "after"), (3, nil), (4, nil)])
        let got = try db.rows("SELECT k, a, b, c, typeof(a), typeof(b) FROM t ORDER BY k")
        #expect(got.count == 5)
        #expect(got[0] == ["1", long, "x", nil, "text", "text"])
        #expect(got[1] == ["2", "", "é✓ 日本", "short", "text", "text"])
        #expect(got[2] == ["3", "a", nil, long + "!", "text", "null"])
        #expect(got[3] == ["4", "after", nil, nil, "text", "null"])
        #expect(got[4] == ["5", "", "", nil, "text", "text"])
    }

    /// The word-at-a-time scan for a byte to escape finds what a byte-by-byte scan finds, for
    /// every byte value at every position of texts of every length up to 40 and every starting
    /// point; and the escaper's output is the reference escaping of RFC 8259 §7.
    @Test func escapeScanMatchesAByteByByteScan() {
        func reference(_ b: [UInt8], from: Int) -> Int {
            var i = from
            while i < b.count && !(b[i] < 0x20 || b[i] == 0x22 || b[i] == 0x5C) { i += 1 }
            return i
        }
        func referenceEscape(_ b: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            for c in b {
                switch c {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                case 0x09: out += [0x5C, 0x74]
                case 0..<0x20: out += Array(String(format: "\\u%04x", Int(c)).utf8)
                default: out.append(c)
                }
            }
            return out
        }
        var rng = SystemRandomNumberGenerator()
        var checked = 0
        for length in 0...40 {
            // A plain text, then each byte value at each position of it.
            let plain = (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &rng) }.map { $0 == 0x22 || $0 == 0x5C ? 0x41 : $0 }
            var texts = [plain]
            for pos in 0..<length { for v in [0x00, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x21, 0x22, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0x9F, 0xA0, 0xC2, 0xDC, 0xE2, 0xFF] as [UInt8] {
                var t = plain; t[pos] = v; texts.append(t)
            } }
            texts.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) })
            for t in texts {
                t.withUnsafeBufferPointer { buf in
                    for from in 0...length { #expect(JSON.firstEscape(in: buf, from: from) == reference(t, from: from)); checked += 1 }
                    var out = JSONBytes(capacity: 0)
                    out.putEscaped(utf8: buf)
                    #expect(out.bytes == referenceEscape(t))
                }
            }
        }
        #expect(checked > 100_000)
    }

    /// The flat parser reads back exactly what the writer wrote.
    @Test func fieldsRoundTrip() {
        let fields: [StepField] = [.init("subject", "sip1 \"x\" \\ é"), .init("code", 503), .init("loss_pct", 30.5), .init("latency_ns", Int64(24_000_000))]
        let parsed = StepFields.parse(fields.json)
        #expect(parsed.text("subject") == "sip1 \"x\" \\ é" && parsed.int("code") == 503 && parsed.double("loss_pct") == 30.5)
        #expect(parsed.int("latency_ns") == 24_000_000)
        #expect(StepFields.parse(nil).values.isEmpty && StepFields.parse("not json").values.isEmpty)
    }

    /// What the reader makes of the column: escapes (with and without plain text around them),
    /// a repeated name (the last one holds), spaces, numbers, a fault part-way (what came before
    /// it is kept), and `json` with its names sorted whatever the stored order.
    @Test func fieldsParseEdges() {
        let f = StepFields.parse(#" { "z" : "a\"b" , "a":1,"m":"x\ny\u00e9\t","a": 2 ,"d": 2.5, "e":"", "n": -7 } "#)
        #expect(f.text("z") == "a\"b" && f.text("m") == "x\nyé\t" && f.text("e") == "")
        #expect(f.int("a") == 2 && f.double("d") == 2.5 && f.int("d") == nil && f.int("n") == -7 && f.double("n") == -7)
        #expect(f.values.count == 6 && f["missing"] == nil && f.text("a") == nil)
        #expect(f.json == #"{"a":2,"d":2.5,"e":"","m":"x\nyé\t","n":-7,"z":"a\"b"}"#)
        #expect(f == StepFields(["n": .int(-7), "a": .int(2), "z": .text("a\"b"), "m": .text("x\nyé\t"), "d": .double(2.5), "e": .text("")]))
        #expect(f != StepFields(["a": .int(2)]))
        let cut = StepFields.parse(#"{"b":"ok","c":3,"x" 4,"y":5}"#)
        #expect(cut.values == ["b": .text("ok"), "c": .int(3)])
        #expect(StepFields.parse("{}").values.isEmpty && StepFields.parse("").json == "{}")
        #expect(StepFields.parse(#"{"s":"unterminated"#).text("s") == "unterminated")
    }

    /// The fields' JSON is RFC 8259 text that Foundation reads back, written exactly as the
    /// column holds it (escapes, signs, numbers), and the trace fingerprint hashes those bytes.
    @Test func fieldsJSONIsExactAndFingerprinted() throws {
        let fields: [StepField] = [.init("q\"k", "a\"b\\c\n\r\t\u{01}\u{1f} é ✓"), .init("neg", -42), .init("min", Int64.min),
                                   .init("zero", 0), .init("big", Int64.max), .init("whole", 3.0), .init("frac", 0.125)]
        let json = try #require(fields.json)
        #expect(json == #"{"q\"k":"a\"b\\c\n\r\t\u0001\u001f é ✓","neg":-42,"min":-9223372036854775808,"zero":0,"big":9223372036854775807,"whole":3,"frac":0.125}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["q\"k"] as? String == "a\"b\\c\n\r\t\u{01}\u{1f} é ✓")
        #expect((object["neg"] as? NSNumber)?.int64Value == -42 && (object["min"] as? NSNumber)?.int64Value == Int64.min)
        #expect([StepField]().json == nil)
        // FNV-1a 64 over "S", the time and call as 8 bytes each, actor, kind, the JSON text, each
        // followed by the separator 0x1f: the fingerprint's definition (docs/trace-schema.md).
        func fnv(_ h: inout UInt64, _ bytes: [UInt8]) { for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 } }
        func int8(_ v: Int64) -> [UInt8] { (0..<8).map { UInt8((UInt64(bitPattern: v) >> (8 * UInt64($0))) & 0xff) } }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let parts: [(bytes: [UInt8], separated: Bool)] = [(Array("S".utf8), true), (int8(5), false), (int8(7), false),
                                                         (Array("PBX-1".utf8), true), (Array("failover".utf8), true), (Array(json.utf8), true)]
        for p in parts {
            fnv(&h, p.bytes)
            if p.separated { fnv(&h, [0x1f]) }
        }
        var f = TraceFingerprint()
        f.add(.step(Step(atNs: 5, callID: 7, actor: "PBX-1", kind: .failover, detail: "ignored", fields: fields)))
        #expect(f.hash == h)
    }
}
