import Testing
import Foundation
import Store
import Trace

/// The SQLite sink stores every event as it was recorded: rows encoded on the recording thread in
/// chunks and bound on the writer (or inline, one at a time, as `generate` writes), across chunk
/// boundaries, with a retransmission's repeated text stored once and rebuilt exactly.
@Suite struct TraceSinkTests {
    /// Writes `events` through a sink of a new store and reads every row back.
    func roundTrip(_ events: [TraceEvent], inline: Bool, name: String) throws -> (steps: [[String?]], messages: [[String?]], calls: Int64, path: String) {
        let path = tempPath(name)
        let store = try TraceStore(path: path)
        let run = try store.beginRun(.init(scenario: "sink", seed: 1, startedAt: "t", scenarioFile: nil, scenarioHash: nil, version: "test", tool: "test"))
        let sink = try store.makeSink(runID: run, batchSize: 1_000, inline: inline)
        if inline {
            try store.transaction { for e in events { sink.record(e) } }
        } else {
            for e in events { sink.record(e) }
        }
        try sink.flush()
        let db = try SQLiteDatabase(path: path, readOnly: true)
        let steps = try db.rows("SELECT seq, at_ns, at_us, call_id, actor, kind, detail, fields FROM step ORDER BY seq")
        let messages = try db.rows("""
            SELECT m.seq, m.at_ns, m.at_us, m.call_id, m.src, m.dst, m.method, m.status_code, m.branch, m.sip_call_id,
                   m.delivered, m.retransmission, m.transport, \(TraceStore.rawSQL), m.raw, m.raw_of
            FROM sip_message m ORDER BY m.seq
            """)
        return (steps, messages, try db.scalarInt("SELECT count(*) FROM call") ?? -1, path)
    }

    @Test(arguments: [false, true]) func everyEventIsStoredAsRecorded(inline: Bool) throws {
        let (_, sink) = runMemory(try loadBundled("busy-hour-sip-failure.yaml"))
        let events = sink.events
        #expect(events.count > 3 * 2048, "the scenario should cross several chunks")
        let got = try roundTrip(events, inline: inline, name: "sink-\(inline).sqlite")
        var steps = got.steps.makeIterator(), messages = got.messages.makeIterator()
        var seq: Int64 = 0, calls: Int64 = 0, copies = 0
        var lastOriginal: [String: Int64] = [:]
        for e in events {
            switch e {
            case .step(let s):
                seq += 1
                let next = steps.next()
                let row = try #require(next)
                let want: [String?] = [String(seq), String(s.atNs), String(s.atNs / 1000), s.callID.map { String($0) }, s.actor,
                                       s.kind.rawValue, s.detail, s.fields.json]
                #expect(row == want)
            case .sipMessage(let m):
                seq += 1
                let next = messages.next()
                let row = try #require(next)
                let want: [String?] = [String(seq), String(m.atNs), String(m.atNs / 1000), m.callID.map { String($0) }, m.src, m.dst,
                                       m.method, m.statusCode.map { String($0) }, m.branch, m.sipCallID,
                                       m.delivered ? "1" : "0", m.retransmission ? "1" : "0", m.transport, m.raw]
                #expect(Array(row[0..<14]) == want)
                // A copy stores '' and names the original row, which holds the same text.
                let key = "\(m.branch)|\(m.method ?? "")|\(m.statusCode ?? 0)|\(m.src)|\(m.dst)"
                if let of = row[15] {
                    copies += 1
                    #expect(m.retransmission && row[14] == "" && Int64(of) == lastOriginal[key])
                } else {
                    #expect(row[14] == m.raw)
                    lastOriginal[key] = seq
                }
            case .callEnded:
                calls += 1
            }
        }
        let leftStep = steps.next(), leftMessage = messages.next()
        #expect(leftStep == nil && leftMessage == nil)
        #expect(got.calls == calls && calls > 0)
        #expect(copies > 0, "the scenario should retransmit")
    }

    /// Call rows alone, as `--trace calls` records them: a chunk with no texts at all.
    @Test(arguments: [false, true]) func callRowsAloneAreStored(inline: Bool) throws {
        let (_, sink) = runMemory(try loadBundled("busy-hour-sip-failure.yaml"))
        let calls = sink.events.compactMap { e -> CallRecord? in if case .callEnded(let c) = e { return c } else { return nil } }
        #expect(calls.count > 1)
        let path = tempPath("sink-calls-\(inline).sqlite")
        let store = try TraceStore(path: path)
        let run = try store.beginRun(.init(scenario: "sink", seed: 1, startedAt: "t", scenarioFile: nil, scenarioHash: nil, version: "test", tool: "test"))
        let out = try store.makeSink(runID: run, inline: inline)
        if inline { try store.transaction { for c in calls { out.record(.callEnded(c)) } } } else { for c in calls { out.record(.callEnded(c)) } }
        try out.flush()
        let got = try SQLiteDatabase(path: path, readOnly: true).rows("SELECT call_id, caller, outcome FROM call ORDER BY call_id")
        let want: [[String?]] = calls.sorted { $0.callID < $1.callID }.map { [String($0.callID), $0.caller, $0.outcome.rawValue] }
        #expect(got == want)
    }

    /// A text with a NUL byte in it (a SIP message as received in live mode) reads back whole,
    /// through the statement's `text` and the reader every export uses, also as the copy a
    /// retransmission row rebuilds.
    @Test func textsWithANulByteReadBackWhole() throws {
        let raw = "MESSAGE sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\na\u{0}b"
        let m = SIPMessageRecord(atNs: 1, callID: 1, src: "192.0.2.1:5060", dst: "192.0.2.2:5060", method: "MESSAGE", statusCode: nil,
                                 branch: "z9hG4bK-1", sipCallID: "c\u{0}d", delivered: true, retransmission: false, transport: "UDP", raw: raw)
        var copy = m
        copy.atNs = 2; copy.retransmission = true
        let events: [TraceEvent] = [.step(Step(atNs: 0, callID: 1, actor: "PBX-1", kind: .callPlaced, detail: "dials \u{0}1011",
                                                    fields: [StepField("dialed", "\u{0}1011")])),
                                    .sipMessage(m), .sipMessage(copy)]
        let got = try roundTrip(events, inline: false, name: "nul.sqlite")
        #expect(got.steps.first?[6] == "dials \u{0}1011" && got.steps.first?[7] == #"{"dialed":"\u00001011"}"#)
        #expect(got.messages.count == 2 && got.messages[0][9] == "c\u{0}d" && got.messages[0][13] == raw && got.messages[1][13] == raw)
        let reader = TraceReader(db: try SQLiteDatabase(path: got.path, readOnly: true))
        let rows = try reader.rows(runID: 1, callID: 1)
        #expect(rows.count == 3)
        if case .step(_, _, _, _, let detail, let fields) = rows[0] { #expect(detail == "dials \u{0}1011" && fields["dialed"] == .text("\u{0}1011")) }
        for r in rows.dropFirst() {
            if case .message(_, _, _, _, _, _, _, _, _, let text) = r { #expect(text == raw) } else { Issue.record("not a message: \(r)") }
        }
    }

    /// A run's parameters, PBX configurations, hosts and summary rows keep the last value given for
    /// a name, in the order of those last values: what `INSERT OR REPLACE` of each row in turn left
    /// before the store wrote them with an upsert (which needs no statement journal: a 2,000-run
    /// `generate` wrote 354 MB of them for a 64 MB file); recorded again, they take the new values. `generate` gives a sweep's
    /// drawn values after the scenario's own, so a repeated name does happen.
    @Test func provenanceKeepsTheLastValueOfEachName() throws {
        let path = tempPath("provenance.sqlite")
        let store = try TraceStore(path: path)
        let run = try store.beginRun(.init(scenario: "p", seed: 1, startedAt: "t", scenarioFile: nil, scenarioHash: nil, version: "test", tool: "test"))
        try store.transaction {
            try store.recordProvenance(run, params: [("latency", "10ms"), ("seed", "1"), ("latency", "40ms"), ("loss", "0"), ("seed", "7")],
                                       pbxConfigs: [("PBX-1", "{}"), ("PBX-2", "{\"a\":1}"), ("PBX-1", "{\"b\":2}")])
            try store.recordHosts(run, [(name: "h1", ip: "192.0.2.1", role: "host"), (name: "h2", ip: "192.0.2.2", role: "dns"),
                                        (name: "h1", ip: "192.0.2.9", role: "pbx PBX-1")])
            try store.recordSummary(run, [(pbx: "PBX-1", field: "offered", value: 1), (pbx: "(all)", field: "offered", value: 2),
                                          (pbx: "PBX-1", field: "offered", value: 3), (pbx: "PBX-1", field: "answered", value: nil)])
        }
        let db = try SQLiteDatabase(path: path, readOnly: true)
        #expect(try db.rows("SELECT name, value FROM run_param ORDER BY rowid") == [["latency", "40ms"], ["loss", "0"], ["seed", "7"]])
        #expect(try db.rows("SELECT pbx, config FROM pbx_config ORDER BY rowid") == [["PBX-2", "{\"a\":1}"], ["PBX-1", "{\"b\":2}"]])
        #expect(try db.rows("SELECT name, ip, role FROM host ORDER BY rowid") == [["h2", "192.0.2.2", "dns"], ["h1", "192.0.2.9", "pbx PBX-1"]])
        #expect(try db.rows("SELECT pbx, field, value FROM summary ORDER BY rowid")
                == [["(all)", "offered", "2.0"], ["PBX-1", "offered", "3.0"], ["PBX-1", "answered", nil]])
        // Recorded again (the REPL stores its summary at each `report`): the new values, in place.
        try store.recordSummary(run, [(pbx: "PBX-1", field: "answered", value: 1), (pbx: "(all)", field: "answered", value: 1)])
        try store.recordProvenance(run, params: [("seed", "8")], pbxConfigs: [])
        try store.recordHosts(run, [(name: "h2", ip: "192.0.2.3", role: "dns")])
        #expect(try db.rows("SELECT pbx, field, value FROM summary ORDER BY rowid")
                == [["(all)", "offered", "2.0"], ["PBX-1", "offered", "3.0"], ["PBX-1", "answered", "1.0"], ["(all)", "answered", "1.0"]])
        #expect(try db.rows("SELECT name, value FROM run_param ORDER BY rowid") == [["latency", "40ms"], ["loss", "0"], ["seed", "8"]])
        #expect(try db.rows("SELECT name, ip FROM host ORDER BY rowid") == [["h2", "192.0.2.3"], ["h1", "192.0.2.9"]])
    }
}
