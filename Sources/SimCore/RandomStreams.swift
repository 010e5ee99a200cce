#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// xoshiro256** 1.0 (Blackman and Vigna), seeded through SplitMix64.
///
/// Chosen because its output is fully specified by a published reference implementation, so a
/// seed produces the same numbers on every machine and Swift version (Swift's own generators are
/// not guaranteed stable). Period 2^256 - 1.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    /// Seeds the four state words from SplitMix64(seed), as the reference recommends.
    public init(seed: UInt64) {
        var sm = SplitMix64(state: seed)
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inlinable public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform integer in `0...bound` (inclusive), unbiased (rejection sampling).
    public mutating func uniformInclusive(_ bound: UInt64) -> UInt64 {
        if bound == UInt64.max { return next() }
        let n = bound + 1
        let limit = UInt64.max - (UInt64.max % n) // values >= limit are rejected
        while true {
            let x = next()
            if x < limit { return x % n }
        }
    }

    /// Uniform double in [0, 1) with 53 random bits.
    public mutating func unitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Exponentially distributed value with the given mean.
    public mutating func exponential(mean: Double) -> Double {
        var u = unitDouble()
        if u == 0 { u = 0x1.0p-53 }
        return -mean * log(1 - u)
    }
}

/// SplitMix64 (Steele, Lea and Flood), used for seeding and for deriving stream seeds.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One independent random stream per component, all derived from one run seed.
///
/// The stream for a name is `Xoshiro256(seed: SplitMix64(seed ^ FNV-1a-64(name)).next())`, so
/// adding a component (a new name) never shifts the numbers another component draws.
public struct RandomStreams: Sendable {
    public let seed: UInt64
    public init(seed: UInt64) { self.seed = seed }

    public func stream(_ name: String) -> Xoshiro256 { stream(nameHash: RandomStreams.fnv1a64(name)) }

    /// The stream of a name by its FNV-1a hash.
    private func stream(nameHash h: UInt64) -> Xoshiro256 {
        var sm = SplitMix64(state: seed ^ h)
        return Xoshiro256(seed: sm.next())
    }

    /// The stream named `prefix` followed by `number` in decimal: `stream(prefix + String(number))`
    /// without making that text (a call's stream is drawn once a call: the name cost about 1,300
    /// instructions, issue 11's profile).
    public func stream(_ prefix: String, number: Int) -> Xoshiro256 {
        var h = RandomStreams.fnv1a64(prefix)
        if number < 0 { h = RandomStreams.fnv1a64(h, UInt8(ascii: "-")) }
        // The decimal digits, most significant first (the magnitude as UInt64: Int.min too).
        let magnitude = number.magnitude
        var scale: UInt = 1
        while magnitude / scale >= 10 { scale *= 10 }
        while scale > 0 {
            h = RandomStreams.fnv1a64(h, UInt8(ascii: "0") + UInt8((magnitude / scale) % 10))
            scale /= 10
        }
        return stream(nameHash: h)
    }

    /// FNV-1a 64-bit hash of the UTF-8 bytes.
    public static func fnv1a64(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = fnv1a64(h, b) }
        return h
    }

    /// One step of FNV-1a: the hash so far with one more byte.
    @inline(__always) static func fnv1a64(_ h: UInt64, _ byte: UInt8) -> UInt64 { (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
}
