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
    /// The call's routing over the SIP trunk: the node the simulated card runs too.
    var trunk: TrunkCall?
    var inviteTxn: Int? {
        get { trunk?.inviteTxn }
        set { trunk?.inviteTxn = newValue }
    }
    var sipAttempts: Int { trunk?.attempts ?? 0 }
    var sipTargets: [String] { trunk?.targets ?? [] }
    var lastInvite: SIPMessage?
    var noAnswerTimer: EventID?
    var hangupTimer: EventID?
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
    init(id: Int, caller: String, dialed: String, placedAt: Int64, hold: SimTime, sipCallID: String, fromTag: String) {
        self.id = id; self.caller = caller; self.dialed = dialed; self.digits = phoneDigits(dialed); self.placedAt = placedAt
        self.hold = hold; self.sipCallID = sipCallID; self.fromTag = fromTag
    }
}

extension LiveCard {
    func dial(_ ref: ExtensionRef, number: String, hold: SimTime?) {
        callCount += 1
        let id = callCount
        let call = LiveCall(id: id, caller: "\(pbx.name)/\(ref.number)", dialed: number, placedAt: now,
                            hold: hold ?? scenario.world.defaults.hold, sipCallID: "\(id)-live\(String(UInt64(now) & 0xFFFFFFF, radix: 16))@\(transport.local.ip)",
                            fromTag: newTag())
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
        let trunk = TrunkCall(id: id, router: CallRouter(config: .init(inviteTimeout: card.inviteTimeout?.ns, reroutePolicy: card.reroutePolicy),
                                                         sequence: inviteSequence()), rng: streams.stream("call-", number: id))
        call.trunk = trunk
        trunk.start(trunkContext)
    }

    /// The simulated card's INVITE failover order (`CardConfig.inviteSequence`).
    func inviteSequence() -> FailoverSequence {
        card.inviteSequence(registeredWith: registration.registeredWith, preferred: health.preferredTarget(now: now))
    }

    /// The card gives the call to the public trunk. Live mode dials no PSTN: the decision is
    /// recorded (step `reroute`, call row route `public`, outcome `rerouted`) and the call ends.
    func rerouteDecided(_ call: LiveCall, reason: String) {
        step(.reroute, by: pbx.name, "\(reason): reroute to the public trunk (live mode: not dialled)", call: call.id, fields: [StepField("reason", reason)])
        call.rerouted = call.route == .sip
        call.route = .publicTrunk
        end(call, outcome: .rerouted, reason: .rerouteNotDialled)
    }

    func sendInvite(_ call: LiveCall, to target: RouteTarget) -> Int {
        let domain = card.sipDomain
        let callerNumber = card.numbers.first ?? call.caller
        let invite = SIPMessage.invite(
            requestURI: "sip:\(call.digits)@\(domain)", from: "sip:\(callerNumber)@\(domain)", fromTag: call.fromTag,
            to: "sip:\(call.digits)@\(domain)", callID: call.sipCallID, cseq: 1, transport: target.transport,
            localHostPort: localHostPort, localIP: transport.local.ip, contactUser: callerNumber, branch: newBranch(), sessionID: UInt64(call.id))
        call.lastInvite = invite
        return startTransaction(invite, owner: .callInvite(call.id), to: Endpoint(ip: target.ip, port: target.port),
                                transport: target.transport, call: call.id)
    }

    func callFailoverTimer(_ id: Int, _ attempt: Int, at: Int64) {
        calls[id]?.trunk?.failoverTimerFired(attempt: attempt, at: at, trunkContext)
    }

    func callResponse(_ id: Int, txn: Int, _ r: SIPMessage) {
        guard let call = calls[id], let trunk = call.trunk, trunk.inviteTxn == txn, let code = r.statusCode else { return }
        if (code == 180 || code == 183), call.alertedAt == nil { call.alertedAt = now }
        if (200..<300).contains(code), let invite = call.lastInvite { sendAck(call, for: r, of: invite) }
        trunk.response(r, trunkContext)
    }

    func callTransactionFailed(_ id: Int, txn: Int, timeout: Bool) {
        guard let call = calls[id], let trunk = call.trunk, trunk.inviteTxn == txn else { return }
        trunk.transactionFailed(timeout: timeout, trunkContext)
    }

    /// ACK for the 2xx, end to end to its Contact (the address the INVITE went to when the Contact
    /// names an address the scenario does not).
    func sendAck(_ call: LiveCall, for ok: SIPMessage, of invite: SIPMessage) {
        var (ip, port, tr) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
        if !transport.allowed(ip), let last = call.trunk?.currentTarget {
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
        call.trunk?.stop(trunkContext)
        guard let tid = call.inviteTxn, let t = txns[tid], case .invite(let x) = t.machine else {
            end(call, outcome: .abandoned, detail: "caller hung up (\(reason))", reason: .callerHungUp)
            return
        }
        call.inviteTxn = nil
        if x.mayCancel {
            let cancel = x.request.cancelRequest()
            step(.cancel, "CANCEL to \(t.remote) (branch \(x.branch))", call: id,
                 fields: [StepField("event", "sent"), StepField("target", t.remote.description), StepField("branch", x.branch)])
            t.owner = .cancelledInvite(id)
            startTransaction(cancel, owner: .callCancel(id), to: t.remote, transport: t.transport, call: id)
        } else {
            abandon(tid)
            end(call, outcome: .abandoned, detail: "caller hung up before any response (\(reason))", reason: .callerHungUp)
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
        end(call, outcome: .abandoned, detail: "\(ReasonPhrase.status(code)) after CANCEL", reason: .callerHungUp)
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
    /// `reason`: why a call that was not answered ended (the `cause` and fields of its `call-ended`
    /// step and the row's `end_cause`, as in simulation: docs/trace-schema.md); its prose unless
    /// `detail` says more (live mode's hang-ups name what the caller's side saw).
    func end(_ call: LiveCall, outcome: CallOutcome, detail: String? = nil, reason: EndReason? = nil) {
        guard calls.removeValue(forKey: call.id) != nil else { return }
        call.trunk?.stop(trunkContext)
        for t in [call.noAnswerTimer, call.hangupTimer] { if let t { timers.cancel(t) } }
        if let t = call.inviteTxn { abandon(t) }
        let ended = outcome != .inProgress
        if ended {
            step(.callEnded, by: pbx.name, "\(outcome.rawValue): \(detail ?? reason?.detail ?? "")", call: call.id,
                 fields: [StepField("outcome", outcome.rawValue)] + (reason?.fields ?? []))
        }
        var rec = CallRecord(callID: call.id, caller: call.caller, dialed: call.dialed, placedAtNs: call.placedAt,
                             endedAtNs: ended ? now : nil, outcome: outcome, route: call.route,
                             answeredBy: call.answeredAt != nil ? call.ack?.remote.ip : nil,
                             setupDelayNs: call.answeredAt.map { $0 - call.placedAt }, sipTargets: call.sipTargets,
                             sipAttempts: call.sipAttempts, rerouted: call.rerouted, finalCode: call.finalCode, pbx: pbx.name,
                             cardState: call.cardStateAtDial)
        rec.pddNs = (call.alertedAt ?? call.answeredAt).map { $0 - call.placedAt }
        rec.releasedBy = call.answeredAt != nil ? (call.releasedBy ?? "caller") : nil
        rec.endCause = ended && outcome != .answered ? reason?.cause : nil
        sink.record(.callEnded(rec))
        finished.append(rec)
    }
}

/// Live mode as the context of its calls' trunk nodes (`TrunkCall`, the node the simulated card
/// runs): wall-clock timers, real INVITE transactions, the live resolver, the card's blocklist and
/// fail-back; a reroute is recorded as the decision.
final class LiveTrunkContext: TrunkCallContext {
    unowned let card: LiveCard
    init(_ card: LiveCard) { self.card = card }
    var actionLists = ActionListPool<CallRouter.Action>(capacity: CallRouter.Action.listCapacity)
    var nowNs: Int64 { card.now }
    func isBlocked(_ ip: String, call: TrunkCall) -> Bool { card.health.isBlocked(ip, now: card.now) }
    func isLive(_ call: TrunkCall) -> Bool { card.calls[call.id] != nil }
    func resolve(name: String, port: Int?, for call: TrunkCall) {
        card.stub.resolve(name: name, port: port, transport: card.card.transport, for: .call(call.id), call: call.id, card.resolverContext)
    }
    func sendInvite(_ call: TrunkCall, to target: RouteTarget) -> Int { card.sendInvite(card.calls[call.id]!, to: target) }
    func scheduleFailoverTimer(_ call: TrunkCall, attempt: Int, at ns: Int64) -> EventID {
        card.timers.push(.callFailover(call: call.id, attempt: attempt), at: SimTime(ns: ns))
    }
    func cancel(_ id: EventID) { card.timers.cancel(id) }
    func abandonTransaction(_ id: Int) { card.abandon(id) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: TrunkCall, _ fields: @autoclosure () -> [StepField]) {
        card.step(kind, detail(), call: call.id, fields: fields())
    }
    func block(_ ip: String, until ns: Int64, call: TrunkCall) { card.addToBlocklist(ip, until: ns, call: call.id) }
    func alive(_ call: TrunkCall, target: RouteTarget) {
        guard let until = card.health.liveAnswer(from: target, attempt: call.attempts, now: card.now) else { return }
        card.step(.failover, "fail-back: new calls start at \(target.hostPort) until \(SimTime(ns: until))", call: call.id,
             fields: [StepField("failback", "duration"), StepField("target", target.hostPort), StepField("until_ns", until)])
    }
    func reroute(_ call: TrunkCall, reason: CallRouter.RerouteReason) { if let c = card.calls[call.id] { card.rerouteDecided(c, reason: reason.description) } }
    func connected(_ call: TrunkCall, target: RouteTarget) {
        guard let c = card.calls[call.id] else { return }
        // Fail-back `dns-ttl` (as PBXState.noteConnected): new calls start here while the record lasts.
        if card.health.failback == .dnsTTL, case .dns = target.origin,
           let until = card.health.connected(to: target, attempt: call.attempts, recordExpires: card.stub.cache.recordExpiry(of: target)) {
            card.step(.failover, "fail-back: new calls start at \(target.hostPort) until the DNS record expires at \(SimTime(ns: until))", call: call.id,
                 fields: [StepField("failback", "dns-ttl"), StepField("target", target.hostPort), StepField("until_ns", until)])
        }
        card.connected(c)
    }
    func finished(_ call: TrunkCall, outcome: CallOutcome, code: Int) {
        guard let c = card.calls[call.id] else { return }
        c.finalCode = code
        card.end(c, outcome: outcome, reason: .sipFinal(code: code, policy: card.card.reroutePolicy.rawValue))
    }
}
