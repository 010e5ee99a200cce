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
            step(.command, "scenario", "dial \(ref) \(number): no such extension", fields: [StepField("command", "dial"), StepField("error", "no such extension")])
            return
        }
        callCount += 1
        let id = callCount
        let p = pbxs[pi]
        let call = Call(id: id, pbx: pi, callerExt: ext.number, dialed: number, digits: phoneDigits(number),
                        placedAt: sim.now, hold: hold ?? config.defaults.hold,
                        sipCallID: "\(id)-\(String(nextID(), radix: 16))@\(p.config.host)", fromTag: newTag())
        calls[id] = call
        sipCallToCall[call.sipCallID] = id
        let caller = "\(p.name)/\(ext.number)"
        step(.callPlaced, caller, "dials \(number)", call: id, fields: [StepField("dialed", number), StepField("digits", phoneDigits(number))])
        guard ext.activity == .idle else {
            end(call, outcome: .failed, detail: "caller \(caller) is already in a call")
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
            step(.routeSelected, actor, "internal call to extension \(local.number)", call: call.id, fields: [StepField("decision", "internal"), StepField("extension", local.number)])
            call.route = nil
            call.ringsHere = true
            p.ring(call: call.id, ext: local.number, calleeContexts[call.pbx])
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
            step(.routeSelected, actor, "\(call.digits) is not an extension or an outside number: unallocated", call: call.id, fields: [StepField("decision", "unallocated")])
            end(call, outcome: .failed, detail: "unallocated number")
            return
        }
        guard let card = p.card else {
            step(.routeSelected, actor, "no V-SIPGW card: public trunk", call: call.id, fields: [StepField("decision", "public-no-card")])
            startPublic(call)
            return
        }
        if !network.isUp(p.ip) {
            setCardState(pbx: call.pbx, .fault, reason: "PBX network unreachable")
        }
        if card.state != .ins {
            step(.routeSelected, actor, "V-SIPGW is \(card.state.rawValue): public trunk at once", call: call.id, fields: [StepField("decision", "public-card-out-of-service"), StepField("card_state", card.state.rawValue)])
            startPublic(call)
            return
        }
        if let limit = card.config.channels, card.channelsInUse >= limit {
            step(.routeSelected, actor, "V-SIPGW all \(limit) SIP channels busy: overflow to the public trunk", call: call.id, fields: [StepField("decision", "public-sip-channels-busy"), StepField("sip_channels", limit)])
            startPublic(call)
            return
        }
        card.channelsInUse += 1
        call.usesSIPChannel = true
        step(.routeSelected, actor, "SIP trunk (V-SIPGW, \(card.config.transport.rawValue))", call: call.id, fields: [StepField("decision", "sip"), StepField("transport", card.config.transport.rawValue)])
        call.route = .sip
        call.phase = .sipTrying
        let router = CallRouter(config: .init(inviteTimeout: card.config.inviteTimeout?.ns,
                                              reroutePolicy: card.config.reroutePolicy),
                                sequence: inviteSequence(pbx: call.pbx))
        let trunk = TrunkCall(id: call.id, router: router, rng: streams.stream("call-\(call.id)"))
        call.trunk = trunk
        trunk.start(trunkContext)
    }

    func releaseSIPChannel(_ call: Call) {
        guard call.usesSIPChannel, let card = pbxs[call.pbx].card else { return }
        card.channelsInUse -= 1
        call.usesSIPChannel = false
    }

    /// The INVITE failover order for a card (`CardConfig.inviteSequence`).
    func inviteSequence(pbx pi: Int) -> FailoverSequence {
        let card = pbxs[pi].card!
        return card.config.inviteSequence(registeredWith: card.registration.registeredWith, preferred: card.health.preferredTarget(now: sim.now.ns))
    }

    func blockCheck(_ pi: Int) -> (String) -> Bool {
        let health = pbxs[pi].card?.health
        let now = sim.now.ns
        return { ip in health?.isBlocked(ip, now: now) ?? false }
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
                step(.targetSkipped, actor, "gateway \(gw.name) (\(gw.ip)) unavailable: next device", call: call.id,
                     fields: [StepField("target", gw.ip), StepField("gateway", gw.name), StepField("reason", "unavailable")])
                continue
            }
            if p.gatewayInUse[gw.name, default: 0] >= gw.channels {
                step(.targetSkipped, actor, "gateway \(gw.name) busy (\(gw.channels) channels): next device", call: call.id,
                     fields: [StepField("target", gw.ip), StepField("gateway", gw.name), StepField("reason", "busy")])
                continue
            }
            p.gatewayInUse[gw.name, default: 0] += 1
            call.viaGateway = (gw.name, gw.ip)
            call.route = .sip
            call.phase = .sipTrying
            step(.routeSelected, actor, "TIE call over gateway group \(group.id): gateway \(gw.name) (\(gw.ip))", call: call.id, fields: [StepField("decision", "tie"), StepField("gateway_group", group.id), StepField("gateway", gw.name), StepField("ip", gw.ip)])
            let router = CallRouter(config: .init(inviteTimeout: group.timeout.ns, reroutePolicy: .failures),
                                    sequence: FailoverSequence(stages: [.address(gw.ip, port: nil, origin: .configured)]))
            let trunk = TrunkCall(id: call.id, router: router, rng: streams.stream("call-\(call.id)"))
            call.trunk = trunk
            trunk.start(trunkContext)
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

    @discardableResult
    func sendInvite(_ call: Call, to target: RouteTarget) -> Int {
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
        return startTransaction(invite, owner: .callInvite(call: call.id), from: p.ip, to: target.ip,
                                port: target.port, transport: target.transport, timers: settings.timers,
                                call: call.id, actor: settings.actor)
    }

    func callFailoverTimer(_ id: Int, _ attempt: Int) {
        guard let call = calls[id], let trunk = call.trunk else { return }
        trunk.failoverTimerFired(attempt: attempt, at: sim.now.ns, trunkContext)
    }

    func callResponse(_ id: Int, txn: Int, _ r: SIPMessage) {
        guard let call = calls[id], let trunk = call.trunk, trunk.inviteTxn == txn, let code = r.statusCode else { return }
        if code < 200 {
            if code == 180 || code == 183 {
                call.phase = .alerting
                if call.alertedAt == nil { call.alertedAt = sim.now }
            } else if call.phase == .sipTrying { call.phase = .sipProceeding }
        } else if code < 300 {
            call.dialog2xx = r
        }
        trunk.response(r, trunkContext)
    }

    func callTransactionTimedOut(_ id: Int, txn: Int) {
        guard let call = calls[id], let trunk = call.trunk, trunk.inviteTxn == txn else { return }
        trunk.transactionFailed(timeout: true, trunkContext)
    }

    func callTransportFailed(_ id: Int, txn: Int) {
        guard let call = calls[id], let trunk = call.trunk, trunk.inviteTxn == txn else { return }
        trunk.transactionFailed(timeout: false, trunkContext)
    }

    /// The SIP call is answered: ACK the 2xx end to end, start the conversation.
    func callConnected(_ call: Call) {
        if let invite = call.lastInvite, let ok = call.dialog2xx {
            call.ack = sendAck(for: ok, of: invite, pbx: call.pbx, call: call.id)
        }
        answered(call)
    }

    /// ACKs a 2xx to INVITE end to end, to the remote target, over the transport its Contact URI
    /// names (RFC 3261 §12.2.1.1: a TLS trunk to the carrier does not make the far PBX speak
    /// TLS); returns the ACK and where it went.
    @discardableResult
    func sendAck(for ok: SIPMessage, of invite: SIPMessage, pbx pi: Int, call: Int) -> (message: SIPMessage, ip: String, port: Int, transport: Transport) {
        let p = pbxs[pi]
        let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
        let ack = invite.inDialogRequest("ACK", for: ok, branch: newBranch(), cseq: invite.cseq?.number ?? 1, transport: transport,
                                         localHostPort: hostPort(p.ip, 5060))
        sendSIP(ack, from: p.ip, to: ip, dstPort: port, transport: transport, call: call, retransmission: false)
        return (ack, ip, port, transport)
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
}
