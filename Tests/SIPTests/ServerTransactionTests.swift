import Testing
@testable import SIP

/// A manual-clock driver for server transactions and the 2xx retransmission.
struct ServerDriver {
    var timers: [SIPTimer: Int64] = [:]
    var sends: [(at: Int64, code: Int, retransmission: Bool)] = []
    var timedOutAt: Int64?
    var states: [String] = []
    var now: Int64 = 0

    mutating func apply(_ actions: [ServerAction]) {
        for a in actions {
            switch a {
            case .send(let m, let re): sends.append((now, m.statusCode ?? 0, re))
            case .startTimer(let t, let at): timers[t] = at
            case .cancelTimer(let t): timers[t] = nil
            case .timedOut: timedOutAt = now
            case .stateChanged(_, let to): states.append(to)
            }
        }
    }

    mutating func nextTimer(limit: Int64 = .max) -> SIPTimer? {
        guard let (t, at) = timers.min(by: { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue < $1.key.rawValue) }),
              at <= limit else { return nil }
        timers[t] = nil
        now = at
        return t
    }
}

/// RFC 3261 §17.2 server transactions and §13.3.1.4, against the numbers of Table 4 (T1 = 500 ms,
/// T2 = 4 s, T4 = 5 s).
@Suite struct ServerTransactionTests {
    func ack() -> SIPMessage {
        var a = sampleInvite()
        a.startLine = .request(method: "ACK", uri: sampleInvite().requestURI ?? "")
        return a
    }

    /// A 486 over UDP with no ACK: Timer G retransmits at 0.5, 1.5, 3.5, 7.5 s and then every
    /// T2 = 4 s (11.5 ... 31.5 s), ten copies; Timer H gives up at 32 s.
    @Test func nonTwoXXFinalIsRetransmittedUntilTimerH() {
        var t = InviteServerTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = ServerDriver()
        d.apply(t.respond(sampleInvite().response(180, toTag: "x"), now: 0))
        #expect(t.state == .proceeding)
        d.apply(t.respond(sampleInvite().response(486, toTag: "x"), now: 0))
        #expect(t.state == .completed && d.timers[.H] == 32 * s)
        while let timer = d.nextTimer() { d.apply(t.timerFired(timer, now: d.now)) }
        let copies = d.sends.filter { $0.retransmission }.map(\.at)
        #expect(copies == [500 * ms, 1500 * ms, 3500 * ms, 7500 * ms, 11500 * ms, 15500 * ms, 19500 * ms, 23500 * ms, 27500 * ms, 31500 * ms])
        #expect(d.timedOutAt == 32 * s && t.state == .terminated)
    }

    /// The ACK stops G and H; Timer I (T4 = 5 s over UDP) absorbs ACK copies, then the end.
    @Test func ackConfirmsAndTimerIEnds() {
        var t = InviteServerTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = ServerDriver()
        d.apply(t.respond(sampleInvite().response(487, toTag: "x"), now: 0))
        d.now = 1 * s
        d.apply(t.receive(ack(), now: d.now))
        #expect(t.state == .confirmed && d.timers[.G] == nil && d.timers[.H] == nil && d.timers[.I] == 6 * s)
        #expect(t.receive(ack(), now: 2 * s).isEmpty) // absorbed
        #expect(t.receive(sampleInvite(), now: 2 * s).isEmpty) // confirmed: nothing to resend
        _ = d.nextTimer()
        d.apply(t.timerFired(.I, now: d.now))
        #expect(t.state == .terminated && d.now == 6 * s)
        // Over TCP: no Timer G, H still 64·T1, I is 0.
        var tcp = InviteServerTransaction(request: sampleInvite(), transport: .tcp, timers: .rfcDefault)
        var d2 = ServerDriver()
        d2.apply(tcp.respond(sampleInvite().response(486, toTag: "x"), now: 0))
        #expect(d2.timers[.G] == nil && d2.timers[.H] == 32 * s)
        d2.apply(tcp.receive(ack(), now: 100 * ms))
        #expect(d2.timers[.I] == 100 * ms)
    }

    /// A retransmitted INVITE gets the last response again; a 2xx ends the transaction at once.
    @Test func retransmittedInviteAndTwoXX() {
        var t = InviteServerTransaction(request: sampleInvite(), transport: .udp, timers: .rfcDefault)
        var d = ServerDriver()
        d.apply(t.respond(sampleInvite().response(180, toTag: "x"), now: 0))
        d.apply(t.receive(sampleInvite(), now: 10 * ms))
        #expect(d.sends.map(\.code) == [180, 180] && d.sends[1].retransmission)
        d.apply(t.respond(sampleInvite().response(200, toTag: "x"), now: 3 * s))
        #expect(t.state == .terminated && d.timers.isEmpty)
    }

    /// Non-INVITE (BYE): the final starts Timer J (64·T1 = 32 s over UDP, 0 over TCP); a
    /// retransmitted BYE inside it gets the 200 again.
    @Test func nonInviteServerTimerJ() {
        var bye = sampleInvite()
        bye.startLine = .request(method: "BYE", uri: sampleInvite().requestURI ?? "")
        var t = NonInviteServerTransaction(request: bye, transport: .udp, timers: .rfcDefault)
        var d = ServerDriver()
        #expect(t.receive(bye, now: 0).isEmpty) // trying: nothing to resend yet
        d.apply(t.respond(bye.response(200), now: 0))
        #expect(t.state == .completed && d.timers[.J] == 32 * s)
        d.apply(t.receive(bye, now: 500 * ms))
        #expect(d.sends.map(\.retransmission) == [false, true])
        _ = d.nextTimer()
        d.apply(t.timerFired(.J, now: d.now))
        #expect(t.state == .terminated)
        var tcp = NonInviteServerTransaction(request: bye, transport: .tcp, timers: .rfcDefault)
        var d2 = ServerDriver()
        d2.apply(tcp.respond(bye.response(200), now: 7 * s))
        #expect(d2.timers[.J] == 7 * s)
    }

    /// §13.3.1.4: the 2xx goes again at 0.5, 1.5, 3.5, 7.5, 11.5 ... s until the ACK; without
    /// one the UAS gives up at 64·T1 = 32 s.
    @Test func twoXXRetransmissionUntilAckOrGiveUp() {
        var r = TwoXXRetransmission(response: sampleInvite().response(200, toTag: "x"), timers: .rfcDefault)
        var d = ServerDriver()
        d.apply(r.start(now: 0))
        while let timer = d.nextTimer(limit: 8 * s) { d.apply(r.timerFired(timer, now: d.now)) }
        #expect(d.sends.map(\.at) == [500 * ms, 1500 * ms, 3500 * ms, 7500 * ms])
        d.apply(r.ackReceived())
        #expect(d.timers.isEmpty && r.acked)
        var lost = TwoXXRetransmission(response: sampleInvite().response(200, toTag: "x"), timers: .rfcDefault)
        var d2 = ServerDriver()
        d2.apply(lost.start(now: 0))
        while let timer = d2.nextTimer() { d2.apply(lost.timerFired(timer, now: d2.now)) }
        #expect(d2.timedOutAt == 32 * s && d2.sends.count == 10 && lost.gaveUp)
        // With T1 = 250 ms everything halves: give up at 16 s.
        var fast = TwoXXRetransmission(response: sampleInvite().response(200, toTag: "x"), timers: TimerPolicy(t1: 250 * ms, t2: 4 * s, t4: 5 * s))
        var d3 = ServerDriver()
        d3.apply(fast.start(now: 0))
        while let timer = d3.nextTimer() { d3.apply(fast.timerFired(timer, now: d3.now)) }
        #expect(d3.timedOutAt == 16 * s)
    }
}
