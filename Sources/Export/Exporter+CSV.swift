import Store

extension Exporter {
    /// RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled.
    static func csvField(_ s: String?) -> String {
        guard let s else { return "" }
        var needs = false
        for u in s.utf8 where u == UInt8(ascii: ",") || u == UInt8(ascii: "\"") || u == 10 || u == 13 { needs = true; break }
        if !needs { return s }
        var o = "\""
        for ch in s { if ch == "\"" { o += "\"\"" } else { o.append(ch) } }
        return o + "\""
    }

    static func csvLine(_ fields: [String?]) -> String { fields.map(csvField).joined(separator: ",") + "\r\n" }

    public static let callColumns = ["run_id", "call_id", "caller", "dialed", "placed_at_us", "ended_at_us", "outcome", "route",
                                     "answered_by", "setup_delay_us", "pbx", "sip_attempts", "sip_targets", "rerouted", "final_code",
                                     "card_state", "carrier", "trunk_group", "sent_digits", "pdd_us"]
    public static let stepColumns = ["run_id", "seq", "type", "at_us", "call_id", "actor", "kind", "detail", "src", "dst", "method",
                                     "status_code", "branch", "delivered", "retransmission", "raw"]

    /// Calls and steps (steps and SIP messages, merged by seq) as two CSV files (RFC 4180, CRLF).
    public func csv(calls: OutputFile, steps: OutputFile) throws {
        calls.write(Exporter.csvLine(Exporter.callColumns + (split ? ["split"] : [])))
        steps.write(Exporter.csvLine(Exporter.stepColumns + (split ? ["split"] : [])))
        for run in runs {
            let splitValue = split ? try splitName(run: run) : nil
            let extra: [String?] = split ? [splitValue] : []
            let c = try db.prepare("""
                SELECT run_id, call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by, setup_delay_us, pbx,
                       sip_attempts, sip_targets, rerouted, final_code, card_state, carrier, trunk_group, sent_digits, pdd_us
                FROM call WHERE run_id = ? ORDER BY call_id
                """)
            c.bind(1, run)
            while try c.step() { calls.write(Exporter.csvLine((0..<Exporter.callColumns.count).map { c.text($0) } + extra)) }
            try mergedRowsWithCall(run: run, callID: nil, allCalls: true) { row, call in
                let r = String(run), callText = call.map(String.init)
                switch row {
                case .step(let seq, let t, let actor, let kind, let detail):
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
