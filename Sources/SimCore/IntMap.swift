/// A hash table from `Int` keys to values, for the model's tables keyed by integer ids (calls,
/// transactions, paths, resolver jobs).
///
/// `Dictionary` hashes every key with SipHash through `Hasher`: about 230 instructions a lookup,
/// and a failover call made about 85 of them (issue 11's profile). This table multiplies the key
/// by a constant (Fibonacci hashing), probes linearly, and deletes by shifting the following
/// entries back (no tombstones), so that a lookup is a few dozen instructions and a table that
/// sees millions of inserts and removals does not degrade.
///
/// Iteration visits the entries in slot order: deterministic for the same sequence of
/// operations, but not sorted; sort the keys where order matters (as with `Dictionary`).
/// `Int.min` cannot be a key (it marks an empty slot).
public struct IntMap<Value>: Sequence {
    @usableFromInline static var empty: Int { Int.min }
    @usableFromInline var slots: [Int]
    @usableFromInline var stored: [Value?]
    @usableFromInline var n = 0
    @inlinable public var count: Int { n }

    /// An empty table of eight slots; it doubles whenever it would be more than half full.
    @inlinable public init() {
        slots = Array(repeating: IntMap.empty, count: 8)
        stored = Array(repeating: nil, count: 8)
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable var mask: Int { slots.count - 1 }
    /// 64 minus log2 of the capacity (a power of two): the shift that takes a product's top bits
    /// as the slot.
    @inlinable var shift: Int { 64 - slots.count.trailingZeroBitCount }

    @inlinable @inline(__always) func home(_ key: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    }

    /// Where `key` is, or the empty slot that ends its probe sequence (where it would go).
    @inlinable @inline(__always) func probe(_ key: Int) -> (slot: Int, found: Bool) {
        var i = home(key)
        while true {
            let k = slots[i]
            if k == key { return (i, true) }
            if k == IntMap.empty { return (i, false) }
            i = (i + 1) & mask
        }
    }

    @inlinable public subscript(key: Int) -> Value? {
        get {
            let (i, found) = probe(key)
            return found ? stored[i] : nil
        }
        set {
            if let v = newValue { insert(key, v) } else { removeValue(forKey: key) }
        }
        // In place, as `Dictionary` does: `map[k]?.field = x` changes the stored value without
        // copying it (a copy of a struct value retains each of its strings).
        _modify {
            let (i, found) = probe(key)
            if found {
                yield &stored[i]
                if case .none = stored[i] { removeSlot(i) }
            } else {
                var fresh: Value? = nil
                yield &fresh
                if let v = fresh { insert(key, v) }
            }
        }
    }

    @inlinable mutating func insert(_ key: Int, _ value: Value) {
        precondition(key != IntMap.empty, "IntMap: Int.min cannot be a key")
        var (i, found) = probe(key)
        if !found {
            if (count + 1) * 2 > slots.count {
                grow()
                i = probe(key).slot
            }
            slots[i] = key
            n += 1
        }
        stored[i] = value
    }

    @usableFromInline mutating func grow() {
        let oldSlots = slots, oldValues = stored
        slots = Array(repeating: IntMap.empty, count: oldSlots.count * 2)
        stored = Array(repeating: nil, count: oldSlots.count * 2)
        for (i, k) in oldSlots.enumerated() where k != IntMap.empty {
            let j = probe(k).slot
            slots[j] = k
            stored[j] = oldValues[i]
        }
    }

    @inlinable @discardableResult
    public mutating func removeValue(forKey key: Int) -> Value? {
        let (i, found) = probe(key)
        guard found else { return nil }
        let removed = stored[i]
        removeSlot(i)
        return removed
    }

    /// Empties slot `i` and keeps every other key findable: backward-shift deletion moves each
    /// following entry of the run into the hole when the hole lies between that entry's home slot
    /// and where it sits (cyclically).
    @inlinable mutating func removeSlot(_ i: Int) {
        var hole = i, j = i
        while true {
            j = (j + 1) & mask
            let k = slots[j]
            if k == IntMap.empty { break }
            let h = home(k)
            let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
            if movable {
                slots[hole] = k
                stored.swapAt(hole, j)
                hole = j
            }
        }
        slots[hole] = IntMap.empty
        stored[hole] = nil
        n -= 1
    }

    /// The keys, in slot order.
    @inlinable public var keys: [Int] { slots.filter { $0 != IntMap.empty } }

    /// The values, in slot order.
    @inlinable public var values: [Value] { stored.compactMap { $0 } }

    public struct Iterator: IteratorProtocol {
        @usableFromInline let map: IntMap
        @usableFromInline var i = 0
        @inlinable init(map: IntMap) { self.map = map }
        @inlinable public mutating func next() -> (key: Int, value: Value)? {
            while i < map.slots.count {
                defer { i += 1 }
                let k = map.slots[i]
                if k != IntMap.empty, let v = map.stored[i] { return (k, v) }
            }
            return nil
        }
    }

    @inlinable public func makeIterator() -> Iterator { Iterator(map: self) }
    @inlinable public var underestimatedCount: Int { count }
}

extension IntMap: Sendable where Value: Sendable {}
