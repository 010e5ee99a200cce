/// A string as the key of the model's hot `Dictionary` tables (client transactions by branch, SIP
/// stacks by address, calls by SIP Call-ID, extensions by number), hashed by a short
/// multiply-and-mix over its UTF-8 bytes instead of SipHash.
///
/// A `Dictionary` with `String` keys hashes each key through `Hasher` (SipHash-1-3): about 500
/// instructions a lookup with the seeding and finalisation, and removing a key rehashes the
/// entries after it. A failover call made about 37 such operations, 8 % of its instructions
/// (issue 11's profile). `Dictionary` asks a key for `_rawHashValue(seed:)`, which this type
/// answers directly: the table keeps its own per-instance seed (mixed in, so that copying one
/// table into another cannot cluster), its probing, its iteration and its copy-on-write.
///
/// The hash is not keyed against an adversary choosing keys to collide: the keys are the
/// scenario's names and numbers and the ids the model makes. In live mode a server's branch
/// becomes a key; a server crafting colliding branches could slow its own lookups, nothing else.
@frozen public struct StringKey: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let string: String
    /// The hash of the string's UTF-8 bytes, computed once: a probe compares it before the
    /// strings, and a table that rehashes on removal or growth reads it instead of the bytes.
    public let bytesHash: UInt64

    @inlinable public init(_ string: String) { self.string = string; bytesHash = StringKey.mix(string) }
    @inlinable public init(stringLiteral value: String) { self.init(value) }

    public var description: String { string }

    /// The same hash and the same string. `String`'s `==` equates canonically equivalent
    /// spellings (a precomposed and a decomposed "é"), whose bytes, so whose hashes, differ:
    /// comparing the hashes first keeps `==` consistent with the hash.
    @inlinable public static func == (a: StringKey, b: StringKey) -> Bool {
        a.bytesHash == b.bytesHash && a.string == b.string
    }

    /// By UTF-8 bytes (the same order as `String`'s for ASCII keys).
    @inlinable public static func < (a: StringKey, b: StringKey) -> Bool {
        a.string.utf8.lexicographicallyPrecedes(b.string.utf8)
    }

    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(bytesHash) }

    /// What `Dictionary` and `Set` ask for: the stored hash with the table's seed mixed in.
    @inlinable public func _rawHashValue(seed: Int) -> Int {
        Int(truncatingIfNeeded: StringKey.finalize(bytesHash ^ UInt64(truncatingIfNeeded: seed)))
    }

    /// The hash: eight bytes at a time, each multiplied in and folded, then the SplitMix64
    /// finaliser so that every input bit reaches every output bit.
    @inlinable static func mix(_ s: String) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15
        if s.utf8.withContiguousStorageIfAvailable({ fold($0, into: &h) }) == nil {
            // A bridged or otherwise non-contiguous string: hash a contiguous copy of its bytes.
            Array(s.utf8).withUnsafeBufferPointer { fold($0, into: &h) }
        }
        return finalize(h)
    }

    @inlinable @inline(__always) static func finalize(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 30; h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 27; h = h &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        return h
    }

    @inlinable @inline(__always) static func fold(_ bytes: UnsafeBufferPointer<UInt8>, into h: inout UInt64) {
        let n = bytes.count
        let raw = UnsafeRawBufferPointer(bytes)
        h ^= UInt64(n) &* 0xFF51_AFD7_ED55_8CCD
        var i = 0
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        var tail: UInt64 = 0, shift: UInt64 = 0
        while i < n { tail |= UInt64(bytes[i]) << shift; shift += 8; i += 1 }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
    }
}
