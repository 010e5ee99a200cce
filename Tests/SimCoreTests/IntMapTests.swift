import Testing
@testable import SimCore

/// IntMap against Dictionary as the model: the same operations must leave the same contents.
@Suite struct IntMapTests {
    @Test func matchesDictionaryUnderRandomOperations() {
        var rng = Xoshiro256(seed: 7)
        var map = IntMap<Int>()
        var model: [Int: Int] = [:]
        // Keys from a small range, so that inserts, replacements and removals collide and wrap
        // around the table's end; negative keys and large ones too.
        for step in 0..<200_000 {
            let r = Int(rng.next() % 1_000)
            let key = r % 3 == 0 ? -r : (r % 7 == 0 ? r << 40 : r)
            switch rng.next() % 5 {
            case 0, 1:
                map[key] = step
                model[key] = step
            case 2:
                #expect(map.removeValue(forKey: key) == model.removeValue(forKey: key))
            case 3:
                // In place (the `_modify` accessor): a present key changes, an absent one stays absent.
                map[key]? += 1
                model[key]? += 1
            default:
                #expect(map[key] == model[key])
            }
            if step % 10_000 == 0 {
                #expect(map.count == model.count)
                #expect(Dictionary(uniqueKeysWithValues: map.map { ($0.key, $0.value) }) == model)
            }
        }
        #expect(map.count == model.count)
        #expect(map.keys.sorted() == model.keys.sorted())
        #expect(map.values.sorted() == model.values.sorted())
        for (k, v) in model { #expect(map[k] == v) }
    }

    @Test func removalKeepsEveryOtherKeyOfACollidingRun() {
        // Keys that all sit in one run of the probe sequence (the table is at its smallest):
        // removing any one must leave every other one findable (backward-shift deletion).
        for victim in 0..<4 {
            var map = IntMap<String>()
            let keys = [3, 11, 19, 27]
            for k in keys { map[k] = "v\(k)" }
            map[keys[victim]] = nil
            for (i, k) in keys.enumerated() {
                #expect(map[k] == (i == victim ? nil : "v\(k)"))
            }
            #expect(map.count == 3)
        }
    }

    @Test func inPlaceAccessInsertsChangesAndRemoves() {
        func set(_ slot: inout [Int]?, _ value: [Int]?) { slot = value }
        var map = IntMap<[Int]>()
        for k in [3, 11, 19, 27] { map[k] = [k] } // one colliding run
        map[11]?.append(12)
        #expect(map[11] == [11, 12])
        set(&map[19], nil) // through an inout access: removes, and the run stays findable
        #expect(map[19] == nil && map.count == 3 && map[27] == [27] && map[3] == [3])
        set(&map[40], [40]) // an absent key: inserted
        #expect(map[40] == [40] && map.count == 4)
        set(&map[41], nil) // absent and set to nil: nothing happens
        #expect(map[41] == nil && map.count == 4)
    }

    @Test func growsAndEmpties() {
        var map = IntMap<Int>()
        #expect(map.isEmpty && map[1] == nil && Array(map).isEmpty)
        for k in 0..<10_000 { map[k] = k * 2 }
        #expect(map.count == 10_000)
        #expect(map[9_999] == 19_998)
        #expect(map[10_000] == nil)
        map[5] = -5 // a replacement does not count twice
        #expect(map[5] == -5 && map.count == 10_000)
        for k in stride(from: 0, to: 10_000, by: 2) { map.removeValue(forKey: k) }
        #expect(map.count == 5_000)
        #expect(map.keys.allSatisfy { $0 % 2 == 1 })
        for k in stride(from: 1, to: 10_000, by: 2) { map[k] = nil }
        #expect(map.isEmpty && map[1] == nil && Array(map).isEmpty)
    }
}
