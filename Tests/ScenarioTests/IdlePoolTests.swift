import Testing
@testable import Telephony
import SimCore

/// The traffic sources' idle pool picks exactly what filtering the caller range would (so traces
/// do not change), for any sequence of extensions going on and off the phone.
@Suite struct IdlePoolTests {
    @Test(arguments: [1, 2, 7, 64, 1000])
    func kthIdleMatchesTheFilter(_ n: Int) {
        var rng = Xoshiro256(seed: UInt64(n))
        let pool = IdlePool(count: n)
        var idle = [Bool](repeating: true, count: n)
        for _ in 0..<(n * 20) {
            let i = Int(rng.uniformInclusive(UInt64(n - 1)))
            let v = rng.unitDouble() < 0.5
            pool.set(i, idle: v)
            idle[i] = v
            let expected = idle.indices.filter { idle[$0] }
            #expect(pool.idleCount == expected.count)
            if !expected.isEmpty {
                let k = Int(rng.uniformInclusive(UInt64(expected.count - 1)))
                #expect(pool.kthIdle(k) == expected[k])
            }
        }
    }
}
