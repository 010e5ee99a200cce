/// Post-dial delays in a fixed histogram: 1 ms buckets up to 65.535 s, exact values beyond
/// (rare). Memory does not grow with the number of calls.
public struct DelayHistogram: Sendable {
    public init() {}
    /// Counts per millisecond below `limitMs`, grown as delays arrive: a histogram starts empty
    /// (every PBX of every run has one; at full size it was 256 KB zeroed per PBX per run, a
    /// fifth of `generate`'s time on runs of a few calls).
    var buckets: [UInt32] = []
    static let limitMs = 65_536
    var overflow: [Int64] = []
    public private(set) var count = 0
    public private(set) var sumNs: Double = 0
    public private(set) var maxNs: Int64 = 0

    public mutating func add(_ d: SimTime) {
        count += 1
        sumNs += Double(d.ns)
        maxNs = max(maxNs, d.ns)
        let ms = d.ns / 1_000_000
        if ms < Int64(DelayHistogram.limitMs) {
            if ms >= Int64(buckets.count) { grow(to: Int(ms) + 1) }
            buckets[Int(ms)] += 1
        } else {
            overflow.append(d.ns)
        }
    }

    /// Makes room for at least `n` buckets (doubling, up to the limit).
    mutating func grow(to n: Int) {
        let target = min(DelayHistogram.limitMs, max(n, buckets.count * 2, 64))
        if target > buckets.count { buckets.append(contentsOf: repeatElement(0, count: target - buckets.count)) }
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

extension DelayHistogram {
    /// Adds another histogram's delays to this one.
    public mutating func merge(_ o: DelayHistogram) {
        if o.buckets.count > buckets.count { grow(to: o.buckets.count) }
        for i in o.buckets.indices where o.buckets[i] > 0 { buckets[i] += o.buckets[i] }
        overflow += o.overflow
        count += o.count
        sumNs += o.sumNs
        maxNs = max(maxNs, o.maxNs)
    }
}

extension DelayHistogram {
    /// Counts in `bins` bins of `widthMs` milliseconds from zero; delays beyond the last bin are
    /// counted in it.
    public func binned(widthMs: Int, bins: Int) -> [Int] {
        var out = [Int](repeating: 0, count: max(bins, 1))
        for (ms, n) in buckets.enumerated() where n > 0 { out[min(ms / max(widthMs, 1), out.count - 1)] += Int(n) }
        for ns in overflow { out[min(Int(ns / 1_000_000) / max(widthMs, 1), out.count - 1)] += 1 }
        return out
    }
}
