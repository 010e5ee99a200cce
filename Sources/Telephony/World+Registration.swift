import SimCore
import SIP
import Routing
import Trace

extension World {
    /// The card's registration core, made at its first cycle from the card's configuration.
    func makeRegistrationCore(pbx pi: Int) -> RegistrationCore {
        RegistrationCore(config: pbxs[pi].card!.config.registrationConfig)
    }

    /// The RFC 5626 wait's random source for a cycle: one stream per card and cycle.
    func registrationBackoff(pbx pi: Int) -> (Int) -> Xoshiro256 {
        let name = pbxs[pi].name
        return { cycles in self.streams.stream("register-backoff-\(name)-\(cycles)") }
    }

    /// Feeds the card's registration core and performs what it decides.
    func registrationInput(pbx pi: Int, _ input: (inout RegistrationCore) -> [RegistrationCore.Action]?) {
        guard let card = pbxs[pi].card else { return }
        var core = card.registration.core ?? makeRegistrationCore(pbx: pi)
        let actions = input(&core)
        card.registration.core = core
        if let actions { performRegistration(pbx: pi, actions) }
    }

    func startRegistration(pbx pi: Int) {
        guard let card = pbxs[pi].card else { return }
        card.registration.cycleEvent = nil
        let up = network.isUp(pbxs[pi].ip), blocked = blockCheck(pi), backoff = registrationBackoff(pbx: pi)
        registrationInput(pbx: pi) { $0.startCycle(now: sim.now.ns, ownNetworkUp: up, isBlocked: blocked, backoff: backoff) }
    }

    /// The registrar name was resolved (RFC 3263): the targets join the cycle, which goes on.
    func registrationResolved(pbx pi: Int, _ result: Resolution, for name: String) {
        guard let card = pbxs[pi].card, card.registration.core != nil else { return }
        var rng = streams.stream("register-\(pbxs[pi].name)-\(card.registration.cseq)")
        card.registration.core?.provide(result, for: name, using: &rng)
        if let list = card.registration.core?.resolvedTargets(name) {
            step(.targetsResolved, "\(pbxs[pi].name)/V-SIPGW", "REGISTER: \(name) -> \(list.map(\.hostPort).joined(separator: ", "))",
                 fields: [StepField("method", "REGISTER"), StepField("name", name), StepField("targets", list.map(\.hostPort).joined(separator: ","))])
        }
        let blocked = blockCheck(pi), backoff = registrationBackoff(pbx: pi)
        registrationInput(pbx: pi) { $0.next(isBlocked: blocked, backoff: backoff) }
    }

    func registerFailoverTimer(pbx pi: Int, attempt: Int) {
        guard let card = pbxs[pi].card, card.registration.cseq == attempt, card.registration.txn != nil else { return }
        card.registration.failoverTimer = nil
        step(.timerFired, "\(pbxs[pi].name)/V-SIPGW", "Failover Timer (REGISTER) for \(card.registration.lastTarget?.hostPort ?? "?")",
             fields: [StepField("timer", "register-failover")])
        let blocked = blockCheck(pi), backoff = registrationBackoff(pbx: pi)
        registrationInput(pbx: pi) { $0.failoverTimerFired(attempt: attempt, isBlocked: blocked, backoff: backoff) }
    }

    /// The REGISTER transaction ended without a final response (Timer F, a transport error).
    func registerTargetFailed(pbx pi: Int, txn: Int, reason: String) {
        guard let card = pbxs[pi].card, card.registration.txn == txn else { return }
        let armed = card.registration.failoverTimer != nil, blocked = blockCheck(pi), backoff = registrationBackoff(pbx: pi)
        registrationInput(pbx: pi) { $0.targetFailed(reason, timerArmed: armed, isBlocked: blocked, backoff: backoff) }
    }

    func registerResponse(pbx pi: Int, txn: Int, _ r: SIPMessage) {
        guard let card = pbxs[pi].card, card.registration.txn == txn, let code = r.statusCode else { return }
        if code >= 200 { card.registration.txn = nil } // the transaction completed
        let expires = r.header("Contact").flatMap { SIPMessage.parameter("expires", in: $0) }.flatMap { Int($0) } ?? Int(r.header("Expires") ?? "")
        let armed = card.registration.failoverTimer != nil, blocked = blockCheck(pi), backoff = registrationBackoff(pbx: pi)
        let retryAfter = r.retryAfterSeconds
        registrationInput(pbx: pi) {
            $0.response(code: code, retryAfter: retryAfter, expires: expires, now: sim.now.ns, timerArmed: armed, isBlocked: blocked, backoff: backoff)
        }
    }

    /// Performs the registration core's actions, in order, with the steps they record.
    func performRegistration(pbx pi: Int, _ actions: [RegistrationCore.Action]) {
        let p = pbxs[pi]
        guard let card = p.card else { return }
        let actor = "\(p.name)/V-SIPGW"
        for a in actions {
            switch a {
            case .ownNetworkDown(let wait):
                setCardState(pbx: pi, .fault, reason: "own network unreachable")
                card.registration.cycleEvent = sim.schedule(.registerCycle(pbx: pi), after: SimTime(ns: wait))
            case .cycleStarted:
                step(.registration, actor, "registration cycle starts (\(card.config.numbers.joined(separator: ", ")))", fields: [StepField("event", "cycle-started")])
            case .skipped(let target, let reason):
                step(.targetSkipped, actor, "REGISTER: \(target): \(reason)",
                     fields: [StepField("method", "REGISTER"), StepField("target", target), StepField("reason", reason)])
            case .resolve(let name, let port):
                resolve(pbx: pi, name: name, port: port, transport: card.config.transport, for: .registration(pbx: pi), call: nil)
            case .sendRegister(let t, let cseq, let failoverIn):
                let c = card.config
                let domain = c.sipDomain
                let number = c.numbers.first ?? "pbx"
                let reg = SIPMessage.register(registrarURI: "sip:\(domain)", aor: "sip:\(number)@\(domain)",
                                              fromTag: card.registration.fromTag, callID: card.registration.callID,
                                              cseq: cseq, transport: t.transport,
                                              localHostPort: hostPort(p.ip, 5060), contactUser: number, expires: c.registerExpires,
                                              branch: newBranch())
                step(.attemptStarted, actor, "REGISTER to \(t.hostPort) (\(t.originLabel))", fields: [StepField("method", "REGISTER")] + World.targetFields(t))
                card.registration.txn = startTransaction(reg, owner: .register(pbx: pi), from: p.ip, to: t.ip, port: t.port,
                                                         transport: t.transport, timers: c.timers, call: nil, actor: actor)
                if let old = card.registration.failoverTimer { sim.cancel(old) }
                card.registration.failoverTimer = sim.schedule(.registerFailover(pbx: pi, attempt: cseq), after: SimTime(ns: failoverIn))
            case .disarmFailoverTimer:
                if let t = card.registration.failoverTimer { sim.cancel(t); card.registration.failoverTimer = nil }
            case .abandonTransaction:
                if let t = card.registration.txn { abandonTransaction(t) }
                card.registration.txn = nil
            case .provisionalStopsFailover(let code):
                step(.registration, actor, "\(code) to REGISTER: failover timer stopped, waiting for a final response", fields: [StepField("event", "provisional"), StepField("code", code)])
            case .leave(let t, let reason):
                step(.failover, actor, "REGISTER leaves \(t?.hostPort ?? "?"): \(reason)", fields: [StepField("method", "REGISTER"), StepField("from", t?.hostPort ?? ""), StepField("reason", reason)])
            case .blocklist(let ip, let until):
                addToBlocklist(pbx: pi, ip: ip, until: SimTime(ns: until), call: nil)
            case .registered(let t, let expires, let refreshIn):
                let refresh = SimTime(ns: refreshIn)
                step(.registration, actor, "registered at \(t?.hostPort ?? "?") for \(expires)s; refresh in \(refresh.durationString)",
                     fields: [StepField("event", "registered"), StepField("registered_at", t?.hostPort ?? ""), StepField("expires_s", expires),
                              StepField("refresh_ns", refresh.ns)])
                setCardState(pbx: pi, .ins, reason: "registered")
                if let t { card.health.registered(at: t, until: (sim.now + refresh).ns) }
            case .failed(let why, let wait, let failures):
                step(.registration, actor, "\(why); retry in \(SimTime(ns: wait).formatSeconds(precision: 3)) (failure \(failures))",
                     fields: [StepField("event", "cycle-failed"), StepField("reason", why), StepField("retry_in_ns", wait), StepField("failures", failures)])
                setCardState(pbx: pi, .ous, reason: why)
            case .scheduleCycle(let after):
                card.registration.cycleEvent = sim.schedule(.registerCycle(pbx: pi), after: SimTime(ns: after))
            }
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
        card.health.block(ip, until: until.ns)
        step(.blocklistAdded, "\(pbxs[pi].name)/V-SIPGW", "\(ip) gets no request until \(until) (Retry-After)", call: call,
             fields: [StepField("ip", ip), StepField("until_ns", until.ns)])
        sim.schedule(.blocklistExpiry(pbx: pi, ip: ip), at: until)
    }

    func blocklistExpired(pbx pi: Int, ip: String) {
        guard let card = pbxs[pi].card, card.health.unblockIfExpired(ip, now: sim.now.ns) else { return }
        step(.blocklistExpired, "\(pbxs[pi].name)/V-SIPGW", "\(ip) eligible again", fields: [StepField("ip", ip)])
    }
}
