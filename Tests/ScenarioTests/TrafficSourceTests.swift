import Testing
import SimCore
import Telephony
import Trace

/// A traffic source alone, through a fake context (issue 9 item 6): Poisson arrivals at the
/// configured rate, the count and duration limits, callers drawn only among idle extensions,
/// destinations uniform over the ranges (zero-padded), and the holding-time distributions.
@Suite struct TrafficSourceTests {
    final class FakeContext: TrafficContext {
        var now = SimTime.zero
        var pending: [(TrafficSource, SimTime)] = []
        var dials: [(at: SimTime, caller: String, number: String, hold: SimTime)] = []
        var busyNotes = 0
        var finished = false
        func scheduleArrival(_ source: TrafficSource, at time: SimTime) { pending.append((source, time)) }
        func dial(_ source: TrafficSource, caller: String, number: String, hold: SimTime) { dials.append((now, caller, number, hold)) }
        func finished(_ source: TrafficSource) { finished = true }
        func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField]) { busyNotes += 1 }

        /// Runs arrivals in time order until the source is done or `limit` arrivals ran.
        func run(_ s: TrafficSource, limit: Int = .max) {
            s.start(self)
            var n = 0
            while let (src, t) = pending.first, n < limit {
                pending.removeFirst()
                now = t
                src.arrive(self)
                n += 1
            }
        }
    }

    func config(rate: Double = 10, calls: Int? = nil, hold: TrafficConfig.Hold = .exponential(mean: .seconds(120)),
                destinations: [(first: String, last: String)] = [("0123450000", "0123459999")]) -> TrafficConfig {
        var c = TrafficConfig(pbx: "PBX-1", callers: (1000..<1100).map(String.init), destinations: destinations, rate: rate, hold: hold)
        c.calls = calls
        return c
    }

    @Test func poissonArrivalsAtTheConfiguredRate() {
        let ctx = FakeContext()
        let s = TrafficSource(id: 0, config: config(rate: 20, calls: 20_000), pbx: 0, streams: RandomStreams(seed: 1), idle: IdlePool(count: 100))
        ctx.run(s)
        #expect(ctx.dials.count == 20_000 && ctx.finished && s.done)
        // Mean inter-arrival 1/20 s; with 20,000 exponential gaps its standard error is 0.7 %.
        let span = ctx.dials.last!.at.seconds - ctx.dials.first!.at.seconds
        let mean = span / Double(ctx.dials.count - 1)
        #expect(abs(mean - 0.05) / 0.05 < 0.03, "mean inter-arrival \(mean) s")
        // Exponential gaps: their coefficient of variation is 1.
        let gaps = zip(ctx.dials.dropFirst(), ctx.dials).map { $0.at.seconds - $1.at.seconds }
        let sd = (gaps.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(gaps.count)).squareRoot()
        #expect(abs(sd / mean - 1) < 0.05, "coefficient of variation \(sd / mean)")
        // Holds: exponential with mean 120 s.
        let hold = ctx.dials.map(\.hold.seconds).reduce(0, +) / Double(ctx.dials.count)
        #expect(abs(hold - 120) / 120 < 0.03, "mean hold \(hold) s")
    }

    @Test func durationLimitsTheArrivals() {
        let ctx = FakeContext()
        var c = config(rate: 5)
        c.startAt = .seconds(100)
        c.duration = .seconds(60)
        let s = TrafficSource(id: 0, config: c, pbx: 0, streams: RandomStreams(seed: 2), idle: IdlePool(count: 100))
        ctx.run(s)
        #expect(ctx.finished)
        #expect(ctx.dials.allSatisfy { $0.at >= .seconds(100) && $0.at <= .seconds(160) })
        #expect((200...400).contains(ctx.dials.count), "\(ctx.dials.count) arrivals in 60 s at 5/s")
    }

    @Test func onlyIdleCallersDialAndABusyRangeIsNoted() {
        let ctx = FakeContext()
        let pool = IdlePool(count: 100)
        for i in 0..<100 where i % 10 != 3 { pool.set(i, idle: false) } // only 1003, 1013, ... idle
        let s = TrafficSource(id: 0, config: config(calls: 500), pbx: 0, streams: RandomStreams(seed: 3), idle: pool)
        ctx.run(s)
        #expect(ctx.dials.count == 500)
        #expect(Set(ctx.dials.map(\.caller)) == Set((0..<10).map { "10\($0)3" }))
        // Every one busy: an arrival places no call and says so.
        for i in 0..<100 { pool.set(i, idle: false) }
        let ctx2 = FakeContext()
        let s2 = TrafficSource(id: 1, config: config(calls: 7), pbx: 0, streams: RandomStreams(seed: 3), idle: pool)
        ctx2.run(s2)
        #expect(ctx2.dials.isEmpty && ctx2.busyNotes == 7 && s2.generated == 7)
    }

    @Test func destinationsAreUniformOverTheRangesAndZeroPadded() {
        let ctx = FakeContext()
        // 10 numbers in the first range, 30 in the second: about 1 in 4 calls go to the first.
        let s = TrafficSource(id: 0, config: config(calls: 8000, destinations: [("0012", "0021"), ("0500", "0529")]), pbx: 0,
                              streams: RandomStreams(seed: 4), idle: IdlePool(count: 100))
        ctx.run(s)
        let numbers = ctx.dials.map(\.number)
        #expect(numbers.allSatisfy { $0.count == 4 && $0.hasPrefix("00") || $0.hasPrefix("05") })
        let first = numbers.filter { $0 >= "0012" && $0 <= "0021" }.count
        #expect(abs(Double(first) / 8000 - 0.25) < 0.02, "\(first) of 8000 to the first range")
        #expect(Set(numbers).count == 40)
    }

    @Test func fixedAndLognormalHolds() {
        let fixed = FakeContext()
        fixed.run(TrafficSource(id: 0, config: config(calls: 50, hold: .fixed(.seconds(30))), pbx: 0, streams: RandomStreams(seed: 5), idle: IdlePool(count: 100)))
        #expect(fixed.dials.allSatisfy { $0.hold == .seconds(30) })
        let logn = FakeContext()
        logn.run(TrafficSource(id: 0, config: config(calls: 20_000, hold: .lognormal(mean: .seconds(180), sigma: 0.5)), pbx: 0,
                               streams: RandomStreams(seed: 6), idle: IdlePool(count: 100)))
        let mean = logn.dials.map(\.hold.seconds).reduce(0, +) / Double(logn.dials.count)
        #expect(abs(mean - 180) / 180 < 0.03, "lognormal mean hold \(mean) s")
    }
}
