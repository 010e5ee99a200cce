import SimCore
import SIP
import Routing
import Telephony

/// A parsed, validated scenario file.
public struct Scenario: Sendable {
    public struct TimedCommand: Sendable {
        public var at: SimTime
        public var command: Command
        public var text: String
        public var line: Int?
        public init(at: SimTime, command: Command, text: String, line: Int?) {
            self.at = at; self.command = command; self.text = text; self.line = line
        }
    }

    public struct Range: Sendable, Equatable {
        public var min: Double?
        public var max: Double?
    }

    /// What must hold about one call after the run.
    public struct CallExpectation: Sendable {
        public var call: Int
        public var line: Int?
        public var outcome: String?
        public var route: String??
        public var answeredBy: String??
        public var sipTargets: [String]?
        public var sipAttempts: Int?
        public var rerouted: Bool?
        /// Seconds.
        public var setupDelay: Range?
        public var carrier: String??
        public var trunkGroup: Int?
        /// `caller`, `callee` or null (not answered).
        public var releasedBy: String??
        /// Why the call ended unanswered (`EndReason.allCauses`), or null (answered or in progress).
        public var endCause: String??
    }

    public var file: String
    public var name: String
    public var description: String
    public var seed: UInt64
    public var world: WorldConfig
    public var timeline: [TimedCommand]
    public var expectations: [CallExpectation]
    /// Stop at this time even if calls are still in progress.
    public var until: SimTime?
    /// The file's text, for provenance (content hash).
    public var source: String
    /// Hash of the file's bytes as read (BOM included), `fnv1a64:...`; set by the file reader.
    public var sourceHash: String?
    /// Calendar date and time at simulated time zero (`YYYY-MM-DD HH:MM[:SS]`, no time zone).
    public var start: String = Scenario.defaultStart

    /// Expectations on the run summary.
    public var summaryExpectations: [SummaryExpectation] = []
    /// `expect: - fingerprint: fp64:...`: the trace must have this fingerprint.
    public var fingerprint: (value: String, line: Int?)?
    /// Expectations about the whole trace.
    public var traceExpectations: [TraceExpectation] = []

    /// `expect: - summary: {pbx: PBX-1, blocked_ratio: {min: 0.05, max: 0.1}, offered: 1000}`.
    public struct SummaryExpectation: Sendable {
        public var pbx: String
        public var line: Int?
        /// Field -> allowed range (counts and ratios as numbers, pdd_* in seconds).
        public var checks: [(field: String, range: Range)]
    }

    /// A Monday at 09:00.
    public static let defaultStart = "2026-01-05 09:00:00"

    /// Run-level parameters recorded with every run (`run_param`): calendar start and network.
    public var runParams: [(String, String)] {
        [("start", start), ("latency", world.latency.durationString), ("loss", "\(world.loss * 100)%")]
    }
}

/// The outcome of checking one expectation.
public struct ExpectationResult: Sendable {
    public var call: Int
    public var field: String
    public var expected: String
    public var actual: String
    public var held: Bool
    public var line: Int?
    /// Steps around the difference, printed under a failure.
    public var context: [String] = []
    public init(call: Int, field: String, expected: String, actual: String, held: Bool, line: Int?) {
        self.call = call; self.field = field; self.expected = expected; self.actual = actual; self.held = held; self.line = line
    }
}

extension Scenario {
    /// Checks the summary expectations against the run summaries.
    public func check(summaries: [PBXSummary]) -> [ExpectationResult] {
        var out: [ExpectationResult] = []
        for e in summaryExpectations {
            guard let s = summaries.first(where: { $0.pbx == e.pbx }) else { continue }
            for (field, r) in e.checks {
                let v = s.value(field) ?? nil
                let ok = v.map { x in (r.min.map { x >= $0 - 1e-12 } ?? true) && (r.max.map { x <= $0 + 1e-12 } ?? true) } ?? false
                let exp = r.min == r.max && r.min != nil ? "\(fmt(r.min!))" : "between \(r.min.map(fmt) ?? "-inf") and \(r.max.map(fmt) ?? "+inf")"
                out.append(ExpectationResult(call: 0, field: "summary \(e.pbx) \(field)", expected: exp, actual: v.map(fmt) ?? "null", held: ok, line: e.line))
            }
        }
        return out
    }

    func fmt(_ d: Double) -> String {
        if d == d.rounded() && abs(d) < 1e12 { return String(Int64(d)) }
        return String((d * 10000).rounded() / 10000)
    }

    /// Checks the expectations against the finished calls.
    public func check(calls: [Int: CallSummary]) -> [ExpectationResult] {
        var out: [ExpectationResult] = []
        for e in expectations {
            let c = calls[e.call]
            func add(_ field: String, _ expected: String, _ actual: String?) {
                out.append(ExpectationResult(call: e.call, field: field, expected: expected, actual: actual ?? "(no such call)",
                                             held: actual == expected, line: e.line))
            }
            if c == nil {
                out.append(ExpectationResult(call: e.call, field: "call", expected: "call \(e.call) placed", actual: "no call \(e.call) was placed", held: false, line: e.line))
                continue
            }
            let call = c!
            if let o = e.outcome { add("outcome", o, call.outcome) }
            if let r = e.route { add("route", r ?? "null", call.route ?? "null") }
            if let a = e.answeredBy { add("answered_by", a ?? "null", call.answeredBy ?? "null") }
            if let t = e.sipTargets { add("sip_targets", "[" + t.joined(separator: ", ") + "]", "[" + call.sipTargets.joined(separator: ", ") + "]") }
            if let n = e.sipAttempts { add("sip_attempts", String(n), String(call.sipAttempts)) }
            if let r = e.rerouted { add("rerouted", String(r), String(call.rerouted)) }
            if let c = e.carrier { add("carrier", c ?? "null", call.carrier ?? "null") }
            if let g = e.trunkGroup { add("trunk_group", String(g), call.trunkGroup.map(String.init) ?? "null") }
            if let b = e.releasedBy { add("released_by", b ?? "null", call.releasedBy ?? "null") }
            if let c = e.endCause { add("end_cause", c ?? "null", call.endCause ?? "null") }
            if let r = e.setupDelay {
                let actual = call.setupDelay.map { $0.seconds }
                let ok = actual.map { v in (r.min.map { v >= $0 } ?? true) && (r.max.map { v <= $0 } ?? true) } ?? false
                let exp = "between \(r.min.map { "\($0)s" } ?? "-inf") and \(r.max.map { "\($0)s" } ?? "+inf")"
                out.append(ExpectationResult(call: e.call, field: "setup_delay", expected: exp,
                                             actual: call.setupDelay.map { $0.formatSeconds(precision: 3) } ?? "null", held: ok, line: e.line))
            }
        }
        return out
    }
}

/// What expectations look at for one call.
public struct CallSummary: Sendable {
    public var outcome: String
    public var route: String?
    public var answeredBy: String?
    public var sipTargets: [String]
    public var sipAttempts: Int
    public var rerouted: Bool
    public var setupDelay: SimTime?
    public var carrier: String?
    public var trunkGroup: Int?
    public var releasedBy: String?
    public var endCause: String?
    public init(outcome: String, route: String?, answeredBy: String?, sipTargets: [String], sipAttempts: Int, rerouted: Bool, setupDelay: SimTime?) {
        self.outcome = outcome; self.route = route; self.answeredBy = answeredBy; self.sipTargets = sipTargets
        self.sipAttempts = sipAttempts; self.rerouted = rerouted; self.setupDelay = setupDelay
    }
}
