import Routing
import SimCore
import SIP
import Telephony
import Trace

extension LiveCard {
    func makeRegistrationCore() -> RegistrationCore { RegistrationCore(config: card.registrationConfig) }

    func backoff() -> (Int) -> Xoshiro256 {
        let s = streams, name = pbx.name
        return { cycles in s.stream("register-backoff-\(name)-\(cycles)") }
    }

    func registrationInput(_ input: (inout RegistrationCore) -> [RegistrationCore.Action]?) {
        var core = registration ?? makeRegistrationCore()
        let actions = input(&core)
        registration = core
        if let actions { performRegistration(actions) }
    }

    func startRegistration() {
        regCycleTimer = nil
        guard !stopping else { return }
        let blocked = blockCheck(), b = backoff(), t = now
        registrationInput { $0.startCycle(now: t, ownNetworkUp: true, isBlocked: blocked, backoff: b) }
    }

    func registerFailoverTimer(attempt: Int) {
        guard registration?.cseq == attempt, regTxn != nil else { return }
        regFailoverTimer = nil
        step(.timerFired, "Failover Timer (REGISTER) for \(registration?.lastTarget?.hostPort ?? "?")", fields: [StepField("timer", "register-failover")])
        let blocked = blockCheck(), b = backoff()
        registrationInput { $0.failoverTimerFired(attempt: attempt, isBlocked: blocked, backoff: b) }
    }

    func registerTargetFailed(txn: Int, reason: String) {
        guard regTxn == txn else { return }
        let armed = regFailoverTimer != nil, blocked = blockCheck(), b = backoff()
        registrationInput { $0.targetFailed(reason, timerArmed: armed, isBlocked: blocked, backoff: b) }
    }

    func registerResponse(txn: Int, _ r: SIPMessage) {
        guard regTxn == txn, let code = r.statusCode else { return }
        if code >= 200 { regTxn = nil }
        let expires = r.header("Contact").flatMap { SIPMessage.parameter("expires", in: $0) }.flatMap { Int($0) } ?? Int(r.header("Expires") ?? "")
        let armed = regFailoverTimer != nil, blocked = blockCheck(), b = backoff(), t = now
        registrationInput { $0.response(code: code, retryAfter: r.retryAfterSeconds, expires: expires, now: t, timerArmed: armed, isBlocked: blocked, backoff: b) }
    }

    func register(to t: RouteTarget, cseq: Int, expires: Int, owner: Owner) -> Int {
        let domain = card.sipDomain
        let number = card.numbers.first ?? "pbx"
        let reg = SIPMessage.register(registrarURI: "sip:\(domain)", aor: "sip:\(number)@\(domain)", fromTag: regFromTag, callID: regCallID,
                                      cseq: cseq, transport: t.transport, localHostPort: localHostPort, contactUser: number,
                                      expires: expires, branch: newBranch())
        return startTransaction(reg, owner: owner, to: Endpoint(ip: t.ip, port: t.port), transport: t.transport, call: nil)
    }

    func performRegistration(_ actions: [RegistrationCore.Action]) {
        for a in actions {
            switch a {
            case .ownNetworkDown(let wait):
                setCardState(.fault, reason: "own network unreachable")
                regCycleTimer = timers.push(.registerCycle, at: SimTime(ns: now + wait))
            case .cycleStarted:
                step(.registration, "registration cycle starts (\(card.numbers.joined(separator: ", ")))", fields: [StepField("event", "cycle-started")])
            case .skipped(let target, let reason):
                step(.targetSkipped, "REGISTER: \(target): \(reason)", fields: [StepField("method", "REGISTER"), StepField("target", target), StepField("reason", reason)])
            case .resolve(let name, let port):
                let result = resolve(name: name, port: port, call: nil)
                var rng = streams.stream("register-\(pbx.name)-\(registration?.cseq ?? 0)")
                registration?.provide(result, for: name, using: &rng)
                if let list = registration?.resolvedTargets(name) {
                    step(.targetsResolved, "REGISTER: \(name) -> \(list.map(\.hostPort).joined(separator: ", "))",
                         fields: [StepField("method", "REGISTER"), StepField("name", name), StepField("targets", list.map(\.hostPort).joined(separator: ","))])
                }
                let blocked = blockCheck(), b = backoff()
                registrationInput { $0.next(isBlocked: blocked, backoff: b) }
            case .sendRegister(let t, let cseq, let failoverIn):
                step(.attemptStarted, "REGISTER to \(t.hostPort) (\(t.originLabel))", fields: [StepField("method", "REGISTER")] + World.targetFields(t))
                if let old = regFailoverTimer { timers.cancel(old) }
                regFailoverTimer = timers.push(.registerFailover(attempt: cseq), at: SimTime(ns: now + failoverIn))
                regTxn = register(to: t, cseq: cseq, expires: card.registerExpires, owner: .register)
            case .disarmFailoverTimer:
                if let t = regFailoverTimer { timers.cancel(t); regFailoverTimer = nil }
            case .abandonTransaction:
                if let t = regTxn { abandon(t) }
                regTxn = nil
            case .provisionalStopsFailover(let code):
                step(.registration, "\(code) to REGISTER: failover timer stopped, waiting for a final response", fields: [StepField("event", "provisional"), StepField("code", code)])
            case .leave(let t, let reason):
                step(.failover, "REGISTER leaves \(t?.hostPort ?? "?"): \(reason)", fields: [StepField("method", "REGISTER"), StepField("from", t?.hostPort ?? ""), StepField("reason", reason)])
            case .blocklist(let ip, let until):
                addToBlocklist(ip, until: until, call: nil)
            case .registered(let t, let expires, let refreshIn):
                let refresh = SimTime(ns: refreshIn)
                step(.registration, "registered at \(t?.hostPort ?? "?") for \(expires)s; refresh in \(refresh.durationString)",
                     fields: [StepField("event", "registered"), StepField("registered_at", t?.hostPort ?? ""), StepField("expires_s", expires),
                              StepField("refresh_ns", refresh.ns)])
                setCardState(.ins, reason: "registered")
                if let t { health.registered(at: t, until: now + refresh.ns) }
            case .failed(let why, let wait, let failures):
                step(.registration, "\(why); retry in \(SimTime(ns: wait).formatSeconds(precision: 3)) (failure \(failures))",
                     fields: [StepField("event", "cycle-failed"), StepField("reason", why), StepField("retry_in_ns", wait), StepField("failures", failures)])
                setCardState(.ous, reason: why)
            case .scheduleCycle(let after):
                if !stopping { regCycleTimer = timers.push(.registerCycle, at: SimTime(ns: now + after)) }
            }
        }
    }

    func setCardState(_ s: CardState, reason: String) {
        guard cardState != s else { return }
        let old = cardState
        cardState = s
        step(.cardState, "\(old.rawValue) -> \(s.rawValue): \(reason)",
             fields: [StepField("pbx", pbx.name), StepField("from", old.rawValue), StepField("to", s.rawValue), StepField("reason", reason)])
    }

    /// Ctrl-C or the end of the run: REGISTER with Expires: 0 where the card is registered
    /// (RFC 3261 §10.2.2), so that the lab server does not keep a stale binding.
    func unregister() {
        if let t = regCycleTimer { timers.cancel(t); regCycleTimer = nil }
        if let t = regFailoverTimer { timers.cancel(t); regFailoverTimer = nil }
        if let t = regTxn { abandon(t); regTxn = nil }
        guard let core = registration, let at = core.registeredWith else { return }
        step(.registration, "unregistering at \(at.hostPort) (Expires: 0)", fields: [StepField("event", "unregister"), StepField("registered_at", at.hostPort)])
        unregistering = true
        _ = register(to: at, cseq: core.cseq + 1, expires: 0, owner: .unregister)
    }

    /// RFC 3263 for one name, run to the end at once against the live resolver (its answers come
    /// from memory or from the system resolver, which blocks).
    func resolve(name: String, port: Int?, call: Int?) -> Resolution {
        var proc = ResolutionProcedure(name: name, port: port, transport: card.transport)
        var next = proc.first
        let who = "\(pbx.name)/resolver"
        for _ in 0..<32 {
            switch next {
            case .query(let qname, let qtype):
                step(.dnsQuery, by: who, "\(qtype.rawValue) \(qname) to the \(options.resolver.label) resolver (try 1)", call: call,
                     fields: [StepField("qname", qname), StepField("qtype", qtype.rawValue), StepField("server", options.resolver.label), StepField("try", 1)])
                let (answer, ttl) = options.resolver.answer(name: qname, type: qtype)
                let said = answer.rcode != .noError ? answer.rcode.rawValue
                    : qtype == .srv ? answer.srv.map { "\($0.priority) \($0.weight) \($0.port) \($0.target)" }.joined(separator: ", ")
                    : answer.a.joined(separator: ", ")
                step(.dnsAnswer, by: who, "\(qtype.rawValue) \(qname): \(said.isEmpty ? "no records" : said)", call: call,
                     fields: [StepField("qname", qname), StepField("qtype", qtype.rawValue), StepField("rcode", answer.rcode.rawValue), StepField("ttl_ns", ttl)])
                next = proc.answer(answer) { _ in nil }
            case .done(let r):
                if case .srv(let list) = r { for x in list { for ip in x.addresses { transport.learn(ip) } } }
                if case .addresses(let ips, _) = r { for ip in ips { transport.learn(ip) } }
                return r
            case .failed(let why):
                step(.dnsFailure, by: who, "resolution of \(name) failed: \(why)", call: call,
                     fields: [StepField("name", name), StepField("cause", "stage-failed"), StepField("reason", why)])
                return .failure(why)
            }
        }
        return .failure("resolution of \(name) did not finish")
    }
}
