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
        let usable = records.filter { $0.target != "." }
        let priorities = Set(usable.map(\.priority)).sorted()
        var out: [SRVRecord] = []
        out.reserveCapacity(usable.count)
        for p in priorities {
            let group = usable.filter { $0.priority == p }
            // Zero weights first, stable otherwise.
            var pending = group.filter { $0.weight == 0 } + group.filter { $0.weight != 0 }
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
