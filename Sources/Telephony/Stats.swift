import SimCore
import Trace

/// Per-PBX counters for the run summary.
public struct PBXStats: Sendable {
    public var offered = 0
    public var answeredSIP = 0
    public var answeredPublic = 0
    public var answeredInternal = 0
    public var rerouted = 0
    public var blocked = 0
    public var busy = 0
    public var noAnswer = 0
    public var failed = 0
    public var rejected = 0
    public var abandoned = 0
    /// Dialling to the first ringback or answer, for calls that got that far.
    public var pdd = DelayHistogram()

    mutating func record(outcome: CallOutcome, route: CallRoute?, rerouted wasRerouted: Bool, pdd d: SimTime?) {
        offered += 1
        if wasRerouted { rerouted += 1 }
        switch outcome {
        case .answered:
            switch route { case .sip?: answeredSIP += 1; case .publicTrunk?: answeredPublic += 1; case nil: answeredInternal += 1 }
        case .blocked: blocked += 1
        case .busy: busy += 1
        case .noAnswer: noAnswer += 1
        case .rejected: rejected += 1
        case .abandoned: abandoned += 1
        case .failed, .inProgress: failed += 1
        case .rerouted: break // live mode only: counted in `rerouted` above
        }
        if let d { pdd.add(d) }
    }
}

/// The run summary of one PBX (or of all PBXs, `pbx == "(all)"`).
public struct PBXSummary: Sendable {
    public var pbx: String
    public var offered: Int
    public var answeredSIP: Int
    public var answeredPublic: Int
    public var answeredInternal: Int
    public var rerouted: Int
    public var blocked: Int
    public var busy: Int
    public var noAnswer: Int
    public var failed: Int
    public var rejected: Int
    public var abandoned: Int
    public var pddMean: SimTime?
    public var pddP50: SimTime?
    public var pddP95: SimTime?
    public var pddP99: SimTime?
    public var pddMax: SimTime?
    public var trunkMean: Double
    public var trunkPeak: Int
    public var trunkChannels: Int

    /// Named values for expectations and the `summary` table: counts, `*_ratio` (count / offered),
    /// `pdd_*` in seconds, trunk occupancy.
    public var values: [(String, Double?)] {
        let o = Double(max(offered, 1))
        let counts: [(String, Int)] = [("offered", offered), ("answered_sip", answeredSIP), ("answered_public", answeredPublic),
                                       ("answered_internal", answeredInternal), ("rerouted", rerouted), ("blocked", blocked),
                                       ("busy", busy), ("no_answer", noAnswer), ("failed", failed), ("rejected", rejected),
                                       ("abandoned", abandoned)]
        var out: [(String, Double?)] = counts.map { ($0.0, Double($0.1)) }
        out += counts.dropFirst().map { ("\($0.0)_ratio", offered == 0 ? nil : Double($0.1) / o) }
        out.append(("answered", Double(answeredSIP + answeredPublic + answeredInternal)))
        out.append(("answered_ratio", offered == 0 ? nil : Double(answeredSIP + answeredPublic + answeredInternal) / o))
        out += [("pdd_mean", pddMean?.seconds), ("pdd_p50", pddP50?.seconds), ("pdd_p95", pddP95?.seconds), ("pdd_p99", pddP99?.seconds),
                ("pdd_max", pddMax?.seconds), ("trunk_mean", trunkMean), ("trunk_peak", Double(trunkPeak)), ("trunk_channels", Double(trunkChannels))]
        return out
    }

    /// Every field name an expectation may use.
    public static let fieldNames: [String] = PBXSummary(pbx: "", offered: 0, answeredSIP: 0, answeredPublic: 0, answeredInternal: 0,
                                                         rerouted: 0, blocked: 0, busy: 0, noAnswer: 0, failed: 0, rejected: 0,
                                                         abandoned: 0, pddMean: nil, pddP50: nil, pddP95: nil, pddP99: nil,
                                                         pddMax: nil, trunkMean: 0, trunkPeak: 0, trunkChannels: 0).values.map(\.0)

    public func value(_ name: String) -> Double?? {
        values.first { $0.0 == name }.map { $0.1 }
    }
}
