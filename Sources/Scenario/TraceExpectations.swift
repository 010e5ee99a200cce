import SimCore
import SIP
import Trace

/// Expectations about the whole trace, beside the per-call ones (`expect:` entries with one of
/// these keys): no SIP request to a host in a window, a card's state at an instant, the INVITE
/// attempts of a run, and every answered call's setup delay.
public enum TraceExpectation: Sendable {
    case noRequestTo(host: String, ip: String, from: SimTime, to: SimTime, line: Int?)
    case cardState(pbx: String, at: SimTime, state: String, line: Int?)
    case sipAttempts(pbx: String?, range: Scenario.Range, line: Int?)
    case setupDelay(pbx: String?, range: Scenario.Range, line: Int?)
}

/// Keeps what the trace expectations need while a run goes: requests sent, card-state changes
/// (from their typed fields), the steps of each call, and the call rows.
final class TraceCollector: TraceSink {
    var requests: [(atNs: Int64, src: String, dst: String, method: String, call: Int?)] = []
    var cardStates: [(atNs: Int64, pbx: String, state: String)] = []
    var steps: [Step] = []
    var calls: [CallRecord] = []
    func record(_ event: TraceEvent) {
        switch event {
        case .sipMessage(let m):
            if let method = m.method { requests.append((m.atNs, m.src, splitHostPort(m.dst).ip, method, m.callID)) }
        case .step(let s):
            steps.append(s)
            if s.kind == .cardState, let pbx = s.fields.first(where: { $0.name == "pbx" }), let to = s.fields.first(where: { $0.name == "to" }),
               case .text(let p) = pbx.value, case .text(let t) = to.value {
                cardStates.append((s.atNs, p, t))
            }
        case .callEnded(let c): calls.append(c)
        }
    }
    func flush() throws {}

    /// The steps of a call within a second of an instant: the context of a failure.
    func context(call: Int?, near atNs: Int64) -> [String] {
        steps.filter { $0.callID == call && abs($0.atNs - atNs) <= 1_000_000_000 }.prefix(8)
            .map { "\(SimTime(ns: $0.atNs))  \($0.actor)  \($0.kind.rawValue)  \($0.detail)" }
    }
}

extension Scenario {
    func describe(_ r: Range, unit: String = "") -> String {
        if let a = r.min, let b = r.max { return a == b ? "\(fmt(a))\(unit)" : "between \(fmt(a))\(unit) and \(fmt(b))\(unit)" }
        if let a = r.min { return "at least \(fmt(a))\(unit)" }
        if let b = r.max { return "at most \(fmt(b))\(unit)" }
        return "anything"
    }

    func inRange(_ v: Double, _ r: Range) -> Bool { (r.min.map { v >= $0 - 1e-9 } ?? true) && (r.max.map { v <= $0 + 1e-9 } ?? true) }

    /// Checks the trace expectations against what the collector saw.
    func check(trace c: TraceCollector, level: TraceLevel) -> [ExpectationResult] {
        var out: [ExpectationResult] = []
        for e in traceExpectations {
            switch e {
            case .noRequestTo(let host, let ip, let from, let to, let line):
                let field = "no_request_to \(host) between \(from) and \(to)"
                guard level == .full else {
                    out.append(ExpectationResult(call: 0, field: field, expected: "no request", actual: "not checkable: SIP messages are recorded with --trace full only", held: false, line: line))
                    continue
                }
                if let hit = c.requests.first(where: { $0.dst == ip && $0.atNs >= from.ns && $0.atNs <= to.ns }) {
                    var r = ExpectationResult(call: hit.call ?? 0, field: field, expected: "no request",
                                              actual: "\(hit.method) from \(hit.src) at \(SimTime(ns: hit.atNs))" + (hit.call.map { " (call \($0))" } ?? ""), held: false, line: line)
                    r.context = c.context(call: hit.call, near: hit.atNs)
                    out.append(r)
                } else {
                    out.append(ExpectationResult(call: 0, field: field, expected: "no request", actual: "no request", held: true, line: line))
                }
            case .cardState(let pbx, let at, let state, let line):
                let field = "card_state \(pbx) at \(at)"
                guard level != .calls else {
                    out.append(ExpectationResult(call: 0, field: field, expected: state, actual: "not checkable: card states are steps (--trace full or steps)", held: false, line: line))
                    continue
                }
                let changes = c.cardStates.filter { $0.pbx == pbx }
                let actual = changes.last(where: { $0.atNs <= at.ns })?.state ?? "INS"
                var r = ExpectationResult(call: 0, field: field, expected: state, actual: actual, held: actual == state, line: line)
                if !r.held {
                    r.context = changes.map { "\(SimTime(ns: $0.atNs))  \(pbx)/V-SIPGW  card-state  -> \($0.state)" }
                    if r.context.isEmpty { r.context = ["\(pbx)'s card never changed state: INS throughout"] }
                }
                out.append(r)
            case .sipAttempts(let pbx, let range, let line):
                let n = c.calls.filter { pbx == nil || $0.pbx == pbx }.reduce(0) { $0 + $1.sipAttempts }
                out.append(ExpectationResult(call: 0, field: "sip_attempts" + (pbx.map { " \($0)" } ?? ""), expected: describe(range),
                                             actual: String(n), held: inRange(Double(n), range), line: line))
            case .setupDelay(let pbx, let range, let line):
                let answered = c.calls.filter { $0.outcome == .answered && (pbx == nil || $0.pbx == pbx) && $0.setupDelayNs != nil }
                let field = "setup_delay of every answered call" + (pbx.map { " on \($0)" } ?? "")
                if let bad = answered.first(where: { !inRange(Double($0.setupDelayNs!) / 1e9, range) }) {
                    var r = ExpectationResult(call: bad.callID, field: field, expected: describe(range, unit: "s"),
                                              actual: "call \(bad.callID): \(SimTime(ns: bad.setupDelayNs!))", held: false, line: line)
                    r.context = c.context(call: bad.callID, near: bad.placedAtNs + bad.setupDelayNs!)
                    out.append(r)
                } else {
                    out.append(ExpectationResult(call: 0, field: field, expected: describe(range, unit: "s"),
                                                 actual: answered.isEmpty ? "no answered call" : "\(answered.count) call(s) within", held: true, line: line))
                }
            }
        }
        return out
    }
}
