import Testing
@testable import SimCore

@Suite struct EngineTests {
    @Test func sameInstantEventsStayFIFO() {
        var sim = Simulation<Int>()
        // 10,000 events at five instants, scheduled interleaved: each instant must come out in
        // insertion order.
        for i in 0..<10_000 { sim.schedule(i, at: .milliseconds(Int64(i % 5))) }
        var seen: [Int64: [Int]] = [:]
        var lastTime = SimTime.zero
        while let e = sim.step() {
            #expect(e.time >= lastTime)
            lastTime = e.time
            seen[e.time.ns / 1_000_000, default: []].append(e.payload)
        }
        for k in 0..<5 {
            let got = seen[Int64(k)] ?? []
            #expect(got == Array(stride(from: k, to: 10_000, by: 5)))
        }
    }

    @Test func orderedByTimeThenSequence() {
        var q = EventQueue<String>()
        q.push("c", at: .seconds(2))
        q.push("a", at: .seconds(1))
        q.push("b", at: .seconds(1))
        q.push("z", at: .zero)
        #expect(q.checkInvariants())
        var out: [String] = []
        while let e = q.pop() { out.append(e.payload) }
        #expect(out == ["z", "a", "b", "c"])
    }

    @Test func cancelledEventsNeverRun() {
        var sim = Simulation<Int>()
        let a = sim.schedule(1, at: .seconds(1))
        sim.schedule(2, at: .seconds(1))
        let c = sim.schedule(3, at: .seconds(3))
        sim.cancel(a)
        sim.cancel(c)
        sim.cancel(c) // twice is harmless
        var out: [Int] = []
        while let e = sim.step() { out.append(e.payload) }
        #expect(out == [2])
        #expect(sim.queue.isEmpty)
    }

    /// Slots are reused: cancelling an event that already ran (or was cancelled) never cancels
    /// the event that took its slot, and the live count stays exact.
    @Test func staleIDsNeverCancelANewerEvent() {
        var q = EventQueue<Int>()
        let a = q.push(1, at: .seconds(1))
        #expect(q.pop()?.payload == 1)
        let b = q.push(2, at: .seconds(2)) // reuses a's slot
        #expect(b.slot == a.slot && b != a)
        q.cancel(a) // already ran: no effect on b
        #expect(q.count == 1)
        let c = q.push(3, at: .seconds(3))
        q.cancel(b)
        q.cancel(b)
        #expect(q.count == 1)
        let d = q.push(4, at: .seconds(4))
        q.cancel(c)
        #expect(q.pop()?.payload == 4 && q.isEmpty)
        q.cancel(d)
        #expect(q.count == 0 && q.pop() == nil)
    }

    @Test func runUntilStopsAtLimitAndAdvancesClock() {
        var sim = Simulation<Int>()
        sim.schedule(1, at: .seconds(1))
        sim.schedule(2, at: .seconds(5))
        var out: [Int] = []
        sim.run(until: .seconds(3)) { s, p in
            out.append(p)
            if p == 1 { s.schedule(10, after: .seconds(1)) } // at 2 s: still within the limit
        }
        #expect(out == [1, 10])
        #expect(sim.now == .seconds(3))
        #expect(sim.nextEventTime() == .seconds(5))
    }

    @Test func scheduleAfterUsesCurrentTime() {
        var sim = Simulation<Int>()
        sim.schedule(1, at: .milliseconds(500))
        _ = sim.step()
        sim.schedule(2, after: .milliseconds(250))
        #expect(sim.step()?.time == .milliseconds(750))
    }

    @Test func durationParsing() {
        #expect(SimTime.parseDuration("500ms") == .milliseconds(500))
        #expect(SimTime.parseDuration("4s") == .seconds(4))
        #expect(SimTime.parseDuration("2m") == .seconds(120))
        #expect(SimTime.parseDuration("1.5s") == .milliseconds(1500))
        #expect(SimTime.parseDuration("0.25ms") == .microseconds(250))
        #expect(SimTime.parseDuration("0") == .zero)
        #expect(SimTime.parseDuration("4") == nil)
        #expect(SimTime.parseDuration("-1s") == nil)
        #expect(SimTime.parseDuration("abc") == nil)
        #expect(SimTime.parseDuration("12h7m") == .seconds(12 * 3600 + 7 * 60))
        #expect(SimTime.parseDuration("1m30s") == .seconds(90))
        #expect(SimTime.parseDuration("30s1m") == nil)
        #expect(SimTime.seconds(13).formatSeconds() == "13.000s")
        #expect(SimTime.milliseconds(1500).durationString == "1500ms")
        #expect(SimTime.seconds(120).durationString == "2m")
    }
}

@Suite struct RandomStreamTests {
    @Test func xoshiroMatchesReferenceVector() {
        // Reference: xoshiro256** with state {1, 2, 3, 4} produces 11520, 0, 1509978240, 1215971899390074240.
        var g = Xoshiro256(seed: 0)
        g.s0 = 1; g.s1 = 2; g.s2 = 3; g.s3 = 4
        #expect(g.next() == 11520)
        #expect(g.next() == 0)
        #expect(g.next() == 1_509_978_240)
        #expect(g.next() == 1_215_971_899_390_074_240)
    }

    @Test func splitMixMatchesReference() {
        // SplitMix64 seeded with 1234567: first outputs from the reference implementation.
        var s = SplitMix64(state: 1_234_567)
        #expect(s.next() == 6_457_827_717_110_365_317)
        #expect(s.next() == 3_203_168_211_198_807_973)
    }

    @Test func streamsAreIndependentAndReproducible() {
        let a = RandomStreams(seed: 42)
        var x1 = a.stream("network"), x2 = a.stream("network"), y = a.stream("call-1")
        let v1 = (0..<5).map { _ in x1.next() }
        #expect(v1 == (0..<5).map { _ in x2.next() })
        #expect(v1 != (0..<5).map { _ in y.next() })
        var other = RandomStreams(seed: 43).stream("network")
        #expect(v1 != (0..<5).map { _ in other.next() })
    }

    @Test func uniformInclusiveCoversBothEnds() {
        var g = RandomStreams(seed: 7).stream("t")
        var seen = Set<UInt64>()
        for _ in 0..<1000 { seen.insert(g.uniformInclusive(3)) }
        #expect(seen == [0, 1, 2, 3])
    }
}

@Suite struct FirstClassEventTests {
    /// Commands (`first`) at an instant run before ordinary events of that instant, whatever the
    /// order of scheduling; each class stays FIFO.
    @Test func firstEventsRunBeforeOrdinaryOnesAtTheSameInstant() {
        var sim = Simulation<String>()
        sim.schedule("o1", at: .seconds(1))
        sim.schedule("o2", at: .seconds(1))
        sim.schedule("c1", at: .seconds(1), first: true)
        sim.schedule("early", at: .milliseconds(999))
        sim.schedule("c2", at: .seconds(1), first: true)
        var out: [String] = []
        while let e = sim.step() { out.append(e.payload) }
        #expect(out == ["early", "c1", "c2", "o1", "o2"])
    }

    @Test func stepBeforeLeavesTheLimitInstantPending() {
        var sim = Simulation<Int>()
        sim.schedule(1, at: .seconds(1))
        sim.schedule(2, at: .seconds(2))
        var out: [Int] = []
        while let e = sim.step(before: .seconds(2)) { out.append(e.payload) }
        #expect(out == [1])
        #expect(sim.now == .seconds(2))
        #expect(sim.nextEventTime() == .seconds(2))
    }
}
