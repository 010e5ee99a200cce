import SimCore
import SIP
import Routing
import Trace

extension World {
    // MARK: - Ending

    func hangup(call id: Int) {
        guard let call = calls[id] else { return }
        call.hangupEvent = nil
        let p = pbxs[call.pbx]
        step(.callEnded, "\(p.name)/\(call.callerExt)", "caller hangs up", call: id, fields: [StepField("side", "caller"), StepField("event", "hangup")])
        if call.route == .sip, let invite = call.lastInvite, let ok = call.dialog2xx, p.card != nil || call.viaGateway != nil {
            let settings = sipSettings(call)
            let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
            let bye = invite.inDialogRequest("BYE", for: ok, branch: newBranch(), cseq: 2, transport: transport,
                                             localHostPort: hostPort(p.ip, 5060))
            call.byeTxn = startTransaction(bye, owner: .callBye(call: id), from: p.ip, to: ip, port: port,
                                           transport: transport, timers: settings.timers, call: id,
                                           actor: settings.actor)
            finish(call, outcome: .answered, keepOpen: true)
        } else {
            finish(call, outcome: .answered, keepOpen: false)
        }
    }

    func byeFinished(_ id: Int) {
        guard let call = calls[id] else { return }
        call.byeTxn = nil
        forget(call)
    }

    func callerGivesUp(_ id: Int) {
        guard let call = calls[id] else { return }
        call.noAnswerTimer = nil
        if call.answeredAt != nil { return }
        step(.callEnded, "\(pbxs[call.pbx].name)/\(call.callerExt)", "no answer after \(config.defaults.noAnswerTimeout.durationString): caller gives up", call: id,
             fields: [StepField("side", "caller"), StepField("event", "no-answer-timeout"), StepField("timeout_ns", config.defaults.noAnswerTimeout.ns)])
        cancelPendingInvite(call)
        end(call, outcome: .noAnswer, detail: "not answered")
    }

    /// The caller gives up before a final response (hangup, no-answer timer): the INVITE is
    /// CANCELled (RFC 3261 §9.1) at once if a provisional response has arrived, else as soon as
    /// one does; the INVITE transaction runs on under `.cancelledInvite` until its final response
    /// (the 487 it ACKs, or a 2xx that crossed the CANCEL, which is ACKed and hung up with BYE).
    func cancelPendingInvite(_ call: Call) {
        guard let t = call.inviteTxn, let tx = transactions[t], case .invite(let x) = tx.machine else { return }
        call.inviteTxn = nil
        tx.owner = .cancelledInvite(call: call.id, pbx: call.pbx, cancelSent: false)
        let actor = sipSettings(call).actor
        if x.mayCancel {
            sendCancel(txn: t)
        } else {
            step(.cancel, actor, "CANCEL waits for a provisional response to the INVITE (RFC 3261 §9.1)", call: call.id, fields: [StepField("event", "waits-for-provisional")])
        }
    }

    /// Sends the CANCEL of a pending INVITE: same Request-URI, Call-ID, From, To, top Via branch
    /// and CSeq number as the INVITE, method CANCEL, no body (§9.1), to where the INVITE went.
    func sendCancel(txn t: Int) {
        guard let tx = transactions[t], case .invite(let x) = tx.machine, case .cancelledInvite(let id, let pi, false) = tx.owner else { return }
        tx.owner = .cancelledInvite(call: id, pbx: pi, cancelSent: true) // one CANCEL per INVITE
        let cancel = x.request.cancelRequest()
        step(.cancel, tx.actor, "CANCEL to \(hostPort(tx.remoteIP, tx.remotePort)) (branch \(x.branch))", call: id,
             fields: [StepField("event", "sent"), StepField("target", hostPort(tx.remoteIP, tx.remotePort)), StepField("branch", x.branch)])
        startTransaction(cancel, owner: .callCancel(call: id), from: tx.localIP, to: tx.remoteIP, port: tx.remotePort,
                         transport: x.transport, timers: x.timers, call: id, actor: tx.actor)
    }

    /// A response to the INVITE of a call the caller has given up.
    func cancelledInviteResponse(txn t: Int, call id: Int, pbx pi: Int, _ r: SIPMessage) {
        guard let code = r.statusCode, let tx = transactions[t], case .invite(let x) = tx.machine else { return }
        if code < 200 {
            // The first provisional makes the waiting CANCEL possible (§9.1).
            if x.mayCancel { sendCancel(txn: t) } // sends only the first time
            return
        }
        guard code < 300 else { return } // 487 (or any final): the transaction ACKs it and runs Timer D
        // The far end answered before the CANCEL reached it (§15): ACK the 2xx, then BYE.
        let p = pbxs[pi]
        let (_, ip, port, transport) = sendAck(for: r, of: x.request, pbx: pi, call: id)
        let bye = x.request.inDialogRequest("BYE", for: r, branch: newBranch(), cseq: (x.request.cseq?.number ?? 1) + 1, transport: transport,
                                            localHostPort: hostPort(p.ip, 5060))
        step(.cancel, tx.actor, "2xx crossed the CANCEL: ACK, then BYE to release the far end (RFC 3261 §15)", call: id, fields: [StepField("event", "2xx-crossed")])
        startTransaction(bye, owner: .callCancel(call: id), from: p.ip, to: ip, port: port, transport: transport,
                         timers: x.timers, call: id, actor: tx.actor)
    }

    /// Ends a call that was not answered.
    func end(_ call: Call, outcome: CallOutcome, detail: String) {
        step(.callEnded, pbxs[call.pbx].name, "\(outcome): \(detail)", call: call.id, fields: [StepField("outcome", outcome.rawValue)])
        finish(call, outcome: outcome, keepOpen: false)
    }

    /// Releases everything the call holds and records it.
    func finish(_ call: Call, outcome: CallOutcome, keepOpen: Bool) {
        guard !call.recorded else { return }
        call.recorded = true
        call.outcome = outcome
        call.endedAt = sim.now
        call.phase = .ended
        call.trunk?.stop(trunkContext)
        if let t = call.noAnswerTimer { sim.cancel(t) }
        if let t = call.hangupEvent { sim.cancel(t) }
        if let t = call.inviteTxn { abandonTransaction(t); call.inviteTxn = nil }
        let p = pbxs[call.pbx]
        if let c = call.originChannel {
            p.release(group: c.group, channel: c.channel, now: sim.now)
            call.originChannel = nil
            step(.trunkReleased, p.name, "trunk group \(p.groups[c.group].config.id) channel \(c.channel + 1) released (\(p.trunkInUse)/\(p.trunkChannels) in use)", call: call.id,
                 fields: [StepField("direction", "outgoing"), StepField("trunk_group", p.groups[c.group].config.id), StepField("channel", c.channel + 1),
                          StepField("in_use", p.trunkInUse), StepField("channels", p.trunkChannels)])
        }
        // The public network releases its part (the far PBX's channel and extension, a subscriber
        // line, a gateway's leg); an internal call's extension is this PBX's own.
        publicNetwork.release(call: call.id, publicNetworkContext)
        if call.ringsHere { p.releaseCallee(call: call.id, quietly: false, calleeContexts[call.pbx]) }
        if call.usesSIPChannel { releaseSIPChannel(call) }
        releaseGateway(call)
        if let e = p.extensions[call.callerExt] {
            switch e.activity {
            case .dialing(let c) where c == call.id, .talking(let c) where c == call.id: e.activity = .idle
            default: break
            }
        }
        let full = callRecord(call, outcome: outcome, ended: true)
        p.stats.record(outcome: outcome, route: call.route, rerouted: call.rerouted, pdd: full.pddNs.map { SimTime(ns: $0) })
        sink.record(.callEnded(full))
        onCallEnded?(full)
        if !keepOpen {
            forget(call)
        }
    }
}

extension World {
    /// `failback: duration D` (domain §3.4, checklist 26; Yealink's semantics): the window starts
    /// at the failover that ended with a live answer from a later target, that is any response
    /// but 408, 503 or a transport error (a 486 through the secondary proves it alive), not only
    /// when a call connects there.
    func noteAlive(pbx pi: Int, target: RouteTarget, attempt: Int, call: Int) {
        guard let card = pbxs[pi].card, let until = card.health.liveAnswer(from: target, attempt: attempt, now: sim.now.ns) else { return }
        step(.failover, "\(pbxs[pi].name)/V-SIPGW", "fail-back: new calls start at \(target.hostPort) until \(SimTime(ns: until))", call: call,
             fields: [StepField("failback", "duration"), StepField("target", target.hostPort), StepField("until_ns", until)])
    }

    /// Fail-back (domain §3.4): after a call connected somewhere other than its first target,
    /// the DNS-TTL policy makes new calls start there while the record lasts.
    func noteConnected(pbx pi: Int, target: RouteTarget, attempt: Int, call: Int) {
        guard let card = pbxs[pi].card, card.health.failback == .dnsTTL else { return }
        var expires: Int64?
        if case .dns(let name, _) = target.origin {
            expires = (pbxs[pi].resolver.entries["SRV \(target.transport.srvPrefix)\(name)"] ?? pbxs[pi].resolver.entries["A \(name)"])?.expires.ns
        }
        guard let until = card.health.connected(to: target, attempt: attempt, recordExpires: expires) else { return }
        step(.failover, "\(pbxs[pi].name)/V-SIPGW", "fail-back: new calls start at \(target.hostPort) until the DNS record expires at \(SimTime(ns: until))", call: call,
             fields: [StepField("failback", "dns-ttl"), StepField("target", target.hostPort), StepField("until_ns", until)])
    }

    /// The typed cause of a failover: `cause` (no-response, timeout, transport-error, 503) and its numbers.
    public static func causeFields(_ r: FailoverReason) -> [StepField] {
        switch r {
        case .noResponse(let t): return [StepField("cause", "no-response"), StepField("timeout_ns", t)]
        case .transactionTimeout: return [StepField("cause", "timeout"), StepField("code", 408)]
        case .transportError: return [StepField("cause", "transport-error"), StepField("code", 503)]
        case .serviceUnavailable(let ra): return [StepField("cause", "503"), StepField("code", 503)] + (ra.map { [StepField("retry_after_s", $0)] } ?? [])
        }
    }

    /// The typed fields of a SIP target (attempt-started steps): where and how, and where it came from.
    public static func targetFields(_ t: RouteTarget) -> [StepField] {
        var f = [StepField("target", t.hostPort), StepField("ip", t.ip), StepField("port", t.port), StepField("transport", t.transport.rawValue)]
        switch t.origin {
        case .configured: f.append(StepField("origin", "configured"))
        case .failover: f.append(StepField("origin", "failover"))
        case .preferred: f.append(StepField("origin", "preferred"))
        case .dns(let name, let host): f += [StepField("origin", "dns"), StepField("dns_name", name), StepField("dns_host", host)]
        }
        return f
    }

    /// The `call` row of a call: ended now, or still in progress (no end time).
    func callRecord(_ call: Call, outcome: CallOutcome, ended: Bool) -> CallRecord {
        let p = pbxs[call.pbx]
        let setup: Int64? = call.answeredAt.map { ($0 - call.placedAt).ns } ?? (outcome == .answered || !ended ? nil : (sim.now - call.placedAt).ns)
        let progress = [call.alertedAt, call.answeredAt].compactMap { $0 }.min()
        var rec = CallRecord(callID: call.id, caller: "\(p.name)/\(call.callerExt)", dialed: call.dialed,
                             placedAtNs: call.placedAt.ns, endedAtNs: ended ? sim.now.ns : nil, outcome: outcome, route: call.route,
                             answeredBy: outcome == .answered ? answeredParty[call.id] : nil, setupDelayNs: setup, sipTargets: call.sipTargets,
                             sipAttempts: call.sipAttempts, rerouted: call.rerouted, finalCode: call.finalCode,
                             pbx: p.name, cardState: call.cardStateAtDial)
        rec.pddNs = progress.map { ($0 - call.placedAt).ns }
        if outcome == .answered && ended { rec.releasedBy = call.releasedBy ?? "caller" }
        if call.trunkGroup != nil {
            rec.carrier = call.carrier
            rec.trunkGroup = call.trunkGroup
            rec.sentDigits = call.sentDigits
        }
        return rec
    }

    /// Records a `call` row for every call still in progress, with what is known so far: at the
    /// end of a run that stops at `until` or at the time limit, when it is interrupted, and at the
    /// REPL's `quit`. An answered call is `answered` with its route; any other is `in-progress`;
    /// `ended_at` is NULL. The run summary counts only calls that ended.
    public func recordCallsInProgress() {
        for id in calls.keys.sorted() {
            guard let call = calls[id], !call.recorded else { continue }
            call.recorded = true
            let rec = callRecord(call, outcome: call.answeredAt != nil ? .answered : .inProgress, ended: false)
            sink.record(.callEnded(rec))
            onCallEnded?(rec)
        }
    }
}

extension World {
    /// The call leaves the table of calls in progress; a carrier server that terminated it on the
    /// public network forgets its leg at the same moment (after the caller's BYE has reached it).
    func forget(_ call: Call) {
        calls[call.id] = nil
        sipCallToCall[call.sipCallID] = nil
        answeredParty[call.id] = nil
        if let s = gatewayLegs.removeValue(forKey: call.id) { sipServers[s].callEnded(call.id) }
    }
}
