import Testing
import SimCore
import Routing
@testable import Telephony

/// A trunk group's channel pool hunts as `Hunt.channel` does on the same busy flags (lowest,
/// highest, rotation after the last one seized), in O(log n), with a running count in use.
@Suite struct ChannelPoolTests {
    @Test(arguments: HuntOrder.allCases, [1, 2, 7, 30, 64, 200])
    func huntsAsTheReferenceDoes(order: HuntOrder, channels: Int) {
        var pool = ChannelPool(channels: channels, order: order)
        var busy = [Bool](repeating: false, count: channels)
        var last: Int?
        var rng = Xoshiro256(seed: UInt64(channels) &* 31 &+ UInt64(order.rawValue.count))
        for step in 0..<4000 {
            // Seize more often than release while few are busy, the other way round when many are.
            let inUse = busy.filter { $0 }.count
            if rng.uniformInclusive(UInt64(channels)) >= UInt64(inUse) {
                let expected = Hunt.channel(busy: busy, order: order, last: last)
                let got = pool.seize()
                #expect(got == expected, "step \(step): \(order) over \(channels) channels")
                if let ch = expected { busy[ch] = true; last = ch }
            } else {
                let candidates = busy.indices.filter { busy[$0] }
                let ch = candidates[Int(rng.uniformInclusive(UInt64(candidates.count - 1)))]
                let released = pool.release(ch), again = pool.release(ch)
                #expect(released)
                #expect(!again) // a free channel cannot be released again
                busy[ch] = false
            }
            #expect(pool.inUse == busy.filter { $0 }.count)
        }
    }

    @Test func aFullGroupSeizesNothing() {
        var pool = ChannelPool(channels: 3, order: .rotation)
        let picks = [pool.seize(), pool.seize(), pool.seize(), pool.seize()]
        #expect(picks == [0, 1, 2, nil] && pool.inUse == 3)
        let released = pool.release(1)
        let again = pool.seize()
        #expect(released && again == 1) // rotation wraps to the only free channel
        var empty = ChannelPool(channels: 0, order: .lowest)
        let none = empty.seize()
        #expect(none == nil)
    }
}
