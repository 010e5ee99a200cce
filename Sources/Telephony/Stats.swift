import SimCore

/// Post-dial delays in a fixed histogram: 1 ms buckets up to 65.535 s, exact values beyond
/// (rare). Memory does not grow with the number of calls.
public struct DelayHistogram: Sendable {
    var buckets = [UInt32](repeating: 0, count: 65_536)
    var overflow: [Int64] = []
    public private(set) var count = 0
    public private(set) var sumNs: Double = 0
    public private(set) var maxNs: Int64 = 0

    public mutating func add(_ d: SimTime) {
        count += 1
        sumNs += Double(d.ns)
        maxNs = max(maxNs, d.ns)
        let ms = d.ns / 1_000_000
        if ms < Int64(buckets.count) { buckets[Int(ms)] += 1 } else { overflow.append(d.ns) }
    }

    public var mean: SimTime? { count == 0 ? nil : SimTime(ns: Int64(sumNs / Double(count))) }

    /// The q-quantile (nearest rank), to the millisecond.
    public func quantile(_ q: Double) -> SimTime? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (ms, n) in buckets.enumerated() where n > 0 {
            seen += Int(n)
            if seen >= rank { return .milliseconds(Int64(ms)) }
        }
        let sorted = overflow.sorted()
        return SimTime(ns: sorted[min(sorted.count - 1, rank - seen - 1)])
    }
}

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

    mutating func record(outcome: String, route: String?, rerouted wasRerouted: Bool, pdd d: SimTime?) {
        offered += 1
        if wasRerouted { rerouted += 1 }
        switch outcome {
        case "answered":
            if route == "sip" { answeredSIP += 1 } else if route == "public" { answeredPublic += 1 } else { answeredInternal += 1 }
        case "blocked": blocked += 1
        case "busy": busy += 1
        case "no-answer": noAnswer += 1
        case "rejected": rejected += 1
        case "abandoned": abandoned += 1
        default: failed += 1
        }
        if let d { pdd.add(d) }
    }
}
