import SimCore
import SIP
import Routing
import Trace

extension World {
    /// The REGISTER failover order: the registrar (its first DNS target when it is a name), the
    /// registrar failover address, then the DNS targets of the registrar name.
    func registerSequence(pbx pi: Int) -> FailoverSequence {
        let c = pbxs[pi].card!.config
        var stages: [FailoverSequence.Stage] = []
        switch c.registrar! {
        case .ip(let ip, let port): stages.append(.address(ip, port: port, origin: .configured))
        case .name(let n, let port): stages.append(.firstOf(name: n, port: port))
        }
        if let f = c.registrarFailover { stages.append(.address(f, port: nil, origin: .failover)) }
        if let (n, port) = c.dnsName { stages.append(.allOf(name: n, port: port)) }
        return FailoverSequence(stages: stages, transport: c.transport)
    }

    func startRegistration(pbx pi: Int) {
        guard let card = pbxs[pi].card else { return }
        card.registration.cycleEvent = nil
        if card.registration.active { return }
        if !network.isUp(pbxs[pi].ip) {
            setCardState(pbx: pi, .fault, reason: "own network unreachable")
            card.registration.cycleEvent = sim.schedule(.registerCycle(pbx: pi), after: retryDelay(pbx: pi))
            return
        }
        card.registration.active = true
        card.registration.cycles += 1
        card.registration.provisional = false
        card.registration.sequence = registerSequence(pbx: pi)
        step(.registration, "\(pbxs[pi].name)/V-SIPGW", "registration cycle starts (\(card.config.numbers.joined(separator: ", ")))")
        registerNext(pbx: pi)
    }

    func registerNext(pbx pi: Int) {
        let p = pbxs[pi]
        guard let card = p.card, var seq = card.registration.sequence else { return }
        let actor = "\(p.name)/V-SIPGW"
        let step_ = seq.next(isBlocked: blockCheck(pi))
        for s in seq.skipped { step(.targetSkipped, actor, "REGISTER: \(s.target): \(s.reason)") }
        seq.skipped.removeAll()
        card.registration.sequence = seq
        switch step_ {
        case .needResolution(let name, let port):
            resolve(pbx: pi, name: name, port: port, transport: card.config.transport, for: .registration(pbx: pi), call: nil)
        case .exhausted:
            card.registration.active = false
            registrationFailed(pbx: pi, "every registrar target failed")
        case .target(let t):
            card.registration.provisional = false
            card.registration.cseq += 1
            let c = card.config
            let domain = c.sipDomain
            let number = c.numbers.first ?? "pbx"
            let reg = SIPMessage.register(registrarURI: "sip:\(domain)", aor: "sip:\(number)@\(domain)",
                                          fromTag: card.registration.fromTag, callID: card.registration.callID,
                                          cseq: card.registration.cseq, transport: t.transport,
                                          localHostPort: hostPort(p.ip, 5060), contactUser: number, expires: c.registerExpires,
                                          branch: newBranch())
            step(.attemptStarted, actor, "REGISTER to \(t.hostPort) (\(t.originLabel))", fields: [StepField("method", "REGISTER")] + World.targetFields(t))
            card.registration.txn = startTransaction(reg, owner: .register(pbx: pi), from: p.ip, to: t.ip, port: t.port,
                                                     transport: t.transport, timers: c.timers, call: nil, actor: actor)
            let timeout = c.failoverTimerRegister ?? SimTime(ns: c.timers.timerF)
            if let old = card.registration.failoverTimer { sim.cancel(old) }
            card.registration.failoverTimer = sim.schedule(.registerFailover(pbx: pi, attempt: card.registration.cseq), after: timeout)
            card.registration.lastTarget = t
        }
    }

    /// The whole registration cycle failed: the card goes OUS and retries later.
    func registrationFailed(pbx pi: Int, _ why: String) {
        guard let card = pbxs[pi].card else { return }
        card.registration.active = false
        card.registration.failures += 1
        card.registration.registeredWith = nil
        let wait = retryDelay(pbx: pi)
        step(.registration, "\(pbxs[pi].name)/V-SIPGW", "\(why); retry in \(wait.formatSeconds(precision: 3)) (failure \(card.registration.failures))")
        setCardState(pbx: pi, .ous, reason: why)
        card.registration.cycleEvent = sim.schedule(.registerCycle(pbx: pi), after: wait)
    }

    /// The wait before the next registration cycle after `failures` consecutive failures.
    func retryDelay(pbx pi: Int) -> SimTime {
        guard let card = pbxs[pi].card else { return .seconds(10) }
        switch card.config.registerRetry {
        case .fixed(let d): return d
        case .rfc5626(let base, let maxT):
            let k = max(1, card.registration.failures)
            var w = base.ns
            for _ in 1..<k where w < maxT.ns { w *= 2 }
            w = min(w, maxT.ns)
            var rng = streams.stream("register-backoff-\(pbxs[pi].name)-\(card.registration.cycles)")
            let half = w / 2
            return SimTime(ns: half + Int64(rng.uniformInclusive(UInt64(w - half))))
        }
    }

    func registerFailoverTimer(pbx pi: Int, attempt: Int) {
        guard let card = pbxs[pi].card, card.registration.cseq == attempt, let txn = card.registration.txn else { return }
        card.registration.failoverTimer = nil
        step(.timerFired, "\(pbxs[pi].name)/V-SIPGW", "Failover Timer (REGISTER) for \(card.registration.lastTarget?.hostPort ?? "?")",
             fields: [StepField("timer", "register-failover")])
        registerTargetFailed(pbx: pi, txn: txn, reason: "no response within the REGISTER failover timer")
    }

    func registerTargetFailed(pbx pi: Int, txn: Int, reason: String) {
        guard let card = pbxs[pi].card, card.registration.txn == txn else { return }
        if let t = card.registration.failoverTimer { sim.cancel(t); card.registration.failoverTimer = nil }
        abandonTransaction(txn)
        card.registration.txn = nil
        if card.registration.provisional && !card.config.registerFailoverAfterProvisional {
            // Timer F after a 1xx is not an RFC 3263 failover condition.
            registrationFailed(pbx: pi, "REGISTER timed out after a provisional response (\(reason))")
            return
        }
        step(.failover, "\(pbxs[pi].name)/V-SIPGW", "REGISTER leaves \(card.registration.lastTarget?.hostPort ?? "?"): \(reason)")
        registerNext(pbx: pi)
    }

    func registerResponse(pbx pi: Int, txn: Int, _ r: SIPMessage) {
        guard let card = pbxs[pi].card, card.registration.txn == txn, let code = r.statusCode else { return }
        let actor = "\(pbxs[pi].name)/V-SIPGW"
        if code < 200 {
            // A provisional response means the server is alive: RFC 3263 failover no longer
            // applies to this REGISTER; only Timer F (408) can end it.
            if !card.config.registerFailoverAfterProvisional, !card.registration.provisional, let t = card.registration.failoverTimer {
                sim.cancel(t)
                card.registration.failoverTimer = nil
                step(.registration, actor, "\(code) to REGISTER: failover timer stopped, waiting for a final response")
            }
            card.registration.provisional = true
            return
        }
        if let t = card.registration.failoverTimer { sim.cancel(t); card.registration.failoverTimer = nil }
        card.registration.txn = nil
        if code == 503 {
            let target = card.registration.lastTarget
            if let ra = r.retryAfterSeconds, ra > 0, let t = target {
                addToBlocklist(pbx: pi, ip: t.ip, until: sim.now + .seconds(Int64(ra)), call: nil)
            }
            step(.failover, actor, "REGISTER leaves \(target?.hostPort ?? "?"): 503")
            card.registration.provisional = false
            registerNext(pbx: pi)
            return
        }
        card.registration.active = false
        if code < 300 {
            let expires = r.header("Contact").flatMap { SIPMessage.parameter("expires", in: $0) }.flatMap { Int($0) }
                ?? Int(r.header("Expires") ?? "") ?? card.config.registerExpires
            card.registration.registeredWith = card.registration.lastTarget
            card.registration.registeredUntil = sim.now + .seconds(Int64(expires))
            card.registration.failures = 0
            let refresh = SimTime(ns: Int64(expires) * 1_000_000_000 * Int64(card.config.registerRefreshPercent) / 100)
            step(.registration, actor, "registered at \(card.registration.lastTarget?.hostPort ?? "?") for \(expires)s; refresh in \(refresh.durationString)",
                 fields: [StepField("registered_at", card.registration.lastTarget?.hostPort ?? ""), StepField("expires_s", expires),
                          StepField("refresh_ns", refresh.ns)])
            setCardState(pbx: pi, .ins, reason: "registered")
            if case .registration = card.config.failback, let t = card.registration.lastTarget {
                card.preferred = (t, sim.now + refresh)
            }
            card.registration.cycleEvent = sim.schedule(.registerCycle(pbx: pi), after: refresh)
        } else {
            registrationFailed(pbx: pi, "REGISTER rejected: \(code) \(ReasonPhrase.for(code))")
        }
    }

    func setCardState(pbx pi: Int, _ s: CardState, reason: String) {
        guard let card = pbxs[pi].card, card.state != s else { return }
        let old = card.state
        card.state = s
        step(.cardState, "\(pbxs[pi].name)/V-SIPGW", "\(old.rawValue) -> \(s.rawValue): \(reason)",
             fields: [StepField("pbx", pbxs[pi].name), StepField("from", old.rawValue), StepField("to", s.rawValue), StepField("reason", reason)])
    }

    // MARK: - Blocklist and fail-back

    func addToBlocklist(pbx pi: Int, ip: String, until: SimTime, call: Int?) {
        guard let card = pbxs[pi].card else { return }
        card.blocklist[ip] = until
        step(.blocklistAdded, "\(pbxs[pi].name)/V-SIPGW", "\(ip) gets no request until \(until) (Retry-After)", call: call)
        sim.schedule(.blocklistExpiry(pbx: pi, ip: ip), at: until)
    }

    func blocklistExpired(pbx pi: Int, ip: String) {
        guard let card = pbxs[pi].card, let until = card.blocklist[ip], until <= sim.now else { return }
        card.blocklist[ip] = nil
        step(.blocklistExpired, "\(pbxs[pi].name)/V-SIPGW", "\(ip) eligible again")
    }
}
