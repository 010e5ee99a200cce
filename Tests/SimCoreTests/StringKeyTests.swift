import Testing
@testable import SimCore

/// `StringKey`: a Dictionary keyed by it behaves as one keyed by the strings, and its hash keeps
/// Hashable's contract (equal keys, equal hashes) where `String`'s own equality is looser.
@Suite struct StringKeyTests {
    @Test func dictionaryMatchesStringKeyedDictionary() {
        var rng = Xoshiro256(seed: 11)
        var table: [StringKey: Int] = [:]
        var model: [String: Int] = [:]
        // Keys of every length from 0 to 40 bytes (short inline strings, the 8-byte steps of the
        // hash and its tail, heap strings), with shared prefixes, so that probes collide.
        func key(_ r: UInt64) -> String {
            let n = Int(r % 41)
            return String(repeating: "z9hG4bK-", count: n / 8) + String(String(r % 997, radix: 16).prefix(n % 8))
        }
        for step in 0..<100_000 {
            let k = key(rng.next() % 5_000)
            switch rng.next() % 4 {
            case 0, 1:
                table[StringKey(k)] = step
                model[k] = step
            case 2:
                #expect(table.removeValue(forKey: StringKey(k)) == model.removeValue(forKey: k))
            default:
                #expect(table[StringKey(k)] == model[k])
            }
        }
        #expect(table.count == model.count)
        #expect(Dictionary(uniqueKeysWithValues: table.map { ($0.key.string, $0.value) }) == model)
    }

    @Test func equalKeysHashEquallyAndDifferentBytesDiffer() {
        #expect(StringKey("192.0.2.10") == StringKey("192.0.2." + "10"))
        #expect(StringKey("192.0.2.10").hashValue == StringKey("192.0.2." + "10").hashValue)
        #expect(StringKey("192.0.2.10") != StringKey("192.0.2.11"))
        // Differ only past the first eight bytes, and only in the tail.
        #expect(StringKey("z9hG4bK-abcdefgh1") != StringKey("z9hG4bK-abcdefgh2"))
        #expect(StringKey("z9hG4bK-") != StringKey("z9hG4bK-\u{0}"))
        // `String` equates a precomposed and a decomposed "é"; their bytes (so their hashes)
        // differ, and the keys are different keys, as the hash requires.
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        #expect(StringKey(composed) != StringKey(decomposed))
        var t: [StringKey: Int] = [StringKey(composed): 1]
        t[StringKey(decomposed)] = 2
        #expect(t.count == 2)
    }

    @Test func ordersByBytes() {
        let keys = ["b", "a", "ab", "", "B", "a0"].map { StringKey($0) }
        #expect(keys.sorted().map(\.string) == ["", "B", "a", "a0", "ab", "b"])
    }

    @Test func tableSeedChangesTheRawHash() {
        let k = StringKey("itsp.example")
        #expect(k._rawHashValue(seed: 1) != k._rawHashValue(seed: 2))
        #expect(k._rawHashValue(seed: 1) == StringKey("itsp.example")._rawHashValue(seed: 1))
    }
}
