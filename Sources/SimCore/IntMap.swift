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
public struct IntMap<Value>: Sequence, ExpressibleByDictionaryLiteral {
    @usableFromInline static var empty: Int { Int.min }
    @usableFromInline var slots: [Int]
    @usableFromInline var stored: [Value?]
    /// 64 minus log2 of the capacity: the shift that takes a product's top bits as the slot.
    @usableFromInline var shift: Int
    @usableFromInline var n = 0
    @inlinable public var count: Int { n }

    @inlinable public init() { self.init(minimumCapacity: 8) }

    @inlinable public init(minimumCapacity: Int) {
        var cap = 8, bits = 3
        while cap < minimumCapacity * 2 { cap <<= 1; bits += 1 }
        slots = Array(repeating: IntMap.empty, count: cap)
        stored = Array(repeating: nil, count: cap)
        shift = 64 - bits
    }

    @inlinable public init(dictionaryLiteral elements: (Int, Value)...) {
        self.init(minimumCapacity: elements.count)
        for (k, v) in elements { self[k] = v }
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable var mask: Int { slots.count - 1 }

    @inlinable @inline(__always) func home(_ key: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    }

    /// The slot holding `key`, or nil.
    @inlinable @inline(__always) func find(_ key: Int) -> Int? {
        var i = home(key)
        while true {
            let k = slots[i]
            if k == key { return i }
            if k == IntMap.empty { return nil }
            i = (i + 1) & mask
        }
    }

    @inlinable public subscript(key: Int) -> Value? {
        get {
            guard let i = find(key) else { return nil }
            return stored[i]
        }
        set {
            if let v = newValue { insert(key, v) } else { removeValue(forKey: key) }
        }
    }

    @inlinable public subscript(key: Int, default fallback: @autoclosure () -> Value) -> Value {
        get { self[key] ?? fallback() }
        set { self[key] = newValue }
    }

    @inlinable mutating func insert(_ key: Int, _ value: Value) {
        precondition(key != IntMap.empty, "IntMap: Int.min cannot be a key")
        if let i = find(key) { stored[i] = value; return }
        if (count + 1) * 2 > slots.count { grow() }
        var i = home(key)
        while slots[i] != IntMap.empty { i = (i + 1) & mask }
        slots[i] = key
        stored[i] = value
        n += 1
    }

    @usableFromInline mutating func grow() {
        let oldSlots = slots, oldValues = stored
        slots = Array(repeating: IntMap.empty, count: oldSlots.count * 2)
        stored = Array(repeating: nil, count: oldSlots.count * 2)
        shift -= 1
        for (i, k) in oldSlots.enumerated() where k != IntMap.empty {
            var j = home(k)
            while slots[j] != IntMap.empty { j = (j + 1) & mask }
            slots[j] = k
            stored[j] = oldValues[i]
        }
    }

    @inlinable @discardableResult
    public mutating func removeValue(forKey key: Int) -> Value? {
        guard var hole = find(key) else { return nil }
        let removed = stored[hole]
        // Backward-shift deletion: move each following entry of the run into the hole when the
        // hole lies between that entry's home slot and where it sits (cyclically).
        var j = hole
        while true {
            j = (j + 1) & mask
            let k = slots[j]
            if k == IntMap.empty { break }
            let h = home(k)
            let movable = hole <= j ? (h <= hole || h > j) : (h <= hole && h > j)
            if movable {
                slots[hole] = k
                stored[hole] = stored[j]
                hole = j
            }
        }
        slots[hole] = IntMap.empty
        stored[hole] = nil
        n -= 1
        return removed
    }

    @inlinable public mutating func removeAll() {
        for i in slots.indices { slots[i] = IntMap.empty; stored[i] = nil }
        n = 0
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
