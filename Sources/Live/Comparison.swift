import SIP
import Trace

/// Prediction against measurement (`pbxsim live --compare`): the simulation of the same scenario
/// says when each call's attempts, failovers and reroute happen; live mode measures them. Events
/// are paired per call by kind and order (the second failover of call 2 with the second failover
/// of call 2).
public struct Comparison: Sendable {
    public struct Event: Sendable, Equatable {
        public var call: Int
        /// `attempt 1 127.0.0.11:5060`, `failover no-response`, `reroute`, `answered`.
        public var label: String
        /// What pairs events: kind and ordinal within the call.
        public var key: String
        public var atNs: Int64
    }

    public struct Row: Sendable, Equatable {
        public var call: Int
        public var event: String
        public var predictedNs: Int64?
        public var measuredNs: Int64?
        /// measured − predicted; nil when one side lacks the event.
        public var diffNs: Int64? { predictedNs.flatMap { p in measuredNs.map { $0 - p } } }
    }

    public var rows: [Row]
    /// Per call: predicted and measured outcome (`answered`, `rerouted`, ...).
    public var outcomes: [Int: (predicted: String, measured: String)]

    /// The events of a trace that the comparison pairs.
    public static func events(_ steps: [Step]) -> [Event] {
        var out: [Event] = []
        var counts: [String: Int] = [:]
        for s in steps {
            guard let call = s.callID else { continue }
            let text = s.fields.text, int = s.fields.int
            let kindKey: String, label: String
            switch s.kind {
            case .attemptStarted where int("attempt") != nil:
                kindKey = "attempt"; label = "attempt \(int("attempt") ?? 0) to \(text("target") ?? "?")"
            case .failover where text("from") != nil && text("method") == nil:
                kindKey = "failover"; label = "failover from \(text("from") ?? "?") (\(text("cause") ?? "?"))"
            case .reroute:
                kindKey = "reroute"; label = "reroute to the public trunk"
            case .callAnswered where text("route") == "sip":
                // A trace from before the `code` field has none: its answers were all 200.
                kindKey = "answered"; label = "answered (\(ReasonPhrase.status(int("code").map { Int($0) } ?? 200)) from \(text("target") ?? "?"))"
            default: continue
            }
            let n = counts["\(call) \(kindKey)", default: 0] + 1
            counts["\(call) \(kindKey)"] = n
            out.append(Event(call: call, label: label, key: "\(kindKey) \(n)", atNs: s.atNs))
        }
        return out
    }

    /// The outcome a call row shows, with a simulated reroute written as live mode writes it.
    public static func outcome(_ c: CallRecord) -> String {
        // The card's call left for the public trunk: what the PSTN then did is not live mode's.
        if c.outcome == .rerouted || c.route == .publicTrunk { return "rerouted" }
        return c.outcome.rawValue
    }

    public init(predicted: [Step], predictedCalls: [CallRecord], measured: [Step], measuredCalls: [CallRecord]) {
        let p = Comparison.events(predicted), m = Comparison.events(measured)
        var rows: [Row] = []
        var seen = Set<String>()
        for e in p + m {
            let id = "\(e.call) \(e.key)"
            if !seen.insert(id).inserted { continue }
            let pe = p.first { $0.call == e.call && $0.key == e.key }
            let me = m.first { $0.call == e.call && $0.key == e.key }
            let label = pe?.label == me?.label || me == nil ? (pe?.label ?? e.label) : "\(pe?.label ?? "-") | measured: \(me?.label ?? "-")"
            rows.append(Row(call: e.call, event: label, predictedNs: pe?.atNs, measuredNs: me?.atNs))
        }
        self.rows = rows.sorted { ($0.call, $0.predictedNs ?? $0.measuredNs ?? 0) < ($1.call, $1.predictedNs ?? $1.measuredNs ?? 0) }
        var outcomes: [Int: (String, String)] = [:]
        for c in predictedCalls { outcomes[c.callID] = (Comparison.outcome(c), "-") }
        for c in measuredCalls { outcomes[c.callID] = (outcomes[c.callID]?.0 ?? "-", Comparison.outcome(c)) }
        self.outcomes = outcomes
    }

    /// The comparison as text: one block per call, instants in seconds from the start of the run.
    public func render() -> String {
        func sec(_ ns: Int64?) -> String {
            guard let ns else { return "-" }
            let ms = (ns + 500) / 1_000_000
            return "\(ms / 1000).\(String(repeating: "0", count: 3 - String(ms % 1000).count))\(ms % 1000) s"
        }
        func diff(_ ns: Int64?) -> String {
            guard let ns else { return "-" }
            let ms = Double(ns) / 1e6
            let r = (ms * 10).rounded() / 10
            return (r >= 0 ? "+" : "") + "\(r) ms"
        }
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
        var lines: [String] = []
        let calls = Set(rows.map(\.call)).union(outcomes.keys).sorted()
        for c in calls {
            lines.append("call \(c)")
            lines.append("  " + pad("event", 48) + pad("predicted", 12) + pad("measured", 12) + "difference")
            for r in rows where r.call == c {
                lines.append("  " + pad(r.event, 48) + pad(sec(r.predictedNs), 12) + pad(sec(r.measuredNs), 12) + diff(r.diffNs))
            }
            if let o = outcomes[c] {
                lines.append("  " + pad("outcome", 48) + pad(o.predicted, 12) + pad(o.measured, 12) + (o.predicted == o.measured ? "same" : "DIFFERENT"))
            }
        }
        let diffs = rows.compactMap(\.diffNs).map { abs($0) }
        let missing = rows.filter { $0.diffNs == nil }.count
        let different = outcomes.values.filter { $0.predicted != $0.measured }.count
        lines.append("\(rows.count) event(s) paired, \(missing) on one side only; largest difference \(diff(diffs.max())); \(different) outcome(s) differ")
        return lines.joined(separator: "\n")
    }

    /// Whether prediction and measurement agree: the same events and outcomes, every instant
    /// within `toleranceNs`.
    public func agrees(toleranceNs: Int64) -> Bool {
        rows.allSatisfy { r in r.diffNs.map { abs($0) <= toleranceNs } ?? false }
            && outcomes.values.allSatisfy { $0.predicted == $0.measured }
    }
}
