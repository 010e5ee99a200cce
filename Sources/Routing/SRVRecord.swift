/// A DNS SRV resource record (RFC 2782).
public struct SRVRecord: Sendable, Hashable {
    public var priority: UInt16
    public var weight: UInt16
    public var port: UInt16
    /// Target host name; "." means the service is decidedly not available.
    public var target: String

    public init(priority: UInt16, weight: UInt16, port: UInt16, target: String) {
        self.priority = priority; self.weight = weight; self.port = port; self.target = target
    }
}

/// RFC 2782 target selection.
public enum RFC2782 {
    /// Orders SRV records for use: ascending priority; within a priority, repeatedly pick by a
    /// weighted draw: records arranged with the zero-weight ones first (otherwise in the given
    /// order), running sums of the weights, a uniform integer r in [0, S] (inclusive), and the first
    /// record whose running sum is >= r. Records whose target is "." are dropped.
    ///
    /// Only `uniformInclusive` of the given generator is used, so the same generator state gives
    /// the same order on every machine.
    /// - Complexity: O(n²) in the records of one priority (n is tiny in practice).
    public static func order<G: UniformSource>(_ records: [SRVRecord], using rng: inout G) -> [SRVRecord] {
        // The usable records by ascending priority, in the given order within a priority (a
        // stable insertion sort: no set of priorities, no filtered copy per priority; this runs
        // for every call that reaches its DNS stage).
        var usable: [SRVRecord] = []
        usable.reserveCapacity(records.count)
        for r in records where r.target != "." {
            var i = usable.count
            usable.append(r)
            while i > 0 && usable[i - 1].priority > r.priority { usable[i] = usable[i - 1]; i -= 1 }
            usable[i] = r
        }
        var out: [SRVRecord] = []
        out.reserveCapacity(usable.count)
        var pending: [SRVRecord] = []
        pending.reserveCapacity(usable.count)
        var start = 0
        while start < usable.count {
            var end = start + 1
            while end < usable.count && usable[end].priority == usable[start].priority { end += 1 }
            // Zero weights first, stable otherwise.
            pending.removeAll(keepingCapacity: true)
            for k in start..<end where usable[k].weight == 0 { pending.append(usable[k]) }
            for k in start..<end where usable[k].weight != 0 { pending.append(usable[k]) }
            while !pending.isEmpty {
                let total = pending.reduce(UInt64(0)) { $0 + UInt64($1.weight) }
                let r = rng.uniformInclusive(total)
                var running: UInt64 = 0
                var chosen = pending.count - 1
                for (i, rr) in pending.enumerated() {
                    running += UInt64(rr.weight)
                    if running >= r { chosen = i; break }
                }
                out.append(pending.remove(at: chosen))
            }
            start = end
        }
        return out
    }
}

/// A source of uniform integers; the engine's `Xoshiro256` conforms in the Telephony layer.
/// Routing draws randomness only through this, handed in by its driver.
public protocol UniformSource {
    /// A uniform integer in `0...bound`.
    mutating func uniformInclusive(_ bound: UInt64) -> UInt64
}
