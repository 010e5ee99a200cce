import Testing
import Trace
@testable import Routing
@testable import SIP

/// A deterministic UniformSource for tests (SplitMix64, rejection sampling).
struct TestRNG: UniformSource {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniformInclusive(_ bound: UInt64) -> UInt64 {
        let n = bound &+ 1
        if n == 0 { return next() }
        let limit = UInt64.max - UInt64.max % n
        while true { let x = next(); if x < limit { return x % n } }
    }
}

let sec: Int64 = 1_000_000_000
func never(_ ip: String) -> Bool { false }

/// Draws 0 every time.
struct ZeroRNG: UniformSource { mutating func uniformInclusive(_ bound: UInt64) -> UInt64 { 0 } }

func srv(_ p: UInt16, _ w: UInt16, _ t: String) -> SRVRecord { SRVRecord(priority: p, weight: w, port: 5060, target: t) }

@Suite struct RFC2782Tests {
    /// Checklist item 10: weights (60,20,20) -> first pick 61/101, 20/101, 20/101 within 1 % over 1e5 draws.
    @Test func weightedFirstPickFrequencies() {
        var rng = TestRNG(state: 2026)
        let rrs = [srv(10, 60, "a"), srv(10, 20, "b"), srv(10, 20, "c")]
        var counts: [String: Int] = [:]
        let n = 100_000
        for _ in 0..<n { counts[RFC2782.order(rrs, using: &rng)[0].target, default: 0] += 1 }
        let expected = ["a": 61.0 / 101, "b": 20.0 / 101, "c": 20.0 / 101]
        for (k, p) in expected {
            let f = Double(counts[k, default: 0]) / Double(n)
            #expect(abs(f - p) < 0.01, "target \(k): frequency \(f), expected \(p)")
        }
    }

    /// Zero weights go first in the arrangement: weights (0, 10) pick the zero-weight RR first
    /// with probability 1/11.
    @Test func zeroWeightProbability() {
        var rng = TestRNG(state: 7)
        let rrs = [srv(10, 10, "heavy"), srv(10, 0, "zero")]
        var zeroFirst = 0
        let n = 110_000
        for _ in 0..<n where RFC2782.order(rrs, using: &rng)[0].target == "zero" { zeroFirst += 1 }
        let f = Double(zeroFirst) / Double(n)
        #expect(abs(f - 1.0 / 11) < 0.005, "zero-weight first with frequency \(f)")
    }

    /// Item 9: priority 10 is always exhausted before priority 20; every record appears once.
    @Test func priorityOrderAndPermutation() {
        var rng = TestRNG(state: 1)
        let rrs = [srv(20, 0, "c"), srv(10, 60, "a"), srv(10, 40, "b"), srv(30, 5, "d")]
        for _ in 0..<1000 {
            let o = RFC2782.order(rrs, using: &rng).map(\.target)
            #expect(Set(o.prefix(2)) == ["a", "b"])
            #expect(o[2] == "c" && o[3] == "d")
        }
    }

    /// Within a priority the arrangement keeps the given order (zero weights first): with every
    /// weight zero each draw is r = 0 and picks the first pending record, so the order is the
    /// given order by ascending priority, whatever the priorities' order in the answer.
    @Test func equalWeightsKeepTheGivenOrderWithinAPriority() {
        var rng = TestRNG(state: 3)
        let rrs = [srv(20, 0, "c"), srv(10, 0, "a"), srv(20, 0, "d"), srv(5, 0, "z"), srv(10, 0, "b"), srv(20, 0, ".")]
        #expect(RFC2782.order(rrs, using: &rng).map(\.target) == ["z", "a", "b", "c", "d"])
        let mixed = [srv(10, 5, "w"), srv(10, 0, "zero1"), srv(10, 0, "zero2")]
        // Zero weights are arranged first: a draw of 0 picks "zero1".
        var zeroRNG = ZeroRNG()
        #expect(RFC2782.order(mixed, using: &zeroRNG).map(\.target) == ["zero1", "zero2", "w"])
    }

    /// Item 11: target "." means no service.
    @Test func dotTargetIsDropped() {
        var rng = TestRNG(state: 1)
        #expect(RFC2782.order([srv(0, 0, ".")], using: &rng).isEmpty)
    }
}

@Suite struct FailoverSequenceTests {
    /// The seed's INVITE order: SIP server, failover address, then the registrar's DNS targets
    /// with already-tried addresses dropped.
    @Test func seedOrder() {
        var seq = FailoverSequence(stages: [.address("192.0.2.10", port: nil, origin: .configured),
                                            .address("192.0.2.11", port: nil, origin: .failover),
                                            .allOf(name: "itsp.example", port: nil)])
        var rng = TestRNG(state: 3)
        guard case .target(let t1) = seq.next(isBlocked: never) else { Issue.record("no first target"); return }
        #expect(t1.ip == "192.0.2.10" && t1.origin == .configured)
        guard case .target(let t2) = seq.next(isBlocked: never) else { Issue.record("no second target"); return }
        #expect(t2.ip == "192.0.2.11" && t2.origin == .failover)
        #expect(seq.next(isBlocked: never) == .needResolution(name: "itsp.example", port: nil))
        seq.provide(.srv([.init(record: srv(10, 60, "sip1"), addresses: ["192.0.2.10"]),
                          .init(record: srv(10, 40, "sip2"), addresses: ["192.0.2.11"]),
                          .init(record: srv(20, 0, "sip3"), addresses: ["192.0.2.12"])]), for: "itsp.example", using: &rng)
        guard case .target(let t3) = seq.next(isBlocked: never) else { Issue.record("no third target"); return }
        #expect(t3.ip == "192.0.2.12")
        #expect(seq.skipped.map(\.reason) == [.alreadyTried, .alreadyTried])
        #expect(seq.next(isBlocked: never) == .exhausted)
    }

    @Test func aRecordsAreTriedInOrderAndBlocklistSkips() {
        var seq = FailoverSequence(stages: [.firstOf(name: "sip.example", port: 5070), .allOf(name: "sip.example", port: 5070)])
        var rng = TestRNG(state: 3)
        #expect(seq.next(isBlocked: never) == .needResolution(name: "sip.example", port: 5070))
        seq.provide(.addresses(["10.0.0.1", "10.0.0.2", "10.0.0.3"], port: 5070), for: "sip.example", using: &rng)
        let blocked: (String) -> Bool = { $0 == "10.0.0.2" }
        guard case .target(let a) = seq.next(isBlocked: blocked) else { Issue.record("none"); return }
        #expect(a.hostPort == "10.0.0.1:5070")
        guard case .target(let b) = seq.next(isBlocked: blocked) else { Issue.record("none"); return }
        #expect(b.hostPort == "10.0.0.3:5070")
        #expect(seq.skipped.contains { $0.target == "10.0.0.2" && $0.reason == .blocklisted })
    }

    @Test func failedResolutionSkipsTheStage() {
        var seq = FailoverSequence(stages: [.allOf(name: "itsp.example", port: nil), .address("192.0.2.99", port: nil, origin: .failover)])
        var rng = TestRNG(state: 3)
        _ = seq.next(isBlocked: never)
        seq.provide(.failure("SERVFAIL"), for: "itsp.example", using: &rng)
        guard case .target(let t) = seq.next(isBlocked: never) else { Issue.record("none"); return }
        #expect(t.ip == "192.0.2.99")
    }
}

@Suite struct CallRouterTests {
    func router(_ policy: ReroutePolicy = .failures, timeout: Int64? = 4 * sec) -> CallRouter {
        CallRouter(config: .init(inviteTimeout: timeout, reroutePolicy: policy),
                   sequence: FailoverSequence(stages: [.address("192.0.2.10", port: nil, origin: .configured),
                                                       .address("192.0.2.11", port: nil, origin: .failover)]))
    }

    func attempts(_ a: [CallRouter.Action]) -> [String] {
        a.compactMap { if case .attempt(let t, _) = $0 { return t.ip } else { return nil } }
    }

    /// Item 14: two silent targets in Panasonic mode reach the public trunk after 8 s.
    @Test func silentTargetsRerouteAfterPerTargetTimeouts() {
        var r = router()
        var a = r.start(now: 0, isBlocked: never)
        #expect(attempts(a) == ["192.0.2.10"])
        #expect(a.contains(.armFailoverTimer(at: 4 * sec)))
        a = r.failoverTimerFired(now: 4 * sec, isBlocked: never)
        #expect(a.first == .abandonAttempt)
        #expect(attempts(a) == ["192.0.2.11"])
        #expect(a.contains(.armFailoverTimer(at: 8 * sec)))
        a = r.failoverTimerFired(now: 8 * sec, isBlocked: never)
        #expect(a.contains { if case .reroute = $0 { return true } else { return false } })
    }

    /// A driver reuses one list: each input appends after what it holds, the same actions the
    /// returning form gives, for every kind of input.
    @Test func inputsAppendToTheDriversList() {
        var a = router(), b = router()
        var list: [CallRouter.Action] = [.disarmFailoverTimer]
        a.start(now: 0, isBlocked: never, into: &list)
        a.provisional(now: 1 * sec, into: &list)
        a.finalResponse(code: 503, retryAfter: 30, now: 2 * sec, isBlocked: never, into: &list)
        a.failoverTimerFired(now: 6 * sec, isBlocked: never, into: &list)
        a.finalResponse(code: 486, retryAfter: nil, now: 7 * sec, isBlocked: never, into: &list)
        let returned = b.start(now: 0, isBlocked: never) + b.provisional(now: 1 * sec)
            + b.finalResponse(code: 503, retryAfter: 30, now: 2 * sec, isBlocked: never)
            + b.failoverTimerFired(now: 6 * sec, isBlocked: never)
            + b.finalResponse(code: 486, retryAfter: nil, now: 7 * sec, isBlocked: never)
        #expect(list == [.disarmFailoverTimer] + returned)
        #expect(returned.contains(.blocklist(ip: "192.0.2.10", until: 32 * sec)))
        // 503 from the first target (after its 100): the second; its timeout: nothing left; a
        // late 486 once the router is done appends nothing.
        #expect(attempts(returned) == ["192.0.2.10", "192.0.2.11"])
        #expect(returned.last == .reroute(reason: .allFailed(attempts: 2)))
        #expect(CallRouter.RerouteReason.allFailed(attempts: 2).description == "all 2 SIP targets failed")
        #expect(a.state == .done && b.state == .done)
    }

    /// In RFC mode there is no failover timer: Timer B (32 s each) drives it.
    @Test func rfcModeUsesTimerB() {
        var r = router(timeout: nil)
        var a = r.start(now: 0, isBlocked: never)
        #expect(!a.contains { if case .armFailoverTimer = $0 { return true } else { return false } })
        #expect(r.failoverTimerFired(now: 4 * sec, isBlocked: never).isEmpty)
        a = r.transactionTimedOut(now: 32 * sec, isBlocked: never)
        #expect(attempts(a) == ["192.0.2.11"])
        a = r.transactionTimedOut(now: 64 * sec, isBlocked: never)
        #expect(a.contains { if case .reroute = $0 { return true } else { return false } })
    }

    /// Item 7: 503 with Retry-After: blocklist for that long and the next target at once.
    @Test func serviceUnavailableWithRetryAfter() {
        var r = router()
        _ = r.start(now: 0, isBlocked: never)
        let a = r.finalResponse(code: 503, retryAfter: 120, now: 20_000_000, isBlocked: never)
        #expect(a.contains(.blocklist(ip: "192.0.2.10", until: 20_000_000 + 120 * sec)))
        #expect(attempts(a) == ["192.0.2.11"])
    }

    @Test func transportErrorMovesOn() {
        var r = router()
        _ = r.start(now: 0, isBlocked: never)
        let a = r.transportFailed(now: 20_000_000, isBlocked: never)
        #expect(a.contains(.failover(from: RouteTarget(ip: "192.0.2.10", origin: .configured), reason: .transportError)))
        #expect(attempts(a) == ["192.0.2.11"])
    }

    /// Item 15: definitive answers end the call without reroute under the default policy...
    @Test func definitiveAnswersDoNotReroute() {
        let cases: [(Int, CallOutcome)] = [(486, .busy), (600, .busy), (404, .failed), (484, .failed), (480, .noAnswer), (603, .rejected)]
        for (code, outcome) in cases {
            var r = router()
            _ = r.start(now: 0, isBlocked: never)
            let a = r.finalResponse(code: code, retryAfter: nil, now: sec, isBlocked: never)
            #expect(a.contains(.finish(outcome: outcome, code: code)), "code \(code)")
            #expect(!a.contains { if case .reroute = $0 { return true } else { return false } })
        }
    }

    /// ...and `any-error` reroutes them, except 487 (caller cancel) which never reroutes.
    @Test func anyErrorPolicy() {
        var r = router(.anyError)
        _ = r.start(now: 0, isBlocked: never)
        #expect(r.finalResponse(code: 486, retryAfter: nil, now: sec, isBlocked: never).contains { if case .reroute = $0 { return true } else { return false } })
        var r2 = router(.anyError)
        _ = r2.start(now: 0, isBlocked: never)
        #expect(r2.finalResponse(code: 487, retryAfter: nil, now: sec, isBlocked: never).contains(.finish(outcome: .abandoned, code: 487)))
    }

    /// A provisional response stops failover: the failover timer no longer moves the call.
    @Test func provisionalStopsFailover() {
        var r = router()
        _ = r.start(now: 0, isBlocked: never)
        #expect(r.provisional(now: 100_000_000) == [.disarmFailoverTimer])
        #expect(r.failoverTimerFired(now: 4 * sec, isBlocked: never).isEmpty)
        #expect(r.finalResponse(code: 200, retryAfter: nil, now: 5 * sec, isBlocked: never).contains(.connected(RouteTarget(ip: "192.0.2.10", origin: .configured), code: 200)))
    }

    /// Any 2xx connects the call (RFC 3261 §13.2.2.4), and the action carries the code that came:
    /// the `call-answered` step records it, where it always said 200 before.
    @Test func any2xxConnectsWithItsCode() {
        for code in [200, 202, 299] {
            var r = router()
            _ = r.start(now: 0, isBlocked: never)
            let a = r.finalResponse(code: code, retryAfter: nil, now: sec, isBlocked: never)
            #expect(a == [.disarmFailoverTimer, .connected(RouteTarget(ip: "192.0.2.10", origin: .configured), code: code)])
            #expect(r.failoverTimerFired(now: 4 * sec, isBlocked: never).isEmpty)
        }
    }

    @Test func serverErrorReroutesWithoutFurtherServers() {
        var r = router()
        _ = r.start(now: 0, isBlocked: never)
        let a = r.finalResponse(code: 500, retryAfter: nil, now: sec, isBlocked: never)
        #expect(attempts(a).isEmpty)
        #expect(a.contains { if case .reroute = $0 { return true } else { return false } })
    }

    @Test func everyTargetBlocklistedReroutesAtOnce() {
        var r = router()
        let a = r.start(now: 0, isBlocked: { _ in true })
        #expect(attempts(a).isEmpty)
        #expect(a.contains { if case .reroute = $0 { return true } else { return false } })
    }
}

@Suite struct ServerAddressTests {
    @Test func parsesAddressesAndNames() {
        #expect(ServerAddress.parse("192.0.2.10") == .ip("192.0.2.10", port: nil))
        #expect(ServerAddress.parse("192.0.2.10:5070") == .ip("192.0.2.10", port: 5070))
        #expect(ServerAddress.parse("itsp.example") == .name("itsp.example", port: nil))
        #expect(ServerAddress.parse("itsp.example:5060") == .name("itsp.example", port: 5060))
        #expect(ServerAddress.parse("2001:db8::10") == .ip("2001:db8::10", port: nil))
        #expect(ServerAddress.parse("[2001:db8::10]:5070") == .ip("2001:db8::10", port: 5070))
        #expect(ServerAddress.parse("2001:db8:::1") == nil)
        #expect(ServerAddress.parse("[2001:db8::10") == nil)
        #expect(ServerAddress.parse("bad host") == nil)
        #expect(RouteTarget(ip: "2001:db8::10", origin: .configured).hostPort == "[2001:db8::10]:5060")
    }
}

/// Addresses compare as addresses, not as text (RFC 5952 canonical IPv6, IPv4 without leading zeros).
@Suite struct CanonicalAddressTests {
    @Test func canonicalForms() {
        #expect(ServerAddress.canonicalIP("2001:0db8:0000::0011") == "2001:db8::11")
        #expect(ServerAddress.canonicalIP("2001:DB8:0:0:1:0:0:1") == "2001:db8::1:0:0:1")
        #expect(ServerAddress.canonicalIP("2001:db8:0:1:1:1:1:1") == "2001:db8:0:1:1:1:1:1")
        #expect(ServerAddress.canonicalIP("::1") == "::1")
        #expect(ServerAddress.canonicalIP("::") == "::")
        #expect(ServerAddress.canonicalIP("fe80::") == "fe80::")
        #expect(ServerAddress.canonicalIP("192.0.2.010") == "192.0.2.10")
        #expect(ServerAddress.canonicalIP("999.1.1.1") == nil)
        #expect(ServerAddress.canonicalIP("itsp.example") == nil)
        #expect(ServerAddress.parse("[2001:0DB8::0011]:5070") == .ip("2001:db8::11", port: 5070))
        // Digits and dots only is never a name.
        #expect(ServerAddress.parse("999.1.1.1") == nil)
        #expect(ServerAddress.parse("1.2.3") == nil)
        #expect(ServerAddress.parse("sip1.itsp.example:5060") == .name("sip1.itsp.example", port: 5060))
    }
}
