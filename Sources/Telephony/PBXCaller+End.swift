import SimCore
import SIP
import Routing
import Trace

extension PBXState {
    // MARK: - Ending a call this PBX placed

    /// The caller hangs up an answered call (its holding time is over): BYE over SIP, else the
    /// call ends at once.
    func hangup(_ call: Call, _ ctx: PBXCallerContext) {
        call.hangupEvent = nil
        ctx.record(.callEnded, "\(name)/\(call.callerExt)", "caller hangs up", call: call.id, [StepField("side", "caller"), StepField("event", "hangup")])
        if call.route == .sip, let invite = call.lastInvite, let ok = call.dialog2xx, card != nil || call.viaGateway != nil {
            let settings = sipSettings(call)
            let (to, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
            let bye = invite.inDialogRequest("BYE", for: ok, branch: ctx.newBranch(), cseq: 2, transport: transport,
                                             localHostPort: localHostPort)
            call.byeTxn = ctx.startTransaction(bye, branch: nil, owner: .callBye(call: call.id), to: to, port: port, transport: transport,
                                               timers: settings.timers, call: call.id, actor: settings.actor)
            finish(call, outcome: .answered, keepOpen: true, ctx)
        } else {
            finish(call, outcome: .answered, keepOpen: false, ctx)
        }
    }

    /// The caller's BYE transaction ended (answered, timed out or failed): the call is forgotten.
    func byeFinished(_ call: Call, _ ctx: PBXCallerContext) {
        call.byeTxn = nil
        forget(call, ctx)
    }

    /// The no-answer timer: the caller gives up an unanswered call.
    func callerGivesUp(_ call: Call, _ ctx: PBXCallerContext) {
        call.noAnswerTimer = nil
        if call.answeredAt != nil { return }
        ctx.record(.callEnded, "\(name)/\(call.callerExt)", "no answer after \(ctx.noAnswerTimeout.durationString): caller gives up", call: call.id,
                   [StepField("side", "caller"), StepField("event", "no-answer-timeout"), StepField("timeout_ns", ctx.noAnswerTimeout.ns)])
        cancelPendingInvite(call, ctx)
        end(call, outcome: .noAnswer, reason: .notAnswered, ctx)
    }

    /// The caller gives up before a final response (hangup, no-answer timer): the INVITE is
    /// CANCELled (RFC 3261 §9.1) at once if a provisional response has arrived, else as soon as
    /// one does; the INVITE transaction runs on under `.cancelledInvite` until its final response
    /// (the 487 it ACKs, or a 2xx that crossed the CANCEL, which is ACKed and hung up with BYE).
    func cancelPendingInvite(_ call: Call, _ ctx: PBXCallerContext) {
        guard let t = call.inviteTxn, let tx = ctx.transaction(t), case .invite(let x) = tx.machine else { return }
        call.inviteTxn = nil
        tx.owner = .cancelledInvite(call: call.id, pbx: index, cancelSent: false)
        if x.mayCancel {
            sendCancel(txn: t, ctx)
        } else {
            ctx.record(.cancel, sipSettings(call).actor, "CANCEL waits for a provisional response to the INVITE (RFC 3261 §9.1)", call: call.id,
                       [StepField("event", "waits-for-provisional")])
        }
    }

    /// Sends the CANCEL of a pending INVITE: same Request-URI, Call-ID, From, To, top Via branch
    /// and CSeq number as the INVITE, method CANCEL, no body (§9.1), to where the INVITE went.
    func sendCancel(txn t: Int, _ ctx: PBXCallerContext) {
        guard let tx = ctx.transaction(t), case .invite(let x) = tx.machine, case .cancelledInvite(let id, let pi, false) = tx.owner else { return }
        tx.owner = .cancelledInvite(call: id, pbx: pi, cancelSent: true) // one CANCEL per INVITE
        let cancel = x.request.cancelRequest()
        ctx.record(.cancel, tx.actor, "CANCEL to \(hostPort(tx.remoteIP, tx.remotePort)) (branch \(x.branch))", call: id,
                   [StepField("event", "sent"), StepField("target", hostPort(tx.remoteIP, tx.remotePort)), StepField("branch", x.branch)])
        _ = ctx.startTransaction(cancel, branch: nil, owner: .callCancel(call: id), to: tx.remoteIP, port: tx.remotePort,
                                 transport: x.transport, timers: x.timers, call: id, actor: tx.actor)
    }

    /// A response to the INVITE of a call the caller has given up (the call may be forgotten).
    func cancelledInviteResponse(txn t: Int, call id: Int, _ r: SIPMessage, _ ctx: PBXCallerContext) {
        guard let code = r.statusCode, let tx = ctx.transaction(t), case .invite(let x) = tx.machine else { return }
        if code < 200 {
            // The first provisional makes the waiting CANCEL possible (§9.1).
            if x.mayCancel { sendCancel(txn: t, ctx) } // sends only the first time
            return
        }
        guard code < 300 else { return } // 487 (or any final): the transaction ACKs it and runs Timer D
        // The far end answered before the CANCEL reached it (§15): ACK the 2xx, then BYE.
        let (_, to, port, transport) = sendAck(for: r, of: x.request, call: id, ctx)
        let bye = x.request.inDialogRequest("BYE", for: r, branch: ctx.newBranch(), cseq: (x.request.cseq?.number ?? 1) + 1, transport: transport,
                                            localHostPort: localHostPort)
        ctx.record(.cancel, tx.actor, "2xx crossed the CANCEL: ACK, then BYE to release the far end (RFC 3261 §15)", call: id, [StepField("event", "2xx-crossed")])
        _ = ctx.startTransaction(bye, branch: nil, owner: .callCancel(call: id), to: to, port: port, transport: transport,
                                 timers: x.timers, call: id, actor: tx.actor)
    }

    /// The far end of an answered call hung up: the caller's side ends it.
    func farEndReleased(_ call: Call, _ ctx: PBXCallerContext) {
        call.releasedBy = "callee"
        finish(call, outcome: .answered, keepOpen: false, ctx)
    }

    /// Ends a call that was not answered.
    func end(_ call: Call, outcome: CallOutcome, reason: EndReason, _ ctx: PBXCallerContext) {
        call.endCause = reason.cause
        ctx.record(.callEnded, name, "\(outcome): \(reason.detail)", call: call.id,
                   [StepField("outcome", outcome.rawValue)] + reason.fields)
        finish(call, outcome: outcome, keepOpen: false, ctx)
    }

    /// Releases everything the call holds and records it.
    func finish(_ call: Call, outcome: CallOutcome, keepOpen: Bool, _ ctx: PBXCallerContext) {
        guard !call.recorded else { return }
        call.recorded = true
        call.outcome = outcome
        call.endedAt = ctx.now
        call.phase = .ended
        call.trunk?.stop(ctx.trunkContext)
        if let t = call.noAnswerTimer { ctx.cancel(t) }
        if let t = call.hangupEvent { ctx.cancel(t) }
        if let t = call.inviteTxn { ctx.abandonTransaction(t); call.inviteTxn = nil }
        if let c = call.originChannel {
            release(group: c.group, channel: c.channel, now: ctx.now)
            call.originChannel = nil
            ctx.record(.trunkReleased, name, "trunk group \(groups[c.group].config.id) channel \(c.channel + 1) released (\(trunkInUse)/\(trunkChannels) in use)", call: call.id,
                       [StepField("direction", "outgoing"), StepField("trunk_group", groups[c.group].config.id), StepField("channel", c.channel + 1),
                        StepField("in_use", trunkInUse), StepField("channels", trunkChannels)])
        }
        // The public network releases its part (the far PBX's channel and extension, a subscriber
        // line); an internal call's extension is this PBX's own.
        ctx.publicRelease(call: call.id)
        if call.ringsHere { releaseCallee(call: call.id, quietly: false, ctx.calleeContext) }
        if call.usesSIPChannel { releaseSIPChannel(call) }
        releaseGateway(call)
        let e = call.callerState
        switch e.activity {
        case .dialing(let c) where c == call.id, .talking(let c) where c == call.id: e.activity = .idle
        default: break
        }
        let full = callRecord(call, outcome: outcome, ended: true, ctx)
        stats.record(outcome: outcome, route: call.route, rerouted: call.rerouted, pdd: full.pddNs.map { SimTime(ns: $0) })
        ctx.callRecorded(full)
        if !keepOpen {
            forget(call, ctx)
        }
    }

    /// The `call` row of a call: ended now, or still in progress (no end time).
    func callRecord(_ call: Call, outcome: CallOutcome, ended: Bool, _ ctx: PBXCallerContext) -> CallRecord {
        let setup: Int64? = call.answeredAt.map { ($0 - call.placedAt).ns } ?? (outcome == .answered || !ended ? nil : (ctx.now - call.placedAt).ns)
        // The first sign of progress: ringing, else the answer (no arrays: one of these a call).
        let progress = switch (call.alertedAt, call.answeredAt) {
        case let (a?, b?): min(a, b)
        case let (a, b): a ?? b
        }
        var rec = CallRecord(callID: call.id, caller: concat(name, "/", call.callerExt), dialed: call.dialed,
                             placedAtNs: call.placedAt.ns, endedAtNs: ended ? ctx.now.ns : nil, outcome: outcome, route: call.route,
                             answeredBy: outcome == .answered ? ctx.answeredParty(of: call.id) : nil, setupDelayNs: setup, sipTargets: call.sipTargets,
                             sipAttempts: call.sipAttempts, rerouted: call.rerouted, finalCode: call.finalCode,
                             pbx: name, cardState: call.cardStateAtDial)
        rec.pddNs = progress.map { ($0 - call.placedAt).ns }
        if outcome == .answered && ended { rec.releasedBy = call.releasedBy ?? "caller" }
        if outcome != .answered && ended { rec.endCause = call.endCause }
        if call.trunkGroup != nil {
            rec.carrier = call.carrier
            rec.trunkGroup = call.trunkGroup
            rec.sentDigits = call.sentDigits
        }
        return rec
    }

    /// Records the row of a call still in progress, with what is known so far (the run stops).
    func recordInProgress(_ call: Call, _ ctx: PBXCallerContext) {
        guard !call.recorded else { return }
        call.recorded = true
        ctx.callRecorded(callRecord(call, outcome: call.answeredAt != nil ? .answered : .inProgress, ended: false, ctx))
    }

    /// The call leaves the PBX's table of calls in progress.
    func forget(_ call: Call, _ ctx: PBXCallerContext) {
        calls[call.id] = nil
        call.trunk?.ended = true
        callBySIPCallID[StringKey(call.sipCallID)] = nil
        ctx.forgotten(call: call.id)
    }

    // MARK: - Fail-back (the card's target health)

    /// `failback: duration D` (domain §3.4, checklist 26; Yealink's semantics): the window starts
    /// at the failover that ended with a live answer from a later target, that is any response
    /// but 408, 503 or a transport error (a 486 through the secondary proves it alive), not only
    /// when a call connects there.
    func noteAlive(target: RouteTarget, attempt: Int, call: Int, _ ctx: PBXCallerContext) {
        guard let card, let until = card.health.liveAnswer(from: target, attempt: attempt, now: ctx.now.ns) else { return }
        ctx.record(.failover, cardActor, "fail-back: new calls start at \(target.hostPort) until \(SimTime(ns: until))", call: call,
                   [StepField("failback", "duration"), StepField("target", target.hostPort), StepField("until_ns", until)])
    }

    /// Fail-back (domain §3.4): after a call connected somewhere other than its first target,
    /// the DNS-TTL policy makes new calls start there while the record lasts.
    func noteConnected(target: RouteTarget, attempt: Int, call: Int, _ ctx: PBXCallerContext) {
        guard let card, card.health.failback == .dnsTTL else { return }
        guard let until = card.health.connected(to: target, attempt: attempt, recordExpires: resolver.recordExpiry(of: target)) else { return }
        ctx.record(.failover, cardActor, "fail-back: new calls start at \(target.hostPort) until the DNS record expires at \(SimTime(ns: until))", call: call,
                   [StepField("failback", "dns-ttl"), StepField("target", target.hostPort), StepField("until_ns", until)])
    }
}
