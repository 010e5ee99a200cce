import SIP

/// The registration of a trunk card with its registrar, sans-I/O (issue 9 item 3): the REGISTER
/// failover order, the per-target failover timer, what a provisional, a 503, a 2xx or a failure
/// means, the refresh, and the retry backoff. It never sends, waits or resolves: every input
/// returns the actions its driver performs in order (the simulator's world, or anything else
/// that owns a clock and a socket). Times are nanoseconds on the driver's clock.
public struct RegistrationCore: Sendable {
    /// How the card retries a registration cycle that failed.
    public enum Retry: Sendable, Equatable {
        /// A fixed interval (Panasonic terminals: 10 s).
        case fixed(Int64)
        /// RFC 5626 §4.5: after the k-th consecutive failure W = min(max, base · 2^(k−1)), the wait
        /// uniform in [W/2, W].
        case rfc5626(base: Int64, max: Int64)
    }

    public struct Config: Sendable {
        /// The failover order: registrar (or its first DNS target), registrar failover, DNS targets.
        public var stages: [FailoverSequence.Stage]
        public var transport: Transport
        /// Per-target wait for any response before moving on (the REGISTER failover timer).
        public var failoverTimeout: Int64
        /// The expiry to assume when the registrar's 2xx names none, seconds.
        public var expires: Int
        /// Refresh at this percentage of the granted expiry.
        public var refreshPercent: Int
        public var retry: Retry
        /// Whether the failover timer still runs after a provisional response (not RFC 3263).
        public var failoverAfterProvisional: Bool
        public init(stages: [FailoverSequence.Stage], transport: Transport, failoverTimeout: Int64, expires: Int,
                    refreshPercent: Int, retry: Retry, failoverAfterProvisional: Bool) {
            self.stages = stages; self.transport = transport; self.failoverTimeout = failoverTimeout; self.expires = expires
            self.refreshPercent = refreshPercent; self.retry = retry; self.failoverAfterProvisional = failoverAfterProvisional
        }
    }

    public enum Action: Sendable, Equatable {
        /// The card's own network is down: it is in Fault, and the next cycle comes after `retryIn`.
        case ownNetworkDown(retryIn: Int64)
        case cycleStarted
        case skipped(String, reason: FailoverSequence.SkipReason)
        case resolve(name: String, port: Int?)
        /// Send REGISTER (CSeq `cseq`) to the target, as a new non-INVITE client transaction, and
        /// arm the failover timer for `attempt` to fire after `failoverIn`.
        case sendRegister(RouteTarget, cseq: Int, failoverIn: Int64)
        case disarmFailoverTimer
        /// Forget the REGISTER transaction (its target is left).
        case abandonTransaction
        /// A provisional response: the server is alive, the failover timer stopped.
        case provisionalStopsFailover(code: Int)
        /// The target is left for the next one.
        case leave(RouteTarget?, reason: String)
        /// A 503 with Retry-After: no request to this address until then.
        case blocklist(ip: String, until: Int64)
        /// Registered: where, for how long, when the refresh cycle starts.
        case registered(RouteTarget?, expires: Int, refreshIn: Int64)
        /// The whole cycle failed: why, the next cycle's wait, and the count of failures in a row.
        case failed(String, retryIn: Int64, failures: Int)
        case scheduleCycle(after: Int64)
    }

    public let config: Config
    public private(set) var active = false
    public private(set) var cycles = 0
    public private(set) var failures = 0
    /// The CSeq of the last REGISTER sent (also the failover timer's attempt number).
    public private(set) var cseq = 0
    public private(set) var provisional = false
    /// A REGISTER transaction is outstanding.
    public private(set) var awaiting = false
    public private(set) var sequence: FailoverSequence?
    public private(set) var lastTarget: RouteTarget?
    public private(set) var registeredWith: RouteTarget?
    public private(set) var registeredUntil: Int64 = 0

    public init(config: Config) { self.config = config }

    /// Starts a registration cycle (at the start, on refresh, on retry). `backoff` gives the random
    /// source of the RFC 5626 wait for a cycle number (every input that can fail the cycle takes it).
    public mutating func startCycle<G: UniformSource>(now: Int64, ownNetworkUp: Bool, isBlocked: (String) -> Bool,
                                                     backoff: (Int) -> G) -> [Action] {
        if active { return [] }
        if !ownNetworkUp { return [.ownNetworkDown(retryIn: retryDelay(backoff))] }
        active = true
        cycles += 1
        provisional = false
        sequence = FailoverSequence(stages: config.stages, transport: config.transport)
        return [.cycleStarted] + next(isBlocked: isBlocked, backoff: backoff)
    }

    /// The next target of the cycle, or the cycle's failure.
    public mutating func next<G: UniformSource>(isBlocked: (String) -> Bool, backoff: (Int) -> G) -> [Action] {
        guard var seq = sequence else { return [] }
        let step = seq.next(isBlocked: isBlocked)
        var out: [Action] = seq.skipped.map { .skipped($0.target, reason: $0.reason) }
        seq.skipped.removeAll()
        sequence = seq
        switch step {
        case .needResolution(let name, let port):
            out.append(.resolve(name: name, port: port))
        case .exhausted:
            active = false
            out += fail("every registrar target failed", backoff: backoff)
        case .target(let t):
            provisional = false
            cseq += 1
            awaiting = true
            lastTarget = t
            out.append(.sendRegister(t, cseq: cseq, failoverIn: config.failoverTimeout))
        }
        return out
    }

    /// The driver resolved `name` (RFC 3263); `rng` orders SRV targets of equal priority. Then
    /// `next` goes on with the cycle.
    public mutating func provide<G: UniformSource>(_ result: Resolution, for name: String, using rng: inout G) {
        guard var seq = sequence else { return }
        seq.provide(result, for: name, using: &rng)
        sequence = seq
    }

    /// The targets a resolution gave, once provided.
    public func resolvedTargets(_ name: String) -> [RouteTarget]? { sequence?.resolvedTargets(name) }

    /// The failover timer of REGISTER `attempt` fired.
    public mutating func failoverTimerFired<G: UniformSource>(attempt: Int, isBlocked: (String) -> Bool, backoff: (Int) -> G) -> [Action]? {
        guard attempt == cseq, awaiting else { return nil }
        return targetFailed("no response within the REGISTER failover timer", timerArmed: false, isBlocked: isBlocked, backoff: backoff)
    }

    /// The REGISTER transaction ended without a final response (Timer F: 408; transport error: 503),
    /// or the failover timer gave up on it.
    public mutating func targetFailed<G: UniformSource>(_ reason: String, timerArmed: Bool = true, isBlocked: (String) -> Bool,
                                                       backoff: (Int) -> G) -> [Action] {
        guard awaiting else { return [] }
        awaiting = false
        var out: [Action] = timerArmed ? [.disarmFailoverTimer] : []
        out.append(.abandonTransaction)
        if provisional && !config.failoverAfterProvisional {
            // Timer F after a 1xx is not an RFC 3263 failover condition: the cycle fails.
            active = false
            return out + fail("REGISTER timed out after a provisional response (\(reason))", backoff: backoff)
        }
        out.append(.leave(lastTarget, reason: reason))
        return out + next(isBlocked: isBlocked, backoff: backoff)
    }

    /// A response to the outstanding REGISTER. `expires` is what the 2xx grants (nil: none said).
    public mutating func response<G: UniformSource>(code: Int, retryAfter: Int?, expires: Int?, now: Int64, timerArmed: Bool,
                                                   isBlocked: (String) -> Bool, backoff: (Int) -> G) -> [Action] {
        guard awaiting else { return [] }
        if code < 200 {
            var out: [Action] = []
            // The server is alive: RFC 3263 failover no longer applies; only Timer F can end it.
            if !config.failoverAfterProvisional, !provisional, timerArmed { out = [.disarmFailoverTimer, .provisionalStopsFailover(code: code)] }
            provisional = true
            return out
        }
        awaiting = false
        var out: [Action] = timerArmed ? [.disarmFailoverTimer] : []
        if code == 503 {
            if let ra = retryAfter, ra > 0, let t = lastTarget { out.append(.blocklist(ip: t.ip, until: now + Int64(ra) * 1_000_000_000)) }
            out.append(.leave(lastTarget, reason: "503"))
            provisional = false
            return out + next(isBlocked: isBlocked, backoff: backoff)
        }
        active = false
        if code < 300 {
            let granted = expires ?? config.expires
            registeredWith = lastTarget
            registeredUntil = now + Int64(granted) * 1_000_000_000
            failures = 0
            let refresh = Int64(granted) * 1_000_000_000 * Int64(config.refreshPercent) / 100
            return out + [.registered(lastTarget, expires: granted, refreshIn: refresh), .scheduleCycle(after: refresh)]
        }
        return out + fail("REGISTER rejected: \(ReasonPhrase.status(code))", backoff: backoff)
    }

    private mutating func fail<G: UniformSource>(_ why: String, backoff: (Int) -> G) -> [Action] {
        failures += 1
        registeredWith = nil
        let wait = retryDelay(backoff)
        return [.failed(why, retryIn: wait, failures: failures), .scheduleCycle(after: wait)]
    }

    /// The wait before the next cycle after `failures` consecutive failures.
    func retryDelay<G: UniformSource>(_ backoff: (Int) -> G) -> Int64 {
        switch config.retry {
        case .fixed(let d): return d
        case .rfc5626(let base, let maxW):
            let k = max(1, failures)
            var w = base
            for _ in 1..<k where w < maxW { w *= 2 }
            w = min(w, maxW)
            let half = w / 2
            var rng = backoff(cycles) // a stream per cycle, so that draws do not depend on earlier ones
            return half + Int64(rng.uniformInclusive(UInt64(w - half)))
        }
    }
}
