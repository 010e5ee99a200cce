import Testing
@testable import Routing
import SIP

/// The registration core without the engine (issue 9 item 3): what each response and timer
/// means, against the numbers of the domain reference (checklist 2, 5, 25).
@Suite struct RegistrationCoreTests {
    struct Counter: UniformSource {
        var state: UInt64
        mutating func uniformInclusive(_ bound: UInt64) -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return bound == .max ? state : (state >> 11) % (bound + 1)
        }
    }
    let s: Int64 = 1_000_000_000
    let never: (String) -> Bool = { _ in false }
    func backoff(_ cycles: Int) -> Counter { Counter(state: UInt64(cycles)) }

    func core(retry: RegistrationCore.Retry = .fixed(10_000_000_000), afterProvisional: Bool = false) -> RegistrationCore {
        RegistrationCore(config: .init(stages: [.address("192.0.2.10", port: nil, origin: .configured),
                                                .address("192.0.2.11", port: nil, origin: .failover)],
                                       transport: .udp, failoverTimeout: 4 * s, expires: 3600, refreshPercent: 90, retry: retry,
                                       failoverAfterProvisional: afterProvisional))
    }

    /// Silent registrars: each is left when the 4 s failover timer fires; when both are, the
    /// cycle fails (the card goes OUS) and the next starts after the 10 s retry.
    @Test func silentTargetsFailTheCycle() {
        var c = core()
        let a = c.startCycle(now: 0, ownNetworkUp: true, isBlocked: never, backoff: backoff)
        #expect(a == [.cycleStarted, .sendRegister(RouteTarget(ip: "192.0.2.10", origin: .configured), cseq: 1, failoverIn: 4 * s)])
        #expect(c.failoverTimerFired(attempt: 7, isBlocked: never, backoff: backoff) == nil) // a stale timer
        let b = c.failoverTimerFired(attempt: 1, isBlocked: never, backoff: backoff)
        #expect(b == [.abandonTransaction, .leave(RouteTarget(ip: "192.0.2.10", origin: .configured), reason: "no response within the REGISTER failover timer"),
                      .sendRegister(RouteTarget(ip: "192.0.2.11", origin: .failover), cseq: 2, failoverIn: 4 * s)])
        let f = c.failoverTimerFired(attempt: 2, isBlocked: never, backoff: backoff) ?? []
        #expect(f.suffix(2) == [.failed("every registrar target failed", retryIn: 10 * s, failures: 1), .scheduleCycle(after: 10 * s)])
        #expect(!c.active && c.failures == 1)
    }

    /// 503 with Retry-After 120: blocklisted for 120 s, next target at once (checklist 7).
    @Test func serviceUnavailableBlocklistsAndMovesOn() {
        var c = core()
        _ = c.startCycle(now: 0, ownNetworkUp: true, isBlocked: never, backoff: backoff)
        let a = c.response(code: 503, retryAfter: 120, expires: nil, now: 10_000_000, timerArmed: true, isBlocked: never, backoff: backoff)
        #expect(a == [.disarmFailoverTimer, .blocklist(ip: "192.0.2.10", until: 10_000_000 + 120 * s),
                      .leave(RouteTarget(ip: "192.0.2.10", origin: .configured), reason: "503"),
                      .sendRegister(RouteTarget(ip: "192.0.2.11", origin: .failover), cseq: 2, failoverIn: 4 * s)])
    }

    /// A 2xx for 3600 s: registered until now + 3600 s, refresh at 90 % = 3240 s (checklist 25).
    @Test func registeredWithRefreshAtNinetyPercent() {
        var c = core()
        _ = c.startCycle(now: 0, ownNetworkUp: true, isBlocked: never, backoff: backoff)
        let a = c.response(code: 200, retryAfter: nil, expires: 3600, now: 40_000_000, timerArmed: true, isBlocked: never, backoff: backoff)
        #expect(a == [.disarmFailoverTimer, .registered(RouteTarget(ip: "192.0.2.10", origin: .configured), expires: 3600, refreshIn: 3240 * s),
                      .scheduleCycle(after: 3240 * s)])
        #expect(c.registeredWith?.ip == "192.0.2.10" && c.registeredUntil == 40_000_000 + 3600 * s && !c.active)
        // A later cycle that fails forgets the registration.
        _ = c.startCycle(now: 3240 * s, ownNetworkUp: true, isBlocked: never, backoff: backoff)
        _ = c.response(code: 403, retryAfter: nil, expires: nil, now: 3241 * s, timerArmed: true, isBlocked: never, backoff: backoff)
        #expect(c.registeredWith == nil)
    }

    /// A provisional stops the failover timer (RFC 3263: the server is alive); Timer F after it
    /// fails the cycle instead of failing over (checklist 5), unless configured otherwise.
    @Test func provisionalThenTimerF() {
        var c = core()
        _ = c.startCycle(now: 0, ownNetworkUp: true, isBlocked: never, backoff: backoff)
        #expect(c.response(code: 100, retryAfter: nil, expires: nil, now: 0, timerArmed: true, isBlocked: never, backoff: backoff)
                == [.disarmFailoverTimer, .provisionalStopsFailover(code: 100)])
        let f = c.targetFailed("Timer F (408)", timerArmed: false, isBlocked: never, backoff: backoff)
        #expect(f.first == .abandonTransaction)
        #expect(f.contains(.failed("REGISTER timed out after a provisional response (Timer F (408))", retryIn: 10 * s, failures: 1)))
        var d = core(afterProvisional: true)
        _ = d.startCycle(now: 0, ownNetworkUp: true, isBlocked: never, backoff: backoff)
        #expect(d.response(code: 100, retryAfter: nil, expires: nil, now: 0, timerArmed: true, isBlocked: never, backoff: backoff).isEmpty)
        #expect(d.targetFailed("Timer F (408)", timerArmed: true, isBlocked: never, backoff: backoff).contains {
            if case .sendRegister(let t, _, _) = $0 { return t.ip == "192.0.2.11" } else { return false } })
    }

    /// RFC 5626 §4.5 backoff: after the k-th failure in a row the wait is uniform in [W/2, W],
    /// W = min(1800 s, 30 s · 2^(k−1)).
    @Test func rfc5626Backoff() {
        var c = core(retry: .rfc5626(base: 30 * s, max: 1800 * s))
        for k in 1...9 {
            _ = c.startCycle(now: 0, ownNetworkUp: true, isBlocked: never, backoff: backoff)
            let f = c.response(code: 403, retryAfter: nil, expires: nil, now: 0, timerArmed: true, isBlocked: never, backoff: backoff)
            guard case .failed(_, let wait, let failures)? = f.first(where: { if case .failed = $0 { return true } else { return false } }) else {
                Issue.record("no failure"); return
            }
            let w = min(1800 * s, 30 * s << Int64(k - 1))
            #expect(failures == k && wait >= w / 2 && wait <= w, "k=\(k) wait=\(wait)")
        }
    }

    /// A card whose own network is down is in Fault and tries again after the retry interval.
    @Test func ownNetworkDown() {
        var c = core()
        #expect(c.startCycle(now: 0, ownNetworkUp: false, isBlocked: never, backoff: backoff) == [.ownNetworkDown(retryIn: 10 * s)])
        #expect(!c.active && c.cycles == 0)
    }
}
