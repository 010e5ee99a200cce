import Testing
@testable import SIP

@Suite struct InviteTransactionTests {
    /// Domain reference §6 item 1: sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B at 32 s.
    @Test func silentTargetOverUDP() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        while let timer = d.nextTimer() { d.apply(t.timerFired(timer, now: d.now)) }
        #expect(d.sends.map(\.at) == [0, 500 * ms, 1500 * ms, 3500 * ms, 7500 * ms, 15500 * ms, 31500 * ms])
        #expect(d.sends.count == 7)
        #expect(d.sends.dropFirst().allSatisfy { $0.retransmission })
        #expect(d.timedOutAt == 32 * s)
        #expect(t.state == .terminated)
        // Every retransmission is the same message (same branch).
        #expect(Set(d.sends.map { $0.message.branch ?? "" }) == ["z9hG4bK-test1"])
    }

    /// The drivers reuse one action list: an input appends after what the list holds and
    /// appends what the returning form of the same input returns, in the same order.
    @Test func inputsAppendToTheDriversList() {
        var a = ClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var b = a
        var list: [TransactionAction] = [.transportFailed]
        a.start(now: 0, into: &list)
        a.timerFired(.A, now: 500 * ms, into: &list)
        a.abandon(into: &list)
        let returned = b.start(now: 0) + b.timerFired(.A, now: 500 * ms) + b.abandon()
        #expect(list == [.transportFailed] + returned)
        #expect(returned.count == 4 + 2 + 3)
        #expect(a.isTerminated && b.isTerminated)
    }

    /// Item 3: everything scales with T1; T1 = 250 ms gives Timer B at 16 s.
    @Test func scalesWithT1() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp,
                                        timers: TimerPolicy(t1: 250 * ms, t2: 4 * s, t4: 5 * s))
        var d = Driver()
        d.apply(t.start(now: 0))
        while let timer = d.nextTimer() { d.apply(t.timerFired(timer, now: d.now)) }
        #expect(d.timedOutAt == 16 * s)
        #expect(d.sends.map(\.at) == [0, 250 * ms, 750 * ms, 1750 * ms, 3750 * ms, 7750 * ms, 15750 * ms])
    }

    /// Item 4: a provisional response stops retransmission and Timer B.
    @Test func provisionalStopsRetransmissionAndTimerB() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        _ = d.nextTimer() // Timer A at 0.5 s
        d.apply(t.timerFired(.A, now: d.now))
        d.now = 700 * ms
        d.apply(t.receive(sampleInvite().response(100), now: d.now))
        #expect(t.state == .proceeding)
        #expect(d.timers.isEmpty)
        #expect(d.sends.count == 2)
        #expect(d.delivered == [100])
        // Nothing fires any more, not even at 1000 s.
        #expect(d.nextTimer(limit: 1000 * s) == nil)
        #expect(d.timedOutAt == nil)
    }

    @Test func non2xxFinalIsAckedWithSameBranchAndTimerD() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        d.now = 20 * ms
        let busy = sampleInvite().response(486, toTag: "far")
        d.apply(t.receive(busy, now: d.now))
        #expect(t.state == .completed)
        let ack = d.sends.last!.message
        #expect(ack.method == "ACK")
        #expect(ack.branch == "z9hG4bK-test1")
        #expect(ack.cseq?.number == 1 && ack.cseq?.method == "ACK")
        #expect(ack.toTag == "far")
        #expect(d.timers[.D] == 20 * ms + 32 * s)
        // A retransmitted 486 is ACKed again, not passed up.
        d.apply(t.receive(busy, now: 30 * ms))
        #expect(d.sends.filter { $0.message.method == "ACK" }.count == 2)
        #expect(d.delivered == [486])
        _ = d.nextTimer()
        d.apply(t.timerFired(.D, now: d.now))
        #expect(t.state == .terminated)
    }

    /// Issue 10 item 3: the TU giving up after a final (the call ended on 486) does not end the
    /// transaction; Timer D still runs its 32 s and a retransmitted 486 inside it is ACKed again.
    @Test func abandonAfterFinalKeepsTimerD() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        d.now = 20 * ms
        let busy = sampleInvite().response(486, toTag: "far")
        d.apply(t.receive(busy, now: d.now))
        #expect(t.abandon().isEmpty)
        #expect(t.state == .completed)
        d.apply(t.receive(busy, now: 10 * s))
        #expect(d.sends.filter { $0.message.method == "ACK" }.count == 2)
        #expect(d.timers[.D] == 20 * ms + 32 * s)
        d.apply(t.timerFired(.D, now: 20 * ms + 32 * s))
        #expect(t.state == .terminated)
        // Over TCP Timer D is 0 (§17.1.1.2).
        var tcp = InviteClientTransaction(request: sampleInvite(), transport: .tcp, timers: .rfcDefault)
        var d2 = Driver()
        d2.apply(tcp.start(now: 0))
        d2.apply(tcp.receive(busy, now: 20 * ms))
        #expect(d2.timers[.D] == 20 * ms)
    }

    /// §9.1: a CANCEL may go only after a provisional response; abandoning before one stops
    /// retransmission (the TU gives up a failover attempt).
    @Test func cancelNeedsAProvisional() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        #expect(!t.mayCancel)
        d.apply(t.receive(sampleInvite().response(100), now: 10 * ms))
        #expect(t.mayCancel)
        var silent = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        d = Driver()
        d.apply(silent.start(now: 0))
        let stop = silent.abandon()
        #expect(stop.contains(.cancelTimer(.A)) && stop.contains(.cancelTimer(.B)) && silent.state == .terminated)
    }

    @Test func twoHundredTerminatesWithoutTransactionAck() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        d.apply(t.receive(sampleInvite().response(200, toTag: "x"), now: 40 * ms))
        #expect(t.state == .terminated)
        #expect(d.sends.count == 1) // the TU sends the ACK for a 2xx
        #expect(d.timers.isEmpty)
    }

    /// Item 6: over TCP nothing is retransmitted; a refused connection fails at once.
    @Test func tcpHasNoRetransmissionsAndTransportErrorsAreImmediate() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .tcp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        #expect(d.timers[.A] == nil)
        #expect(d.timers[.B] == 32 * s)
        d.now = 20 * ms
        d.apply(t.transportError(now: d.now))
        #expect(d.transportFailedAt == 20 * ms)
        #expect(t.state == .terminated)
        #expect(d.sends.count == 1)

        var t2 = InviteClientTransaction(request: sampleInvite(), transport: .tcp, timers: .rfcDefault)
        var d2 = Driver()
        d2.apply(t2.start(now: 0))
        while let timer = d2.nextTimer() { d2.apply(t2.timerFired(timer, now: d2.now)) }
        #expect(d2.sends.count == 1)
        #expect(d2.timedOutAt == 32 * s)
    }

    @Test func abandonStopsEverything() {
        var t = InviteClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        d.apply(t.abandon())
        #expect(d.timers.isEmpty)
        #expect(t.state == .terminated)
    }
}

@Suite struct NonInviteTransactionTests {
    /// Item 2: REGISTER to a silent target: 11 sends, interval capped at T2, Timer F at 32 s.
    @Test func silentRegisterOverUDP() {
        var t = NonInviteClientTransaction(request: sampleRegister(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        while let timer = d.nextTimer() { d.apply(t.timerFired(timer, now: d.now)) }
        let expected: [Int64] = [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500].map { $0 * ms }
        #expect(d.sends.map(\.at) == expected)
        #expect(d.timedOutAt == 32 * s)
    }

    @Test func t1Of250msGivesTimerFAt16s() {
        var t = NonInviteClientTransaction(request: sampleRegister(), transport: .udp,
                                           timers: TimerPolicy(t1: 250 * ms, t2: 4 * s, t4: 5 * s))
        var d = Driver()
        d.apply(t.start(now: 0))
        while let timer = d.nextTimer() { d.apply(t.timerFired(timer, now: d.now)) }
        #expect(d.timedOutAt == 16 * s)
    }

    /// Item 5: REGISTER answered by 100 then silence: retransmissions every T2, Timer F at 32 s.
    @Test func provisionalThenSilence() {
        var t = NonInviteClientTransaction(request: sampleRegister(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        d.now = 100 * ms
        d.apply(t.receive(sampleRegister().response(100), now: d.now))
        #expect(t.state == .proceeding)
        while let timer = d.nextTimer() { d.apply(t.timerFired(timer, now: d.now)) }
        // The E timer armed at 0.5 s in Trying fires in Proceeding and is re-armed at T2.
        #expect(d.sends.map(\.at) == [0, 500 * ms, 4500 * ms, 8500 * ms, 12500 * ms, 16500 * ms, 20500 * ms, 24500 * ms, 28500 * ms])
        #expect(d.timedOutAt == 32 * s)
    }

    @Test func finalResponseStartsTimerK() {
        var t = NonInviteClientTransaction(request: sampleRegister(), transport: .udp, timers: .rfcDefault)
        var d = Driver()
        d.apply(t.start(now: 0))
        d.apply(t.receive(sampleRegister().response(200, toTag: "x"), now: 20 * ms))
        #expect(t.state == .completed)
        #expect(d.timers[.K] == 20 * ms + 5 * s)
        #expect(d.timers[.E] == nil && d.timers[.F] == nil)
    }
}

/// The drivers' reused action lists: one per nesting depth, handed back emptied, their buffers
/// kept.
@Suite struct ActionListPoolTests {
    @Test func listsComeBackEmptyWithTheirRoomAndNestedTakesDoNotShare() {
        var pool = ActionListPool<Int>(capacity: 5)
        var outer = pool.take()
        #expect(outer.isEmpty && outer.capacity >= 5)
        outer.append(contentsOf: [1, 2, 3])
        var inner = pool.take() // an action of the outer list fed another input
        inner.append(9)
        #expect(outer == [1, 2, 3] && inner == [9])
        let grown = (0..<40).map { $0 }
        inner.append(contentsOf: grown)
        let innerRoom = inner.capacity
        pool.giveBack(&inner)
        #expect(inner.isEmpty)
        pool.giveBack(&outer)
        #expect(outer.isEmpty)
        // Last given back, first taken: the outer list's buffer, emptied, then the inner one's.
        var again = pool.take()
        #expect(again.isEmpty && again.capacity >= 5)
        again.append(7)
        let second = pool.take()
        #expect(second.isEmpty && second.capacity >= innerRoom)
        #expect(again == [7])
    }

    @Test func collectingIsTheAppendingFormIntoANewList() {
        var t = ClientTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var u = t
        var list: [TransactionAction] = []
        u.start(now: 0, into: &list)
        #expect([TransactionAction].collecting(capacity: TransactionAction.listCapacity) { t.start(now: 0, into: &$0) } == list)
    }
}
