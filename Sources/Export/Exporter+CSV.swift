import Foundation
import Store
import Trace

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
                       sip_attempts, sip_targets, rerouted, final_code, card_state, carrier, trunk_group, sent_digits, pdd_us
                FROM call WHERE run_id = ? ORDER BY call_id
                """)
            c.bind(1, run)
            let params = Dictionary(try db.rows("SELECT name, value FROM run_param WHERE run_id = ?", [.int(run)]).map { ($0[0] ?? "", $0[1] ?? "") },
                                    uniquingKeysWith: { a, _ in a })
            var cards: [String: [String: Any]] = [:]
            for r in try db.rows("SELECT pbx, config FROM pbx_config WHERE run_id = ?", [.int(run)]) {
                if let d = (r[1] ?? "").data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                   let card = o["v_sipgw"] as? [String: Any] { cards[r[0] ?? ""] = card }
            }
            let startEpoch = params["start"].flatMap(Civil.parse)
            func text(_ v: Any?) -> String? {
                switch v {
                case let b as Bool: return b ? "1" : "0"
                case let n as NSNumber: return n.stringValue
                case let s as String: return s
                default: return nil
                }
            }
            while try c.step() {
                let fields = (0..<Exporter.callColumns.count).map { c.text($0) }
                let card = cards[c.text(10) ?? ""]
                let when = startEpoch.map { Civil.describe($0 + c.int(4) / 1_000_000) }
                let inputs: [String?] = [
                    params["latency"].flatMap(Exporter.milliseconds).map(JSON.number), params["loss"].flatMap(Exporter.percent).map(JSON.number),
                    when?.weekday, when?.timeOfDay, text(card?["transport"]), text(card?["t1_ms"]), text(card?["t2_ms"]),
                    text(card?["invite_timeout_ms"]), text(card?["failover_timer_register_ms"]), text(card?["reroute_on"]),
                    text(card?["failback"]), text(card?["calls_follow_registration"]),
                ]
                calls.write(Exporter.csvLine(fields + inputs + extra))
            }
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
