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

    /// What RFC 2782's ordering reads of a record: its priority, its weight, and whether it is
    /// usable (its target is not "."). Plain integers: ordering copies no text.
    public struct Key: Sendable {
        public var priority: UInt16
        public var weight: UInt16
        public var usable: Bool
    }
    public var key: Key { Key(priority: priority, weight: weight, usable: target != ".") }

    /// The record as a zone file writes its data: `priority weight port target` (the trace's
    /// detail and its `records` field).
    public var text: String { "\(priority) \(weight) \(port) \(target)" }
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
        orderedIndices(records.count, { records[$0].key }, using: &rng).map { records[$0] }
    }

    /// The same order, as positions in the caller's list (`key(i)` is the i-th record's `key`): the
    /// failover sequence orders its resolver's answer entries in place, without a list of
    /// records copied out of them and without finding each chosen record back by comparing it
    /// (issue 11's profile: about 3,000 instructions a call). Same draws, same order as `order`.
    public static func orderedIndices<G: UniformSource>(_ count: Int, _ key: (Int) -> SRVRecord.Key, using rng: inout G) -> [Int] {
        // The usable records by ascending priority, in the given order within a priority (a
        // stable insertion sort over positions); each record's key read once.
        var usable: [(index: Int, key: SRVRecord.Key)] = []
        usable.reserveCapacity(count)
        for k in 0..<count {
            let kk = key(k)
            guard kk.usable else { continue }
            var i = usable.count
            usable.append((k, kk))
            while i > 0 && usable[i - 1].key.priority > kk.priority { usable[i] = usable[i - 1]; i -= 1 }
            usable[i] = (k, kk)
        }
        var out: [Int] = []
        out.reserveCapacity(usable.count)
        // One priority's records waiting to be drawn, with their weights: zero weights first,
        // stable otherwise.
        var pending: [(index: Int, weight: UInt64)] = []
        pending.reserveCapacity(usable.count)
        var start = 0
        while start < usable.count {
            let priority = usable[start].key.priority
            var end = start + 1
            while end < usable.count && usable[end].key.priority == priority { end += 1 }
            pending.removeAll(keepingCapacity: true)
            for u in usable[start..<end] where u.key.weight == 0 { pending.append((u.index, 0)) }
            for u in usable[start..<end] where u.key.weight != 0 { pending.append((u.index, UInt64(u.key.weight))) }
            while !pending.isEmpty {
                var total: UInt64 = 0
                for p in pending { total += p.weight }
                let r = rng.uniformInclusive(total)
                var running: UInt64 = 0
                var chosen = pending.count - 1
                for (i, p) in pending.enumerated() {
                    running += p.weight
                    if running >= r { chosen = i; break }
                }
                out.append(pending.remove(at: chosen).index)
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
