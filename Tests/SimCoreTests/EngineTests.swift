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

    /// A stream named by a prefix and a number is the stream of the name written out.
    @Test func prefixAndNumberNameTheSameStream() {
        let s = RandomStreams(seed: 42)
        for n in [0, 1, 9, 10, 99, 100, 12345, -1, -10, -987, Int.max, Int.min] {
            var a = s.stream("call-", number: n), b = s.stream("call-\(n)")
            #expect((0..<3).map { _ in a.next() } == (0..<3).map { _ in b.next() }, "\(n)")
        }
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

/// The queue's three tiers (near heap, ring of buckets, far heap) against a reference that keeps
/// every event in one list sorted by `(time, seq)`: the same events come out in the same order,
/// whatever the mix of near, ring and far times, cancellations and `first` events.
@Suite struct EventQueueTierTests {
    /// A reference queue: a list kept sorted by `(time, first-before-ordinary, seq)`.
    struct Reference {
        var items: [(time: Int64, key: UInt64, id: Int)] = []
        var seq: UInt64 = 0
        mutating func push(_ id: Int, at t: Int64, first: Bool) {
            let key = first ? seq : (seq | 1 << 63)
            seq += 1
            let i = items.firstIndex { $0.time > t || ($0.time == t && $0.key > key) } ?? items.count
            items.insert((t, key, id), at: i)
        }
        mutating func cancel(_ id: Int) { items.removeAll { $0.id == id } }
        mutating func pop() -> (time: Int64, id: Int)? { items.isEmpty ? nil : { let e = items.removeFirst(); return (e.time, e.id) }() }
    }

    /// Random operations with tiny buckets (2^shift ns, 64 of them, or 256: an occupancy bitmap
    /// of several words, whose search wraps from the last word to the first), so that every path
    /// runs many times: pushes into the near heap, the ring (wrapping round) and the far heap,
    /// jumps of the horizon across empty rings, cancelled events in each tier, negative times.
    @Test(arguments: [(0, 1, 64), (3, 2, 64), (6, 3, 64), (10, 4, 64), (2, 5, 256), (8, 6, 256)])
    func sameOrderAsOneSortedList(shift: Int, seed: UInt64, buckets: Int) {
        var rng = Xoshiro256(seed: seed)
        var q = EventQueue<Int>(bucketShift: shift, bucketCount: buckets)
        var ref = Reference()
        var ids: [Int: EventID] = [:]
        var now: Int64 = -500
        var next = 0
        let span = Int64(buckets) << Int64(shift)
        for step in 0..<20_000 {
            let r = rng.uniformInclusive(99)
            if r < 55 {
                // Near, within the ring, just past it, or far past it.
                let reach: [Int64] = [1, span / 2, span, span * 3, span * 40]
                let delta = Int64(rng.uniformInclusive(UInt64(reach[Int(rng.uniformInclusive(4))])))
                let first = rng.uniformInclusive(9) == 0
                ids[next] = q.push(next, at: SimTime(ns: now + delta), first: first)
                ref.push(next, at: now + delta, first: first)
                next += 1
            } else if r < 70, !ids.isEmpty {
                let victim = ids.keys.min()! + Int(rng.uniformInclusive(UInt64(min(ids.count, 50))))
                if let id = ids[victim] {
                    q.cancel(id)
                    q.cancel(id) // twice is harmless
                    ref.cancel(victim)
                    ids[victim] = nil
                }
            } else {
                let got = q.pop()
                let want = ref.pop()
                #expect(got?.payload == want?.id, "step \(step)")
                #expect(got?.time.ns == want?.time, "step \(step)")
                if let g = got {
                    now = g.time.ns
                    ids[g.payload] = nil
                }
            }
            #expect(q.count == ref.items.count)
            if step % 997 == 0 { #expect(q.checkInvariants(), "step \(step)") }
        }
        while let want = ref.pop() {
            let got = q.pop()
            #expect(got?.payload == want.id && got?.time.ns == want.time)
        }
        #expect(q.pop() == nil && q.isEmpty && q.checkInvariants())
    }

    /// A timer cancelled while it waits in the ring never reaches the near heap, and its slot is
    /// reused once its bucket is passed.
    @Test func cancelledRingEntriesAreDroppedWithTheirBucket() {
        var q = EventQueue<String>()
        let b = q.push("timer B", at: .seconds(32))
        q.push("failover", at: .seconds(4))
        q.cancel(b)
        #expect(q.pop()?.payload == "failover")
        #expect(q.pop() == nil && q.count == 0)
        #expect(q.checkInvariants())
        // The next event lies past timer B's bucket: reaching it drops timer B and frees its
        // slot, so the two events after it need no new slot.
        q.push("c", at: .seconds(40))
        #expect(q.pop()?.payload == "c")
        q.push("d", at: .seconds(41))
        q.push("e", at: .seconds(42))
        #expect(q.generations.count == 2)
        #expect(q.pop()?.payload == "d" && q.pop()?.payload == "e" && q.pop() == nil)
    }

    /// Events an hour away sit in the far heap and come out in order after a jump of the ring.
    @Test func farEventsComeOutInOrder() {
        var q = EventQueue<Int>()
        q.push(3, at: .seconds(7200))
        q.push(1, at: .seconds(3600))
        q.push(2, at: .seconds(3600))
        q.push(0, at: .milliseconds(5))
        #expect(q.checkInvariants())
        var out: [Int] = []
        while let e = q.pop() { out.append(e.payload); #expect(q.checkInvariants()) }
        #expect(out == [0, 1, 2, 3])
    }
}
