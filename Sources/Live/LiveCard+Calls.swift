import Routing
import SimCore
import SIP
import Telephony
import Trace

/// One call the live card places.
final class LiveCall {
    let id: Int
    let caller: String
    let dialed: String
    let digits: String
    let placedAt: Int64
    let hold: SimTime
    let sipCallID: String
    let fromTag: String
    var rng: Xoshiro256
    var router: CallRouter?
    var inviteTxn: Int?
    var lastInvite: SIPMessage?
    var failoverTimer: EventID?
    var noAnswerTimer: EventID?
    var hangupTimer: EventID?
    var sipAttempts = 0
    var sipTargets: [String] = []
    var rerouted = false
    var finalCode: Int?
    var route: CallRoute?
    var answeredAt: Int64?
    var alertedAt: Int64?
    var cardStateAtDial: String?
    var ack: (message: SIPMessage, remote: Endpoint, transport: Transport)?
    var releasedBy: String?
    var byeSent = false
    var dialog2xx: SIPMessage?
    init(id: Int, caller: String, dialed: String, placedAt: Int64, hold: SimTime, sipCallID: String, fromTag: String, rng: Xoshiro256) {
        self.id = id; self.caller = caller; self.dialed = dialed; self.digits = phoneDigits(dialed); self.placedAt = placedAt
        self.hold = hold; self.sipCallID = sipCallID; self.fromTag = fromTag; self.rng = rng
    }
}

extension LiveCard {
    func dial(_ ref: ExtensionRef, number: String, hold: SimTime?) {
        callCount += 1
        let id = callCount
        let call = LiveCall(id: id, caller: "\(pbx.name)/\(ref.number)", dialed: number, placedAt: now,
                            hold: hold ?? scenario.world.defaults.hold, sipCallID: "\(id)-live\(String(UInt64(now) & 0xFFFFFFF, radix: 16))@\(transport.local.ip)",
                            fromTag: newTag(), rng: streams.stream("call-\(id)"))
        calls[id] = call
        callBySIPID[call.sipCallID] = id
        step(.callPlaced, by: call.caller, "dials \(number)", call: id, fields: [StepField("dialed", number), StepField("digits", call.digits)])
        call.noAnswerTimer = timers.push(.noAnswer(call: id), at: SimTime(ns: now) + scenario.world.defaults.noAnswerTimeout)
        call.cardStateAtDial = cardState.rawValue
        if cardState != .ins {
            step(.routeSelected, by: pbx.name, "V-SIPGW is \(cardState.rawValue): public trunk at once", call: id,
                 fields: [StepField("decision", "public-card-out-of-service"), StepField("card_state", cardState.rawValue)])
            rerouteDecided(call, reason: "card \(cardState.rawValue)")
            return
        }
        if let limit = card.channels, calls.values.filter({ $0.route == .sip }).count >= limit {
            step(.routeSelected, by: pbx.name, "V-SIPGW all \(limit) SIP channels busy: overflow to the public trunk", call: id,
                 fields: [StepField("decision", "public-sip-channels-busy"), StepField("sip_channels", limit)])
            rerouteDecided(call, reason: "SIP channels busy")
            return
        }
        step(.routeSelected, by: pbx.name, "SIP trunk (V-SIPGW, \(card.transport.rawValue))", call: id,
             fields: [StepField("decision", "sip"), StepField("transport", card.transport.rawValue)])
        call.route = .sip
        var router = CallRouter(config: .init(inviteTimeout: card.inviteTimeout?.ns, reroutePolicy: card.reroutePolicy),
                                sequence: inviteSequence())
        let actions = router.start(now: now, isBlocked: blockCheck())
        call.router = router
        performRouter(call, actions)
    }

    /// The simulated card's INVITE failover order (`CardConfig.inviteSequence`).
    func inviteSequence() -> FailoverSequence {
        card.inviteSequence(registeredWith: registration.registeredWith, preferred: health.preferredTarget(now: now))
    }

    func blockCheck() -> (String) -> Bool {
        let h = health, t = now
        return { h.isBlocked($0, now: t) }
    }

    func performRouter(_ call: LiveCall, _ actions: [CallRouter.Action]) {
        for a in actions {
            guard calls[call.id] != nil else { return }
            switch a {
            case .resolve(let name, let port):
                let result = resolve(name: name, port: port, call: call.id)
                guard var r = call.router else { return }
                var rng = call.rng
                let next = r.resolved(result, for: name, now: now, using: &rng, isBlocked: blockCheck())
                call.rng = rng
                call.router = r
                if let list = r.sequence.resolvedTargets(name) {
                    step(.targetsResolved, "\(name) -> \(list.map(\.hostPort).joined(separator: ", "))", call: call.id,
                         fields: [StepField("name", name), StepField("targets", list.map(\.hostPort).joined(separator: ","))])
                }
                performRouter(call, next)
            case .attempt(let target, let n):
                call.sipAttempts = n
                if !call.sipTargets.contains(target.ip) { call.sipTargets.append(target.ip) }
                step(.attemptStarted, "attempt \(n): INVITE to \(target.hostPort) (\(target.originLabel))", call: call.id,
                     fields: [StepField("attempt", n)] + World.targetFields(target))
                sendInvite(call, to: target)
            case .armFailoverTimer(let at):
                if let old = call.failoverTimer { timers.cancel(old) }
                call.failoverTimer = timers.push(.callFailover(call: call.id, attempt: call.sipAttempts), at: SimTime(ns: at))
            case .disarmFailoverTimer:
                if let old = call.failoverTimer { timers.cancel(old); call.failoverTimer = nil }
            case .abandonAttempt:
                if let t = call.inviteTxn { abandon(t); call.inviteTxn = nil }
            case .skipped(let what, let reason):
                step(.targetSkipped, "\(what): \(reason)", call: call.id, fields: [StepField("target", what), StepField("reason", reason)])
            case .failover(let from, let reason):
                step(.failover, "leave \(from.hostPort): \(reason)", call: call.id,
                     fields: [StepField("from", from.hostPort), StepField("reason", reason.description)] + World.causeFields(reason))
            case .blocklist(let ip, let until):
                addToBlocklist(ip, until: until, call: call.id)
            case .reroute(let reason):
                if let t = call.inviteTxn { abandon(t); call.inviteTxn = nil }
                rerouteDecided(call, reason: reason)
            case .connected(let target):
                step(.callAnswered, "200 OK from \(target.hostPort)", call: call.id, fields: [StepField("route", "sip"), StepField("target", target.hostPort)])
                // Fail-back `dns-ttl` (as World.noteConnected): new calls start here while the record lasts.
                if health.failback == .dnsTTL, case .dns(let name, _) = target.origin,
                   let until = health.connected(to: target, attempt: call.sipAttempts, recordExpires: recordExpiry[name]) {
                    step(.failover, "fail-back: new calls start at \(target.hostPort) until the DNS record expires at \(SimTime(ns: until))", call: call.id,
                         fields: [StepField("failback", "dns-ttl"), StepField("target", target.hostPort), StepField("until_ns", until)])
                }
                connected(call)
            case .finish(let outcome, let code):
                call.finalCode = code
                end(call, outcome: outcome, detail: "\(code) \(ReasonPhrase.for(code)) over SIP, no reroute (policy \(card.reroutePolicy.rawValue))")
            }
        }
    }

    /// The card gives the call to the public trunk. Live mode dials no PSTN: the decision is
    /// recorded (step `reroute`, call row route `public`, outcome `rerouted`) and the call ends.
    func rerouteDecided(_ call: LiveCall, reason: String) {
        step(.reroute, by: pbx.name, "\(reason): reroute to the public trunk (live mode: not dialled)", call: call.id, fields: [StepField("reason", reason)])
        call.rerouted = call.route == .sip
        call.route = .publicTrunk
        end(call, outcome: .rerouted, detail: "rerouted to the public trunk")
    }

    func sendInvite(_ call: LiveCall, to target: RouteTarget) {
        let domain = card.sipDomain
        let callerNumber = card.numbers.first ?? call.caller
        let invite = SIPMessage.invite(
            requestURI: "sip:\(call.digits)@\(domain)", from: "sip:\(callerNumber)@\(domain)", fromTag: call.fromTag,
            to: "sip:\(call.digits)@\(domain)", callID: call.sipCallID, cseq: 1, transport: target.transport,
            localHostPort: localHostPort, localIP: transport.local.ip, contactUser: callerNumber, branch: newBranch(), sessionID: UInt64(call.id))
        call.lastInvite = invite
        call.inviteTxn = startTransaction(invite, owner: .callInvite(call.id), to: Endpoint(ip: target.ip, port: target.port),
                                          transport: target.transport, call: call.id)
    }

    func callFailoverTimer(_ id: Int, _ attempt: Int, at: Int64) {
        guard let call = calls[id], call.sipAttempts == attempt, var r = call.router else { return }
        call.failoverTimer = nil
        step(.timerFired, "INVITE failover timer (attempt \(attempt))", call: id,
             fields: [StepField("timer", "invite-failover"), StepField("attempt", attempt)])
        let actions = r.failoverTimerFired(now: at, isBlocked: blockCheck())
        call.router = r
        performRouter(call, actions)
    }

    func callResponse(_ id: Int, txn: Int, _ r: SIPMessage) {
        guard let call = calls[id], call.inviteTxn == txn, var router = call.router, let code = r.statusCode else { return }
        step(.sipResponse, "\(code) \(ReasonPhrase.for(code))", call: id, fields: [StepField("code", code)])
        // Any response but 408 and 503 proves a later target alive: `failback: duration` starts
        // here (as World.noteAlive).
        if code != 408 && code != 503, let target = router.attempts.last,
           let until = health.liveAnswer(from: target, attempt: call.sipAttempts, now: now) {
            step(.failover, "fail-back: new calls start at \(target.hostPort) until \(SimTime(ns: until))", call: id,
                 fields: [StepField("failback", "duration"), StepField("target", target.hostPort), StepField("until_ns", until)])
        }
        var actions: [CallRouter.Action]
        if code < 200 {
            actions = router.provisional(now: now)
            if (code == 180 || code == 183), call.alertedAt == nil { call.alertedAt = now }
        } else {
            if code < 300 {
                call.inviteTxn = nil
                if let invite = call.lastInvite { sendAck(call, for: r, of: invite) }
            }
            actions = router.finalResponse(code: code, retryAfter: r.retryAfterSeconds, now: now, isBlocked: blockCheck())
        }
        call.router = router
        performRouter(call, actions)
    }

    func callTransactionFailed(_ id: Int, txn: Int, timeout: Bool) {
        guard let call = calls[id], call.inviteTxn == txn, var router = call.router else { return }
        call.inviteTxn = nil
        let actions = timeout ? router.transactionTimedOut(now: now, isBlocked: blockCheck()) : router.transportFailed(now: now, isBlocked: blockCheck())
        call.router = router
        performRouter(call, actions)
    }

    /// ACK for the 2xx, end to end to its Contact (the address the INVITE went to when the Contact
    /// names an address the scenario does not).
    func sendAck(_ call: LiveCall, for ok: SIPMessage, of invite: SIPMessage) {
        var (ip, port, tr) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
        if !transport.allowed(ip), let last = call.router?.attempts.last {
            warnings.append("call \(call.id): the 2xx Contact \(hostPort(ip, port)) is not an address the scenario names; ACK and BYE go to \(last.hostPort)")
            (ip, port, tr) = (last.ip, last.port, last.transport)
        }
        let ack = invite.inDialogRequest("ACK", for: ok, branch: newBranch(), cseq: invite.cseq?.number ?? 1, transport: tr, localHostPort: localHostPort)
        call.ack = (ack, Endpoint(ip: ip, port: port), tr)
        _ = send(ack, to: Endpoint(ip: ip, port: port), transport: tr, call: call.id, retransmission: false)
        if call.dialog2xx == nil { call.dialog2xx = ok }
    }

    func connected(_ call: LiveCall) {
        call.answeredAt = now
        call.route = .sip
        if let t = call.noAnswerTimer { timers.cancel(t); call.noAnswerTimer = nil }
        call.hangupTimer = timers.push(.hangup(call: call.id), at: SimTime(ns: now) + call.hold)
    }

    /// The caller hangs up: BYE when answered, CANCEL when a provisional came, else the attempt
    /// is given up (a CANCEL may only follow a provisional, RFC 3261 §9.1).
    func hangup(_ id: Int, reason: String) {
        guard let call = calls[id] else { return }
        if call.answeredAt != nil {
            guard !call.byeSent, let invite = call.lastInvite, let ok = call.dialog2xx, let ack = call.ack else { return }
            call.byeSent = true
            if let t = call.hangupTimer { timers.cancel(t); call.hangupTimer = nil }
            call.releasedBy = "caller"
            let bye = invite.inDialogRequest("BYE", for: ok, branch: newBranch(), cseq: (invite.cseq?.number ?? 1) + 1,
                                             transport: ack.transport, localHostPort: localHostPort)
            step(.callEnded, by: call.caller, "caller hangs up (\(reason))", call: id, fields: [StepField("side", "caller"), StepField("event", "hangup")])
            startTransaction(bye, owner: .callBye(id), to: ack.remote, transport: ack.transport, call: id)
            return
        }
        if let t = call.failoverTimer { timers.cancel(t); call.failoverTimer = nil }
        call.router = nil
        guard let tid = call.inviteTxn, let t = txns[tid], case .invite(let x) = t.machine else {
            end(call, outcome: .abandoned, detail: "caller hung up (\(reason))")
            return
        }
        call.inviteTxn = nil
        if x.mayCancel {
            let cancel = x.request.cancelRequest()
            step(.cancel, "CANCEL to \(t.remote) (branch \(x.branch))", call: id,
                 fields: [StepField("event", "sent"), StepField("target", t.remote.description), StepField("branch", x.branch)])
            txns[tid] = Txn(machine: t.machine, owner: .cancelledInvite(id), remote: t.remote, transport: t.transport, callID: id)
            txns[tid]?.timers = t.timers
            startTransaction(cancel, owner: .callCancel(id), to: t.remote, transport: t.transport, call: id)
        } else {
            abandon(tid)
            end(call, outcome: .abandoned, detail: "caller hung up before any response (\(reason))")
        }
    }

    func cancelledInviteResponse(_ id: Int, txn: Int, _ r: SIPMessage) {
        guard let call = calls[id], let code = r.statusCode, code >= 200 else { return }
        if code < 300, let invite = call.lastInvite {
            // The 2xx crossed the CANCEL: ACK it and hang up with a BYE.
            sendAck(call, for: r, of: invite)
            call.answeredAt = now
            hangup(id, reason: "2xx crossed the CANCEL")
            return
        }
        end(call, outcome: .abandoned, detail: "\(code) \(ReasonPhrase.for(code)) after CANCEL")
    }

    func noAnswer(_ id: Int) {
        guard let call = calls[id], call.answeredAt == nil else { return }
        call.noAnswerTimer = nil
        step(.timerFired, by: call.caller, "no answer within \(scenario.world.defaults.noAnswerTimeout.durationString): caller gives up", call: id,
             fields: [StepField("timer", "no-answer")])
        hangup(id, reason: "no answer")
    }

    func addToBlocklist(_ ip: String, until: Int64, call: Int?) {
        health.block(ip, until: until)
        step(.blocklistAdded, "\(ip) gets no request until \(SimTime(ns: until)) (Retry-After)", call: call,
             fields: [StepField("ip", ip), StepField("until_ns", until)])
        _ = timers.push(.blocklistExpiry(ip), at: SimTime(ns: until))
    }

    /// Ends a call and writes its row (the same columns as a simulated call).
    func end(_ call: LiveCall, outcome: CallOutcome, detail: String) {
        guard calls.removeValue(forKey: call.id) != nil else { return }
        for t in [call.failoverTimer, call.noAnswerTimer, call.hangupTimer] { if let t { timers.cancel(t) } }
        if let t = call.inviteTxn { abandon(t) }
        let ended = outcome != .inProgress
        if ended {
            step(.callEnded, by: pbx.name, "\(outcome.rawValue): \(detail)", call: call.id, fields: [StepField("outcome", outcome.rawValue)])
        }
        var rec = CallRecord(callID: call.id, caller: call.caller, dialed: call.dialed, placedAtNs: call.placedAt,
                             endedAtNs: ended ? now : nil, outcome: outcome, route: call.route,
                             answeredBy: call.answeredAt != nil ? call.ack?.remote.ip : nil,
                             setupDelayNs: call.answeredAt.map { $0 - call.placedAt }, sipTargets: call.sipTargets,
                             sipAttempts: call.sipAttempts, rerouted: call.rerouted, finalCode: call.finalCode, pbx: pbx.name,
                             cardState: call.cardStateAtDial)
        rec.pddNs = (call.alertedAt ?? call.answeredAt).map { $0 - call.placedAt }
        rec.releasedBy = call.answeredAt != nil ? (call.releasedBy ?? "caller") : nil
        sink.record(.callEnded(rec))
        finished.append(rec)
    }
}
