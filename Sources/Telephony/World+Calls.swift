import SimCore
import SIP
import Routing
import Trace

extension World {
    // MARK: - Placing a call

    /// Finds an extension; `pbx` nil means the number must be unique across PBXs.
    public func findExtension(_ ref: ExtensionRef) -> (pbx: Int, ext: ExtensionState)? {
        if let name = ref.pbx {
            guard let pi = pbxs.firstIndex(where: { $0.name == name }), let e = pbxs[pi].extensions[ref.number] else { return nil }
            return (pi, e)
        }
        let matches = pbxs.indices.compactMap { i in pbxs[i].extensions[ref.number].map { (i, $0) } }
        return matches.count == 1 ? matches[0] : nil
    }

    func dial(_ ref: ExtensionRef, number: String, hold: SimTime?) {
        guard let (pi, ext) = findExtension(ref) else {
            commandErrors.append("dial: no extension \(ref)")
            step(.command, "scenario", "dial \(ref) \(number): no such extension")
            return
        }
        callCount += 1
        let id = callCount
        let p = pbxs[pi]
        let call = Call(id: id, pbx: pi, callerExt: ext.number, dialed: number, digits: phoneDigits(number),
                        placedAt: sim.now, hold: hold ?? config.defaults.hold, rng: streams.stream("call-\(id)"),
                        sipCallID: "\(id)-\(String(nextID(), radix: 16))@\(p.config.host)", fromTag: newTag())
        calls[id] = call
        sipCallToCall[call.sipCallID] = id
        let caller = "\(p.name)/\(ext.number)"
        step(.callPlaced, caller, "dials \(number)", call: id)
        guard ext.activity == .idle else {
            end(call, outcome: "failed", detail: "caller \(caller) is already in a call")
            return
        }
        ext.activity = .dialing(call: id)
        call.noAnswerTimer = sim.schedule(.noAnswer(call: id), after: config.defaults.noAnswerTimeout)
        call.cardStateAtDial = p.card?.state.rawValue
        route(call)
    }

    /// Chooses the first route of a call at its PBX: a local extension, the SIP trunk, or the
    /// public trunk.
    func route(_ call: Call) {
        let p = pbxs[call.pbx]
        let actor = p.name
        if let local = p.extensions[call.digits] {
            step(.routeSelected, actor, "internal call to extension \(local.number)", call: call.id)
            call.route = nil
            ringLocal(call, pbx: call.pbx, ext: local.number, delay: .zero)
            return
        }
        if let tie = p.config.tieRoutes.first(where: { call.digits.hasPrefix($0.leading) }),
           let group = p.config.gatewayGroups.first(where: { $0.id == tie.group }) {
            routeTIE(call, group: group)
            return
        }
        // An outside call: the access code when one is configured, else the trunk prefix 0. A
        // private number in the Quick Dial map goes out too (over SIP first when there is a card).
        let external: Bool
        if let ac = p.config.accessCode { external = call.digits.hasPrefix(ac) && call.digits.count > ac.count }
        else { external = call.digits.first == "0" }
        let quickDial = !external && QuickDial.reroute(call.digits, map: p.config.quickDial) != nil
        guard external || quickDial else {
            step(.routeSelected, actor, "\(call.digits) is not an extension or an outside number: unallocated", call: call.id)
            end(call, outcome: "failed", detail: "unallocated number")
            return
        }
        guard let card = p.card else {
            step(.routeSelected, actor, "no V-SIPGW card: public trunk", call: call.id)
            startPublic(call)
            return
        }
        if !network.isUp(p.ip) {
            setCardState(pbx: call.pbx, .fault, reason: "PBX network unreachable")
        }
        if card.state != .ins {
            step(.routeSelected, actor, "V-SIPGW is \(card.state.rawValue): public trunk at once", call: call.id)
            startPublic(call)
            return
        }
        if let limit = card.config.channels, card.channelsInUse >= limit {
            step(.routeSelected, actor, "V-SIPGW all \(limit) SIP channels busy: overflow to the public trunk", call: call.id)
            startPublic(call)
            return
        }
        card.channelsInUse += 1
        call.usesSIPChannel = true
        step(.routeSelected, actor, "SIP trunk (V-SIPGW, \(card.config.transport.rawValue))", call: call.id)
        call.route = "sip"
        call.phase = .sipTrying
        var router = CallRouter(config: .init(inviteTimeout: card.config.inviteTimeout?.ns,
                                              reroutePolicy: card.config.reroutePolicy),
                                sequence: inviteSequence(pbx: call.pbx))
        let actions = router.start(now: sim.now.ns, isBlocked: blockCheck(call.pbx))
        call.router = router
        performRouter(call, actions)
    }

    func releaseSIPChannel(_ call: Call) {
        guard call.usesSIPChannel, let card = pbxs[call.pbx].card else { return }
        card.channelsInUse -= 1
        call.usesSIPChannel = false
    }

    /// The INVITE failover order for a card: SIP server, its failover address, then the DNS
    /// targets of the registrar (or SIP server) name.
    func inviteSequence(pbx pi: Int) -> FailoverSequence {
        let card = pbxs[pi].card!
        let c = card.config
        var stages: [FailoverSequence.Stage] = []
        if c.callsFollowRegistration, let reg = card.registration.registeredWith {
            stages.append(.address(reg.ip, port: reg.port, origin: .preferred))
        }
        if let pref = card.preferred, pref.until > sim.now {
            stages.append(.address(pref.target.ip, port: pref.target.port, origin: .preferred))
        }
        switch c.sipServer {
        case .ip(let ip, let port): stages.append(.address(ip, port: port, origin: .configured))
        case .name(let n, let port): stages.append(.firstOf(name: n, port: port))
        }
        if let f = c.sipServerFailover { stages.append(.address(f, port: nil, origin: .failover)) }
        if let (n, port) = c.dnsName { stages.append(.allOf(name: n, port: port)) }
        return FailoverSequence(stages: stages, transport: c.transport)
    }

    func blockCheck(_ pi: Int) -> (String) -> Bool {
        let bl = pbxs[pi].card?.blocklist ?? [:]
        let now = sim.now
        return { ip in (bl[ip].map { $0 > now }) ?? false }
    }

    func performRouter(_ call: Call, _ actions: [CallRouter.Action]) {
        let p = pbxs[call.pbx]
        let actor = sipSettings(call).actor
        for a in actions {
            guard calls[call.id] != nil else { return }
            switch a {
            case .resolve(let name, let port):
                resolve(pbx: call.pbx, name: name, port: port, transport: sipSettings(call).transport, for: .call(call.id), call: call.id)
            case .attempt(let target, let n):
                call.sipAttempts = n
                if !call.sipTargets.contains(target.ip) { call.sipTargets.append(target.ip) }
                step(.attemptStarted, actor, "attempt \(n): INVITE to \(target.hostPort) (\(target.originLabel))", call: call.id,
                     fields: [StepField("attempt", n)] + World.targetFields(target))
                sendInvite(call, to: target)
            case .armFailoverTimer(let at):
                if let old = call.failoverTimer { sim.cancel(old) }
                call.failoverTimer = sim.schedule(.failoverTimer(call: call.id, attempt: call.sipAttempts), at: SimTime(ns: at))
            case .disarmFailoverTimer:
                if let old = call.failoverTimer { sim.cancel(old); call.failoverTimer = nil }
            case .abandonAttempt:
                if let t = call.inviteTxn { abandonTransaction(t); call.inviteTxn = nil }
            case .skipped(let what, let reason):
                step(.targetSkipped, actor, "\(what): \(reason)", call: call.id)
            case .failover(let from, let reason):
                step(.failover, actor, "leave \(from.hostPort): \(reason)", call: call.id,
                     fields: [StepField("from", from.hostPort), StepField("reason", reason.description)] + World.causeFields(reason))
            case .blocklist(let ip, let until):
                addToBlocklist(pbx: call.pbx, ip: ip, until: SimTime(ns: until), call: call.id)
            case .reroute(let reason):
                call.inviteTxn.map(abandonTransaction)
                call.inviteTxn = nil
                step(.reroute, p.name, "\(reason): reroute to the public trunk", call: call.id, fields: [StepField("reason", reason)])
                call.rerouted = true
                startPublic(call)
            case .connected(let target):
                call.route = "sip"
                step(.callAnswered, actor, "200 OK from \(target.hostPort)", call: call.id)
                noteConnected(pbx: call.pbx, target: target, attempt: call.sipAttempts, call: call.id)
                callConnected(call)
            case .finish(let outcome, let code):
                call.finalCode = code
                end(call, outcome: outcome, detail: "\(code) \(ReasonPhrase.for(code)) over SIP, no reroute (policy \(p.card?.config.reroutePolicy.rawValue ?? "failures"))")
            }
        }
    }

    /// SIP settings of a call: its PBX's V-SIPGW card, or RFC defaults for a TIE call over an IP
    /// gateway (addressed by the gateway's IP, caller ID = the extension).
    func sipSettings(_ call: Call) -> (transport: Transport, timers: TimerPolicy, domain: String, callerNumber: String, actor: String) {
        let p = pbxs[call.pbx]
        if let gw = call.viaGateway { return (.udp, .rfcDefault, gw.ip, call.callerExt, "\(p.name)/IP-GW") }
        let c = p.card!.config
        return (c.transport, c.timers, c.sipDomain, c.numbers.first ?? call.callerExt, "\(p.name)/V-SIPGW")
    }

    /// A private number of a TIE route: the lowest-numbered gateway of the group that is available
    /// (up, with a free channel) takes it; busy or unavailable gateways are passed over at once,
    /// without a timeout (Panasonic §4.3.2.1, checklist 27). No reply within the group's timeout
    /// ("about 4 seconds"), or no gateway at all: reroute to the public trunk (Quick Dial).
    func routeTIE(_ call: Call, group: GatewayGroupConfig) {
        let p = pbxs[call.pbx]
        let actor = "\(p.name)/IP-GW"
        for gw in group.gateways {
            if !network.isUp(gw.ip) {
                step(.targetSkipped, actor, "gateway \(gw.name) (\(gw.ip)) unavailable: next device", call: call.id)
                continue
            }
            if p.gatewayInUse[gw.name, default: 0] >= gw.channels {
                step(.targetSkipped, actor, "gateway \(gw.name) busy (\(gw.channels) channels): next device", call: call.id)
                continue
            }
            p.gatewayInUse[gw.name, default: 0] += 1
            call.viaGateway = (gw.name, gw.ip)
            call.route = "sip"
            call.phase = .sipTrying
            step(.routeSelected, actor, "TIE call over gateway group \(group.id): gateway \(gw.name) (\(gw.ip))", call: call.id)
            var router = CallRouter(config: .init(inviteTimeout: group.timeout.ns, reroutePolicy: .failures),
                                    sequence: FailoverSequence(stages: [.address(gw.ip, port: nil, origin: .configured)]))
            let actions = router.start(now: sim.now.ns, isBlocked: { _ in false })
            call.router = router
            performRouter(call, actions)
            return
        }
        step(.reroute, p.name, "no gateway of group \(group.id) available: reroute to the public trunk", call: call.id,
             fields: [StepField("reason", "no gateway of group \(group.id) available")])
        call.rerouted = true
        startPublic(call)
    }

    func releaseGateway(_ call: Call) {
        guard let gw = call.viaGateway else { return }
        pbxs[call.pbx].gatewayInUse[gw.name, default: 1] -= 1
        call.viaGateway = nil
    }

    func sendInvite(_ call: Call, to target: RouteTarget) {
        let p = pbxs[call.pbx]
        let settings = sipSettings(call)
        let domain = settings.domain
        let callerNumber = settings.callerNumber
        let localHP = hostPort(p.ip, 5060)
        let invite = SIPMessage.invite(
            requestURI: "sip:\(call.digits)@\(domain)", from: "sip:\(callerNumber)@\(domain)", fromTag: call.fromTag,
            to: "sip:\(call.digits)@\(domain)", callID: call.sipCallID, cseq: 1, transport: target.transport,
            localHostPort: localHP, localIP: p.ip, contactUser: callerNumber, branch: newBranch(), sessionID: UInt64(call.id))
        call.lastInvite = invite
        call.inviteTxn = startTransaction(invite, owner: .callInvite(call: call.id), from: p.ip, to: target.ip,
                                          port: target.port, transport: target.transport, timers: settings.timers,
                                          call: call.id, actor: settings.actor)
    }

    func callFailoverTimer(_ id: Int, _ attempt: Int) {
        guard let call = calls[id], call.sipAttempts == attempt, var r = call.router else { return }
        call.failoverTimer = nil
        step(.timerFired, sipSettings(call).actor, "INVITE failover timer (attempt \(attempt))", call: id,
             fields: [StepField("timer", "invite-failover"), StepField("attempt", attempt)])
        let actions = r.failoverTimerFired(now: sim.now.ns, isBlocked: blockCheck(call.pbx))
        call.router = r
        performRouter(call, actions)
    }

    func callResponse(_ id: Int, txn: Int, _ r: SIPMessage) {
        guard let call = calls[id], call.inviteTxn == txn, var router = call.router, let code = r.statusCode else { return }
        let actor = sipSettings(call).actor
        step(.sipResponse, actor, "\(code) \(ReasonPhrase.for(code))", call: id, fields: [StepField("code", code)])
        // Any response but 408 and 503 proves a later target alive: `failback: duration` starts here.
        if code != 408 && code != 503, let target = router.attempts.last {
            noteAlive(pbx: call.pbx, target: target, attempt: call.sipAttempts, call: id)
        }
        var actions: [CallRouter.Action]
        if code < 200 {
            actions = router.provisional(now: sim.now.ns)
            if code == 180 || code == 183 {
                call.phase = .alerting
                if call.alertedAt == nil { call.alertedAt = sim.now }
            } else if call.phase == .sipTrying { call.phase = .sipProceeding }
        } else {
            if code >= 200 && code < 300 { call.dialog2xx = r }
            call.inviteTxn = code < 300 ? nil : call.inviteTxn
            actions = router.finalResponse(code: code, retryAfter: r.retryAfterSeconds, now: sim.now.ns, isBlocked: blockCheck(call.pbx))
        }
        call.router = router
        performRouter(call, actions)
    }

    func callTransactionTimedOut(_ id: Int, txn: Int) {
        guard let call = calls[id], call.inviteTxn == txn, var router = call.router else { return }
        call.inviteTxn = nil
        let actions = router.transactionTimedOut(now: sim.now.ns, isBlocked: blockCheck(call.pbx))
        call.router = router
        performRouter(call, actions)
    }

    func callTransportFailed(_ id: Int, txn: Int) {
        guard let call = calls[id], call.inviteTxn == txn, var router = call.router else { return }
        call.inviteTxn = nil
        let actions = router.transportFailed(now: sim.now.ns, isBlocked: blockCheck(call.pbx))
        call.router = router
        performRouter(call, actions)
    }

    /// The SIP call is answered: ACK the 2xx end to end, start the conversation.
    func callConnected(_ call: Call) {
        let p = pbxs[call.pbx]
        if let invite = call.lastInvite, let ok = call.dialog2xx {
            // End to end to the remote target, over the transport its Contact URI names (RFC 3261
            // §12.2.1.1): a TLS trunk to the carrier does not make the far PBX speak TLS.
            let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
            let ack = invite.inDialogRequest("ACK", for: ok, branch: newBranch(), cseq: 1, transport: transport,
                                             localHostPort: hostPort(p.ip, 5060))
            sendSIP(ack, from: p.ip, to: ip, dstPort: port, transport: transport, call: call.id, retransmission: false)
            call.ack = (ack, ip, port, transport)
        }
        answered(call)
    }

    /// A copy of the 2xx for a call this PBX placed (the far end did not get the ACK): ACK it
    /// again, the same ACK (§13.2.2.4). A copy for a call already ended is absorbed.
    func uacRetransmitted2xx(_ pi: Int, _ r: SIPMessage) {
        guard let cid = r.callID, let id = sipCallToCall[cid], let call = calls[id], call.pbx == pi, let a = call.ack else { return }
        step(.sipResponse, sipSettings(call).actor, "200 OK again (retransmitted 2xx): the ACK again", call: id,
             fields: [StepField("code", 200), StepField("copy", 1)])
        sendSIP(a.message, from: pbxs[pi].ip, to: a.ip, dstPort: a.port, transport: a.transport, call: id, retransmission: true)
    }

    func answered(_ call: Call) {
        call.phase = .connected
        call.answeredAt = sim.now
        if let t = call.noAnswerTimer { sim.cancel(t); call.noAnswerTimer = nil }
        if let e = pbxs[call.pbx].extensions[call.callerExt] { e.activity = .talking(call: call.id) }
        call.hangupEvent = sim.schedule(.hangup(call: call.id), after: call.hold)
    }

    func splitHostPort(_ hp: String) -> (String, Int) { SIP.splitHostPort(hp) }

    // MARK: - Public trunk (PSTN)

    /// The digits a user dialled, without the outside-line access code.
    func userDigits(_ call: Call) -> String {
        let p = pbxs[call.pbx]
        if let ac = p.config.accessCode, call.digits.hasPrefix(ac), call.digits.count > ac.count {
            return String(call.digits.dropFirst(ac.count))
        }
        return call.digits
    }

    /// Calendar weekday (0 = Sunday) and minute of the day now.
    func calendarNow() -> (weekday: Int, minute: Int) {
        let t = config.startEpoch + sim.now.ns / 1_000_000_000
        let day = Int((t >= 0 ? t : t - 86399) / 86400)
        let sec = Int(t - Int64(day) * 86400)
        return (((day + 4) % 7 + 7) % 7, sec / 60)
    }

    /// Takes the public route: TRS on the dialled digits, Quick Dial for private numbers, ARS
    /// carriers and their trunk groups (or the default groups), digit modification, channel hunt.
    func startPublic(_ call: Call) {
        let p = pbxs[call.pbx]
        call.route = "public"
        call.phase = .pstnSetup
        if call.usesSIPChannel { releaseSIPChannel(call) }
        releaseGateway(call)
        guard !p.groups.isEmpty, p.trunkChannels > 0 else {
            end(call, outcome: "failed", detail: "\(p.name) has no public trunk")
            return
        }
        var digits = userDigits(call)
        // Toll restriction checks what the user dialled, before any modification (domain §1.4.7).
        if let trs = p.config.trs, let ext = p.extensions[call.callerExt], !trs.allows(digits, level: ext.trsLevel) {
            step(.routeSelected, p.name, "TRS level \(ext.trsLevel) denies \(digits): reorder tone", call: call.id)
            end(call, outcome: "rejected", detail: "toll restriction")
            return
        }
        if digits.first != "0", let mapped = QuickDial.reroute(digits, map: p.config.quickDial) {
            // The access code in the mapped digits only selects the trunk.
            let ac = p.config.accessCode ?? ""
            let sent = (!ac.isEmpty && mapped.hasPrefix(ac)) ? String(mapped.dropFirst(ac.count)) : mapped
            step(.routeSelected, p.name, "Quick Dial: \(digits) -> \(mapped), trunk receives \(sent)", call: call.id)
            digits = sent
        }
        // Candidate (carrier, group, digits) in order.
        var candidates: [(carrier: String?, group: Int, digits: String)] = []
        let defaults = p.config.defaultTrunkGroups ?? p.groups.map(\.config.id)
        if let ars = p.config.ars {
            let cal = calendarNow()
            switch ARS.select(digits, config: ars, weekday: cal.weekday, minuteOfDay: cal.minute) {
            case .bypass(let e):
                step(.routeSelected, p.name, "ARS exception \(e): default trunk groups \(defaults), digits as dialled", call: call.id)
                candidates = defaults.map { (nil, $0, digits) }
            case .noMatch:
                step(.routeSelected, p.name, "ARS: no leading number matches \(digits): default trunk groups \(defaults)", call: call.id)
                candidates = defaults.map { (nil, $0, digits) }
            case .carriers(let plan, let pos, let carriers):
                step(.routeSelected, p.name, "ARS: leading-number entry \(pos) -> plan \(plan), carriers \(carriers.map(\.name).joined(separator: ", "))", call: call.id)
                for c in carriers {
                    let modified = ARS.modify(digits, carrier: c)
                    for g in c.trunkGroups { candidates.append((c.name, g, modified)) }
                }
            }
        } else {
            candidates = defaults.map { (nil, $0, digits) }
        }
        for cand in candidates {
            guard let gi = p.groups.firstIndex(where: { $0.config.id == cand.group }) else { continue }
            if let ch = p.seize(group: gi, now: sim.now) {
                call.originChannel = ChannelRef(pbx: call.pbx, group: gi, channel: ch)
                call.sentDigits = cand.digits
                call.carrier = cand.carrier
                call.trunkGroup = cand.group
                step(.trunkSeized, p.name, "trunk group \(cand.group) channel \(ch + 1) seized (\(p.trunkInUse)/\(p.trunkChannels) in use)"
                     + (cand.carrier.map { ", carrier \($0)" } ?? "") + ", sends \(cand.digits)", call: call.id)
                guard let ti = telcos.firstIndex(where: { $0.name == p.config.telco }) else {
                    end(call, outcome: "failed", detail: "\(p.name) has no telephone company")
                    return
                }
                call.pstnDelay = telcos[ti].switchingDelay
                pstnSchedule(call, .arriveTelco(telco: ti, toll: false), after: telcos[ti].switchingDelay)
                return
            }
            step(.trunkBusy, p.name, "trunk group \(cand.group) all \(p.groups[gi].config.channels) channels busy" + (cand.carrier.map { " (carrier \($0))" } ?? ""), call: call.id)
        }
        end(call, outcome: "blocked", detail: "every trunk group of every carrier busy (busy tone)")
    }

    func pstnSchedule(_ call: Call, _ s: PSTNStep, after d: SimTime) {
        call.pstnEvents.append(sim.schedule(.pstn(call: call.id, s), after: d))
    }

    /// The telephone company that owns a national number (longest area-code prefix).
    func telcoFor(nationalNumber n: String) -> Int? {
        var best: Int?
        for (i, t) in telcos.enumerated() where n.hasPrefix(t.areaCode) {
            if best == nil || t.areaCode.count > telcos[best!].areaCode.count { best = i }
        }
        return best
    }

    /// What a telephone company makes of the digits it receives: a leading carrier access code
    /// (00XY) is the carrier choice, not part of the number; anything from `#` on is dropped.
    func networkNumber(_ digits: String, originArea: String) -> String {
        var d = Substring(digits)
        if let hash = d.firstIndex(of: "#") { d = d[..<hash] }
        if d.hasPrefix("00"), d.count > 4, d.dropFirst(2).first != "0" { d = d.dropFirst(4) }
        // A number without the trunk prefix is a local number in the caller's area.
        return d.first == "0" ? String(d) : originArea + d
    }

    func pstnStep(call id: Int, _ s: PSTNStep) {
        guard let call = calls[id] else { return }
        switch s {
        case .arriveTelco(let ti, let toll):
            let telco = telcos[ti]
            let own = pbxs[call.pbx]
            let originTelco = telcos.firstIndex { $0.name == own.config.telco } ?? ti
            let national = networkNumber(call.sentDigits ?? call.digits, originArea: telcos[originTelco].areaCode)
            guard let owner = telcoFor(nationalNumber: national) else {
                step(.pstnSetup, telco.name, "\(national): no telephone company owns this number (unallocated)", call: id,
                     fields: [StepField("number", national), StepField("result", "unallocated")])
                pstnEnd(call, outcome: "failed", detail: "unallocated number")
                return
            }
            if owner != ti && !toll {
                step(.pstnSetup, telco.name, "SETUP \(national): toll call to \(telcos[owner].name)", call: id)
                let d = telco.tollDelay + telcos[owner].switchingDelay
                call.pstnDelay += d
                pstnSchedule(call, .arriveTelco(telco: owner, toll: true), after: d)
                return
            }
            if let sub = telco.subscribers.first(where: { $0.contains(national) }) {
                step(.pstnSetup, telco.name, "SETUP \(national) to a subscriber line", call: id)
                ringSubscriber(call, telco: ti, number: national, range: sub)
                return
            }
            // Terminating exchange: the PBX trunk group that owns the number.
            guard let (dp, gi) = pbxForNumber(national) else {
                step(.pstnSetup, telco.name, "SETUP \(national): number not in service", call: id,
                     fields: [StepField("number", national), StepField("result", "not-in-service")])
                pstnEnd(call, outcome: "failed", detail: "unallocated number")
                return
            }
            let dest = pbxs[dp]
            step(.pstnSetup, telco.name, "SETUP \(national) to the public trunk of \(dest.name)", call: id)
            guard let ch = dest.seize(group: gi, now: sim.now) else {
                step(.trunkBusy, dest.name, "trunk group \(dest.groups[gi].config.id): all \(dest.groups[gi].config.channels) channels busy (incoming)", call: id)
                pstnEnd(call, outcome: "busy", detail: "far-end trunk busy")
                return
            }
            call.destPBX = dp
            call.destChannel = ChannelRef(pbx: dp, group: gi, channel: ch)
            step(.trunkSeized, dest.name, "incoming trunk group \(dest.groups[gi].config.id) channel \(ch + 1) seized (\(dest.trunkInUse)/\(dest.trunkChannels))", call: id)
            guard let extNo = dest.config.did.map(national) ?? (dest.extensions[national] != nil ? national : nil) else {
                pstnEnd(call, outcome: "failed", detail: "\(dest.name) has no DID entry for \(national)")
                return
            }
            step(.didMapped, dest.name, "DID \(national) -> extension \(extNo)", call: id)
            ringLocal(call, pbx: dp, ext: extNo, delay: .zero)
        case .alerting:
            if let g = call.gateway {
                gatewayRespond(call, g, 180)
                return
            }
            call.phase = .alerting
            if call.alertedAt == nil { call.alertedAt = sim.now }
            step(.pstnAlerting, pbxs[call.pbx].name, "ALERTING received on the public trunk (ringback tone)", call: id)
        case .connect:
            if let g = call.gateway {
                gatewayRespond(call, g, 200)
                return
            }
            step(.pstnConnect, pbxs[call.pbx].name, "CONNECT received on the public trunk", call: id)
            step(.callAnswered, pbxs[call.pbx].name, "answered via the public trunk", call: id)
            answered(call)
        }
    }

    /// The PBX and trunk group the network delivers a national number to.
    func pbxForNumber(_ national: String) -> (Int, Int)? {
        for (i, p) in pbxs.enumerated() {
            if let gi = p.groups.firstIndex(where: { $0.numbers.contains(national) }) { return (i, gi) }
        }
        for (i, p) in pbxs.enumerated() where !p.groups.isEmpty {
            if p.config.did.map[national] != nil || p.config.did.ranges.contains(where: { national.count == $0.first.count && national >= $0.first && national <= $0.last }) {
                return (i, 0)
            }
        }
        return nil
    }

    func didMap(pbx: Int, _ number: String) -> String? {
        let p = pbxs[pbx]
        if let e = p.config.did.map(number) { return e }
        if p.extensions[number] != nil { return number }
        return nil
    }

    /// Subscriber lines behave like phones: one call at a time, answer after their ring delay.
    func ringSubscriber(_ call: Call, telco ti: Int, number: String, range: SubscriberRange) {
        let who = "\(telcos[ti].name)/\(number)"
        if busySubscribers.contains(number) {
            step(.extensionBusy, who, "subscriber busy", call: call.id)
            pstnEnd(call, outcome: "busy", detail: "\(who) busy (busy tone)")
            return
        }
        busySubscribers.insert(number)
        call.destSubscriber = (ti, number)
        step(.extensionRinging, who, "ringing", call: call.id)
        pstnSchedule(call, .alerting, after: call.pstnDelay)
        var rng = subscriberRNG
        let d = range.answerAfter.draw(&rng)
        subscriberRNG = rng
        call.pstnEvents.append(sim.schedule(.answer(leg: "pstn:\(call.id)"), after: d))
    }

    /// Rings an extension for a call delivered by the public network or internally.
    func ringLocal(_ call: Call, pbx dp: Int, ext extNo: String, delay: SimTime) {
        let dest = pbxs[dp]
        let who = "\(dest.name)/\(extNo)"
        guard let ext = dest.extensions[extNo] else {
            pstnEnd(call, outcome: "failed", detail: "no extension \(who)")
            return
        }
        call.destExt = extNo
        call.destPBX = dp
        if ext.mode == .absent {
            step(.callRejected, who, "extension absent", call: call.id)
            pstnEnd(call, outcome: "failed", detail: "\(who) absent")
            return
        }
        if !ext.isFree {
            step(.extensionBusy, who, "busy", call: call.id)
            pstnEnd(call, outcome: "busy", detail: "\(who) busy (busy tone)")
            return
        }
        ext.activity = .ringing(call: call.id)
        step(.extensionRinging, who, "ringing", call: call.id)
        pstnSchedule(call, .alerting, after: call.pstnDelay)
        if ext.mode != .unanswered {
            call.pstnEvents.append(sim.schedule(.answer(leg: "pstn:\(call.id)"), after: ext.answerAfter.draw(&dest.ringRNG)))
        } else {
            call.pstnEvents.append(sim.schedule(.legNoAnswer(leg: "pstn:\(call.id)"), after: config.defaults.ringTimeout))
        }
    }

    /// Ends the public-network part of a call: for a call the carrier's SIP server handed to the
    /// public network (a gateway leg), the failure travels back as a SIP final response and the
    /// caller's PBX decides; otherwise the call ends here.
    func pstnEnd(_ call: Call, outcome: String, detail: String) {
        if let g = call.gateway, call.answeredAt == nil {
            let code: Int
            switch outcome {
            case "busy": code = 486
            case "no-answer": code = 480
            case "blocked": code = 503
            case "rejected": code = 603
            default: code = 404
            }
            step(.proxy, network.name(ofIP: sipServers[g.server].ip), "public network: \(outcome) (\(detail)): \(code) upstream", call: call.id)
            releasePSTNDestination(call)
            gatewayRespond(call, g, code)
            call.gateway = nil
            return
        }
        end(call, outcome: outcome, detail: detail)
    }

    func releasePSTNDestination(_ call: Call) {
        for e in call.pstnEvents { sim.cancel(e) }
        call.pstnEvents.removeAll()
        if let c = call.destChannel {
            pbxs[c.pbx].release(group: c.group, channel: c.channel, now: sim.now)
            call.destChannel = nil
        }
        if let sub = call.destSubscriber { busySubscribers.remove(sub.number); call.destSubscriber = nil }
        if let de = call.destExt, let dp = call.destPBX, let e = pbxs[dp].extensions[de], e.activity == .ringing(call: call.id) {
            e.activity = .idle
        }
    }

    // MARK: - Ending

    func hangup(call id: Int) {
        guard let call = calls[id] else { return }
        call.hangupEvent = nil
        let p = pbxs[call.pbx]
        step(.callEnded, "\(p.name)/\(call.callerExt)", "caller hangs up", call: id)
        if call.route == "sip", let invite = call.lastInvite, let ok = call.dialog2xx, p.card != nil || call.viaGateway != nil {
            let settings = sipSettings(call)
            let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
            let bye = invite.inDialogRequest("BYE", for: ok, branch: newBranch(), cseq: 2, transport: transport,
                                             localHostPort: hostPort(p.ip, 5060))
            call.byeTxn = startTransaction(bye, owner: .callBye(call: id), from: p.ip, to: ip, port: port,
                                           transport: transport, timers: settings.timers, call: id,
                                           actor: settings.actor)
            finish(call, outcome: "answered", keepOpen: true)
        } else {
            finish(call, outcome: "answered", keepOpen: false)
        }
    }

    func byeFinished(_ id: Int) {
        guard let call = calls[id] else { return }
        call.byeTxn = nil
        calls[id] = nil
        sipCallToCall[call.sipCallID] = nil
    }

    func callerGivesUp(_ id: Int) {
        guard let call = calls[id] else { return }
        call.noAnswerTimer = nil
        if call.answeredAt != nil { return }
        step(.callEnded, "\(pbxs[call.pbx].name)/\(call.callerExt)", "no answer after \(config.defaults.noAnswerTimeout.durationString): caller gives up", call: id)
        cancelPendingInvite(call)
        end(call, outcome: "no-answer", detail: "not answered")
    }

    /// The caller gives up before a final response (hangup, no-answer timer): the INVITE is
    /// CANCELled (RFC 3261 §9.1) at once if a provisional response has arrived, else as soon as
    /// one does; the INVITE transaction runs on under `.cancelledInvite` until its final response
    /// (the 487 it ACKs, or a 2xx that crossed the CANCEL, which is ACKed and hung up with BYE).
    func cancelPendingInvite(_ call: Call) {
        guard let t = call.inviteTxn, let tx = transactions[t], case .invite(let x) = tx.machine else { return }
        call.inviteTxn = nil
        tx.owner = .cancelledInvite(call: call.id, pbx: call.pbx)
        transactions[t] = tx
        lingering[call.id, default: 0] += 1
        let actor = sipSettings(call).actor
        if x.mayCancel {
            sentCancels.insert(t)
            sendCancel(txn: t)
        } else {
            step(.cancel, actor, "CANCEL waits for a provisional response to the INVITE (RFC 3261 §9.1)", call: call.id)
        }
    }

    /// Sends the CANCEL of a pending INVITE: same Request-URI, Call-ID, From, To, top Via branch
    /// and CSeq number as the INVITE, method CANCEL, no body (§9.1), to where the INVITE went.
    func sendCancel(txn t: Int) {
        guard let tx = transactions[t], case .invite(let x) = tx.machine, case .cancelledInvite(let id, _) = tx.owner else { return }
        var cancel = x.request
        cancel.startLine = .request(method: "CANCEL", uri: x.request.requestURI ?? "")
        cancel.setHeader("CSeq", "\(x.request.cseq?.number ?? 1) CANCEL")
        cancel.body = ""
        cancel.removeHeaders("Content-Type")
        cancel.removeHeaders("Contact")
        cancel.removeHeaders("Allow")
        step(.cancel, tx.actor, "CANCEL to \(hostPort(tx.remoteIP, tx.remotePort)) (branch \(x.branch))", call: id)
        lingering[id, default: 0] += 1
        startTransaction(cancel, owner: .callCancel(call: id), from: tx.localIP, to: tx.remoteIP, port: tx.remotePort,
                         transport: x.transport, timers: x.timers, call: id, actor: tx.actor)
    }

    /// A response to the INVITE of a call the caller has given up.
    func cancelledInviteResponse(txn t: Int, call id: Int, pbx pi: Int, _ r: SIPMessage) {
        guard let code = r.statusCode, let tx = transactions[t], case .invite(let x) = tx.machine else { return }
        if code < 200 {
            // The first provisional makes the waiting CANCEL possible (§9.1).
            if !sentCancels.contains(t), x.mayCancel { sentCancels.insert(t); sendCancel(txn: t) }
            return
        }
        sentCancels.remove(t)
        guard code < 300 else { return } // 487 (or any final): the transaction ACKs it and runs Timer D
        // The far end answered before the CANCEL reached it (§15): ACK the 2xx, then BYE.
        let p = pbxs[pi]
        let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: r.header("Contact") ?? ""))
        let ack = x.request.inDialogRequest("ACK", for: r, branch: newBranch(), cseq: x.request.cseq?.number ?? 1, transport: transport,
                                            localHostPort: hostPort(p.ip, 5060))
        sendSIP(ack, from: p.ip, to: ip, dstPort: port, transport: transport, call: id, retransmission: false)
        let bye = x.request.inDialogRequest("BYE", for: r, branch: newBranch(), cseq: (x.request.cseq?.number ?? 1) + 1, transport: transport,
                                            localHostPort: hostPort(p.ip, 5060))
        step(.cancel, tx.actor, "2xx crossed the CANCEL: ACK, then BYE to release the far end (RFC 3261 §15)", call: id)
        lingering[id, default: 0] += 1
        startTransaction(bye, owner: .callCancel(call: id), from: p.ip, to: ip, port: port, transport: transport,
                         timers: x.timers, call: id, actor: tx.actor)
    }

    /// Ends a call that was not answered.
    func end(_ call: Call, outcome: String, detail: String) {
        step(.callEnded, pbxs[call.pbx].name, "\(outcome): \(detail)", call: call.id, fields: [StepField("outcome", outcome)])
        finish(call, outcome: outcome, keepOpen: false)
    }

    /// Releases everything the call holds and records it.
    func finish(_ call: Call, outcome: String, keepOpen: Bool) {
        guard !call.recorded else { return }
        call.recorded = true
        call.outcome = outcome
        call.endedAt = sim.now
        call.phase = .ended
        for e in call.pstnEvents { sim.cancel(e) }
        call.pstnEvents.removeAll()
        if let t = call.failoverTimer { sim.cancel(t) }
        if let t = call.noAnswerTimer { sim.cancel(t) }
        if let t = call.hangupEvent { sim.cancel(t) }
        if let t = call.inviteTxn { abandonTransaction(t); call.inviteTxn = nil }
        let p = pbxs[call.pbx]
        if let c = call.originChannel {
            p.release(group: c.group, channel: c.channel, now: sim.now)
            call.originChannel = nil
            step(.trunkReleased, p.name, "trunk group \(p.groups[c.group].config.id) channel \(c.channel + 1) released (\(p.trunkInUse)/\(p.trunkChannels) in use)", call: call.id)
        }
        if let c = call.destChannel {
            let d = pbxs[c.pbx]
            d.release(group: c.group, channel: c.channel, now: sim.now)
            call.destChannel = nil
            step(.trunkReleased, d.name, "incoming trunk group \(d.groups[c.group].config.id) channel \(c.channel + 1) released", call: call.id)
        }
        if let sub = call.destSubscriber {
            busySubscribers.remove(sub.number)
            call.destSubscriber = nil
        }
        if call.usesSIPChannel { releaseSIPChannel(call) }
        releaseGateway(call)
        if let e = p.extensions[call.callerExt] {
            switch e.activity {
            case .dialing(let c) where c == call.id, .talking(let c) where c == call.id: e.activity = .idle
            default: break
            }
        }
        if let de = call.destExt, let dp = call.destPBX, let e = pbxs[dp].extensions[de] {
            switch e.activity {
            case .ringing(let c) where c == call.id, .talking(let c) where c == call.id: e.activity = .idle
            default: break
            }
        }
        let full = callRecord(call, outcome: outcome, ended: true)
        p.stats.record(outcome: outcome, route: call.route, rerouted: call.rerouted, pdd: full.pddNs.map { SimTime(ns: $0) })
        sink.record(.callEnded(full))
        onCallEnded?(full)
        if !keepOpen {
            calls[call.id] = nil
            // A cancelled INVITE, its CANCEL or its BYE still running keeps the Call-ID mapped, so
            // that their messages keep the call's id in the trace; the last of them unmaps it.
            if lingering[call.id, default: 0] == 0 { sipCallToCall[call.sipCallID] = nil }
        }
    }
}

extension World {
    /// `failback: duration D` (domain §3.4, checklist 26; Yealink's semantics): the window starts
    /// at the failover that ended with a live answer from a later target, that is any response
    /// but 408, 503 or a transport error (a 486 through the secondary proves it alive), not only
    /// when a call connects there.
    func noteAlive(pbx pi: Int, target: RouteTarget, attempt: Int, call: Int) {
        guard let card = pbxs[pi].card, attempt > 1 || card.preferred != nil, case .duration(let d) = card.config.failback else { return }
        if card.preferred?.target.ip == target.ip { return }
        card.preferred = (target, sim.now + d)
        step(.failover, "\(pbxs[pi].name)/V-SIPGW", "fail-back: new calls start at \(target.hostPort) until \(sim.now + d)", call: call)
    }

    /// Fail-back (domain §3.4): after a call connected somewhere other than its first target,
    /// the DNS-TTL policy makes new calls start there while the record lasts.
    func noteConnected(pbx pi: Int, target: RouteTarget, attempt: Int, call: Int) {
        guard let card = pbxs[pi].card, attempt > 1 || card.preferred != nil else { return }
        let actor = "\(pbxs[pi].name)/V-SIPGW"
        switch card.config.failback {
        case .newRequests:
            return
        case .duration:
            return // started by the first live response from the later target (noteAlive)
        case .registration:
            return // set by the registration cycle
        case .dnsTTL:
            if card.preferred?.target.ip == target.ip { return }
            if case .dns(let name, _) = target.origin {
                let srv = pbxs[pi].resolver.entries["SRV \(target.transport.srvPrefix)\(name)"]
                    ?? pbxs[pi].resolver.entries["A \(name)"]
                if let e = srv {
                    card.preferred = (target, e.expires)
                    step(.failover, actor, "fail-back: new calls start at \(target.hostPort) until the DNS record expires at \(e.expires)", call: call)
                }
            }
        }
    }

    /// The typed cause of a failover: `cause` (no-response, timeout, transport-error, 503) and its numbers.
    static func causeFields(_ r: FailoverReason) -> [StepField] {
        switch r {
        case .noResponse(let t): return [StepField("cause", "no-response"), StepField("timeout_ns", t)]
        case .transactionTimeout: return [StepField("cause", "timeout"), StepField("code", 408)]
        case .transportError: return [StepField("cause", "transport-error"), StepField("code", 503)]
        case .serviceUnavailable(let ra): return [StepField("cause", "503"), StepField("code", 503)] + (ra.map { [StepField("retry_after_s", $0)] } ?? [])
        }
    }

    /// The typed fields of a SIP target (attempt-started steps): where and how, and where it came from.
    static func targetFields(_ t: RouteTarget) -> [StepField] {
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
    func callRecord(_ call: Call, outcome: String, ended: Bool) -> CallRecord {
        let p = pbxs[call.pbx]
        let setup: Int64? = call.answeredAt.map { ($0 - call.placedAt).ns } ?? (outcome == "answered" || !ended ? nil : (sim.now - call.placedAt).ns)
        let progress = [call.alertedAt, call.answeredAt].compactMap { $0 }.min()
        var rec = CallRecord(callID: call.id, caller: "\(p.name)/\(call.callerExt)", dialed: call.dialed,
                             placedAtNs: call.placedAt.ns, endedAtNs: ended ? sim.now.ns : nil, outcome: outcome, route: call.route,
                             answeredBy: outcome == "answered" ? call.answeredBy : nil, setupDelayNs: setup, sipTargets: call.sipTargets,
                             sipAttempts: call.sipAttempts, rerouted: call.rerouted, finalCode: call.finalCode,
                             pbx: p.name, cardState: call.cardStateAtDial)
        rec.pddNs = progress.map { ($0 - call.placedAt).ns }
        if outcome == "answered" && ended { rec.releasedBy = call.releasedBy ?? "caller" }
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
            let rec = callRecord(call, outcome: call.answeredAt != nil ? "answered" : "in-progress", ended: false)
            sink.record(.callEnded(rec))
            onCallEnded?(rec)
        }
    }
}
