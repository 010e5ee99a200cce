import Store
import Trace

extension Exporter {
    /// RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled.
    static func csvField(_ s: String?) -> String {
        var out: [UInt8] = []
        appendCSVField(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// One field (RFC 4180): as it is, or quoted with its quotes doubled when it holds a comma, a
    /// quote or a line break. On UTF-8 bytes: a quote is doubled even where a combining mark
    /// follows it (iterating characters missed that one), and no grapheme is broken per byte.
    static func appendCSVField(_ s: String?, to out: inout [UInt8]) {
        guard var s else { return }
        s.withUTF8 { bytes in
            if !bytes.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) {
                out.append(contentsOf: bytes)
                return
            }
            out.append(0x22)
            for b in bytes {
                if b == 0x22 { out.append(0x22) }
                out.append(b)
            }
            out.append(0x22)
        }
    }

    /// A record: the fields, comma-separated, CRLF; written into one buffer (an export writes a
    /// line per step and per message).
    static func csvLine(_ fields: [String?]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(0x2C) }
            appendCSVField(f, to: &out)
        }
        out.append(0x0D)
        out.append(0x0A)
        return String(decoding: out, as: UTF8.self)
    }

    public static let callColumns = ["run_id", "call_id", "caller", "dialed", "placed_at_us", "ended_at_us", "outcome", "route",
                                     "answered_by", "setup_delay_us", "pbx", "sip_attempts", "sip_targets", "rerouted", "final_code",
                                     "card_state", "carrier", "trunk_group", "sent_digits", "pdd_us", "released_by", "end_cause"]
    /// Inputs known at dial time, after the `call` table's columns: the run's network at time
    /// zero, the calendar, and the caller PBX's V-SIPGW settings (empty without a card).
    public static let inputColumns = ["latency_ms", "loss_pct", "weekday", "time_of_day", "transport", "t1_ms", "t2_ms",
                                      "invite_timeout_ms", "failover_timer_register_ms", "reroute_on", "failback", "calls_follow_registration"]
    public static let stepColumns = ["run_id", "seq", "type", "at_us", "call_id", "actor", "kind", "detail", "src", "dst", "method",
                                     "status_code", "branch", "delivered", "retransmission", "raw"]

    /// Calls and steps (steps and SIP messages, merged by seq) as two CSV files (RFC 4180, CRLF).
    public func csv(calls: OutputFile, steps: OutputFile) throws {
        calls.write(Exporter.csvLine(Exporter.callColumns + Exporter.inputColumns + (split ? ["split"] : [])))
        steps.write(Exporter.csvLine(Exporter.stepColumns + (split ? ["split"] : [])))
        for run in runs {
            let splitValue = split ? try splitName(run: run) : nil
            let extra: [String?] = split ? [splitValue] : []
            let c = try db.prepare("""
                SELECT run_id, call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by, setup_delay_us, pbx,
                       sip_attempts, sip_targets, rerouted, final_code, card_state, carrier, trunk_group, sent_digits, pdd_us,
                       released_by, end_cause
                FROM call WHERE run_id = ? ORDER BY call_id
                """)
            c.bind(1, run)
            let params = Dictionary(try db.rows("SELECT name, value FROM run_param WHERE run_id = ?", [.int(run)]).map { ($0[0] ?? "", $0[1] ?? "") },
                                    uniquingKeysWith: { a, _ in a })
            // The caller PBX's card settings, read from its stored configuration (JSON) by SQLite.
            let cardKeys = Exporter.inputColumns.dropFirst(4) // after latency, loss, weekday, time of day
            var cards: [String: [String?]] = [:]
            for r in try db.rows("SELECT pbx, " + cardKeys.map { "json_extract(config, '$.v_sipgw.\($0)')" }.joined(separator: ", ")
                                 + " FROM pbx_config WHERE run_id = ? AND json_extract(config, '$.v_sipgw') IS NOT NULL", [.int(run)]) {
                cards[r[0] ?? ""] = Array(r.dropFirst())
            }
            let startEpoch = params["start"].flatMap(Civil.parse)
            while try c.step() {
                let fields = (0..<Exporter.callColumns.count).map { c.text($0) }
                let card = cards[c.text(10) ?? ""] ?? [String?](repeating: nil, count: cardKeys.count)
                let when = startEpoch.map { Civil.describe($0 + c.int(4) / 1_000_000) }
                let inputs: [String?] = [params["latency"].flatMap(Exporter.milliseconds).map(JSON.number), params["loss"].flatMap(Exporter.percent).map(JSON.number),
                                         when?.weekday, when?.timeOfDay] + card
                calls.write(Exporter.csvLine(fields + inputs + extra))
            }
            // The steps file has no fields column: they are not parsed.
            try mergedRowsWithCall(run: run, fieldsOf: { _ in false }) { row, call in
                let r = String(run), callText = call.map(String.init)
                switch row {
                case .step(let seq, let t, let actor, let kind, let detail, _):
                    steps.write(Exporter.csvLine([r, String(seq), "step", String(t / 1000), callText, actor, kind, detail,
                                                  nil, nil, nil, nil, nil, nil, nil, nil] + extra))
                case .message(let seq, let t, let src, let dst, let method, let status, let branch, let delivered, let re, let raw):
                    steps.write(Exporter.csvLine([r, String(seq), "sip", String(t / 1000), callText, nil, nil, nil, src, dst, method,
                                                  status.map(String.init), branch, delivered ? "1" : "0", re ? "1" : "0", raw] + extra))
                }
            }
        }
    }
}
