import SimCore
import SIP
import Routing
import Trace

/// What a PBX's calling side may ask of whoever runs it (issue 9 item 2): the engine's clock and
/// its timers, identifiers that are unique in the run, the PBX's SIP stack (client transactions,
/// a message on the wire), its card's state and trunk calls, the public network, its own
/// receiving side for an internal call, and the trace. Everything else a call needs is the PBX's
/// own state: its extensions, its card, its trunk groups and route plan, its calls.
protocol PBXCallerContext: AnyObject {
    var now: SimTime { get }
    /// The scenario's defaults: how long a caller waits for an answer, and a call's holding time.
    var noAnswerTimeout: SimTime { get }
    var defaultHold: SimTime { get }
    /// The site's calendar now (weekday, 0 = Sunday, and minute of the day), for time-of-day routing.
    func calendarNow() -> (weekday: Int, minute: Int)
    /// A call id, unique in the run (the trace's `call_id`).
    func newCallID() -> Int
    /// A token unique in the run, for a SIP Call-ID.
    func uniqueToken() -> String
    func newTag() -> String
    func newBranch() -> String
    func scheduleNoAnswer(call: Int, after delay: SimTime) -> EventID
    func scheduleHangup(call: Int, after delay: SimTime) -> EventID
    func cancel(_ id: EventID)
    /// The random stream of a call's trunk attempts (the run's stream named "call-<id>").
    func callStream(_ call: Int) -> Xoshiro256
    /// The PBX's SIP stack: a client transaction (its id), one by id, one abandoned, and a
    /// message put on the wire outside any transaction (the ACK for a 2xx).
    /// `branch` is the top Via's branch when the caller knows it (else it is read from the Via).
    func startTransaction(_ request: SIPMessage, branch: String?, owner: TxnOwner, to ip: String, port: Int, transport: Transport,
                          timers: TimerPolicy, call: Int?, actor: String) -> Int
    func transaction(_ id: Int) -> Txn?
    func abandonTransaction(_ id: Int)
    func send(_ message: SIPMessage, to ip: String, port: Int, transport: Transport, call: Int, retransmission: Bool)
    /// Whether the PBX's own network is up (its card is at fault otherwise).
    var ownNetworkUp: Bool { get }
    /// Whether an IP gateway of a TIE route is available (up).
    func gatewayAvailable(_ ip: String) -> Bool
    func setCardState(_ s: CardState, reason: String)
    /// The context of the PBX's trunk calls (`TrunkCall`).
    var trunkContext: TrunkCallContext { get }
    /// The public network: SETUP through the PBX's telephone company (false when there is no
    /// company of that name), and the release of the call's part there.
    func publicSetup(call: Int, digits: String, telco: String) -> Bool
    func publicRelease(call: Int)
    /// The context of the PBX's own receiving side (an internal call rings one of its extensions).
    var calleeContext: PBXCalleeContext { get }
    /// Who answered the call, as the answering side reported it (the trace's `answered_by`).
    func answeredParty(of call: Int) -> String?
    /// The call's row is ready (it ended, or the run stops with it in progress).
    func callRecorded(_ record: CallRecord)
    /// The PBX forgets the call: the run's registry of calls in progress lets it go too.
    func forgotten(call: Int)
    func record(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField])
}

extension PBXState {
    // MARK: - Placing a call

    /// An extension of this PBX dials `number`: the call is placed, routed, and kept in the PBX's
    /// table of its calls until it is forgotten.
    @discardableResult
    func dial(_ ext: ExtensionState, number: String, hold: SimTime?, _ ctx: PBXCallerContext) -> Call {
        let id = ctx.newCallID()
        let call = Call(id: id, pbx: index, caller: ext, dialed: number, digits: phoneDigits(number),
                        placedAt: ctx.now, hold: hold ?? ctx.defaultHold,
                        sipCallID: concat(String(id), "-", ctx.uniqueToken(), "@", config.host), fromTag: ctx.newTag())
        calls[id] = call
        callBySIPCallID[StringKey(call.sipCallID)] = id
        ctx.record(.callPlaced, concat(name, "/", ext.number), "dials \(number)", call: id, [StepField("dialed", number), StepField("digits", call.digits)])
        guard ext.activity == .idle else {
            end(call, outcome: .failed, reason: .callerInCall("\(name)/\(ext.number)"), ctx)
            return call
        }
        ext.activity = .dialing(call: id)
        call.noAnswerTimer = ctx.scheduleNoAnswer(call: id, after: ctx.noAnswerTimeout)
        call.cardStateAtDial = card?.state.rawValue
        route(call, ctx)
        return call
    }

    /// Chooses the first route of a call: a local extension, a TIE route over an IP gateway
    /// group, the SIP trunk, or the public trunk.
    func route(_ call: Call, _ ctx: PBXCallerContext) {
        if let local = extensions[call.digits] {
            ctx.record(.routeSelected, name, "internal call to extension \(local.number)", call: call.id, [StepField("decision", "internal"), StepField("extension", local.number)])
            call.route = nil
            call.ringsHere = true
            ring(call: call.id, ext: local.number, ctx.calleeContext)
            return
        }
        if let tie = config.tieRoutes.first(where: { call.digits.hasPrefix($0.leading) }),
           let group = config.gatewayGroups.first(where: { $0.id == tie.group }) {
            routeTIE(call, group: group, ctx)
            return
        }
        // An outside call: the access code when one is configured, else the trunk prefix 0. A
        // private number in the Quick Dial map goes out too (over SIP first when there is a card).
        let external: Bool
        if let ac = config.accessCode { external = call.digits.hasPrefix(ac) && call.digits.count > ac.count }
        else { external = call.digits.first == "0" }
        let quickDial = !external && QuickDial.reroute(call.digits, map: config.quickDial) != nil
        guard external || quickDial else {
            ctx.record(.routeSelected, name, "\(call.digits) is not an extension or an outside number: unallocated", call: call.id, [StepField("decision", "unallocated")])
            end(call, outcome: .failed, reason: .unallocatedNumber, ctx)
            return
        }
        guard let card else {
            ctx.record(.routeSelected, name, "no V-SIPGW card: public trunk", call: call.id, [StepField("decision", "public-no-card")])
            startPublic(call, ctx)
            return
        }
        if !ctx.ownNetworkUp {
            ctx.setCardState(.fault, reason: "PBX network unreachable")
        }
        if card.state != .ins {
            ctx.record(.routeSelected, name, "V-SIPGW is \(card.state.rawValue): public trunk at once", call: call.id, [StepField("decision", "public-card-out-of-service"), StepField("card_state", card.state.rawValue)])
            startPublic(call, ctx)
            return
        }
        if let limit = card.config.channels, card.channelsInUse >= limit {
            ctx.record(.routeSelected, name, "V-SIPGW all \(limit) SIP channels busy: overflow to the public trunk", call: call.id, [StepField("decision", "public-sip-channels-busy"), StepField("sip_channels", limit)])
            startPublic(call, ctx)
            return
        }
        card.channelsInUse += 1
        call.usesSIPChannel = true
        ctx.record(.routeSelected, name, "SIP trunk (V-SIPGW, \(card.config.transport.rawValue))", call: call.id, [StepField("decision", "sip"), StepField("transport", card.config.transport.rawValue)])
        call.route = .sip
        call.phase = .sipTrying
        startTrunk(call, CallRouter(config: .init(inviteTimeout: card.config.inviteTimeout?.ns, reroutePolicy: card.config.reroutePolicy),
                                    sequence: card.config.inviteSequence(registeredWith: card.registration.registeredWith,
                                                                         preferred: card.health.preferredTarget(now: ctx.now.ns))), ctx)
    }

    /// The call's trunk node (`TrunkCall`) with its router, started: the SIP trunk or a TIE gateway.
    private func startTrunk(_ call: Call, _ router: CallRouter, _ ctx: PBXCallerContext) {
        let trunk = TrunkCall(id: call.id, router: router, rng: ctx.callStream(call.id))
        call.trunk = trunk
        trunk.start(ctx.trunkContext)
    }

    func releaseSIPChannel(_ call: Call) {
        guard call.usesSIPChannel, let card else { return }
        card.channelsInUse -= 1
        call.usesSIPChannel = false
    }

    /// SIP settings of a call: the V-SIPGW card's, or RFC defaults for a TIE call over an IP
    /// gateway (addressed by the gateway's IP, caller ID = the extension).
    func sipSettings(_ call: Call) -> (transport: Transport, timers: TimerPolicy, domain: String, callerNumber: String, actor: String) {
        if let gw = call.viaGateway { return (.udp, .rfcDefault, gw.ip, call.callerExt, gatewayActor) }
        // Field by field: `let c = card!.config` copied the whole configuration (a dozen strings
        // retained and released) for every INVITE (issue 11's profile).
        let card = card!
        return (card.config.transport, card.config.timers, card.config.sipDomain, card.config.numbers.first ?? call.callerExt, cardActor)
    }

    /// A private number of a TIE route: the lowest-numbered gateway of the group that is available
    /// (up, with a free channel) takes it; busy or unavailable gateways are passed over at once,
    /// without a timeout (Panasonic §4.3.2.1, checklist 27). No reply within the group's timeout
    /// ("about 4 seconds"), or no gateway at all: reroute to the public trunk (Quick Dial).
    func routeTIE(_ call: Call, group: GatewayGroupConfig, _ ctx: PBXCallerContext) {
        let actor = gatewayActor
        for gw in group.gateways {
            if !ctx.gatewayAvailable(gw.ip) {
                ctx.record(.targetSkipped, actor, "gateway \(gw.name) (\(gw.ip)) unavailable: next device", call: call.id,
                           [StepField("target", gw.ip), StepField("gateway", gw.name), StepField("reason", "unavailable"),
                            StepField("cause", "gateway-unavailable")])
                continue
            }
            if gatewayInUse[StringKey(gw.name), default: 0] >= gw.channels {
                ctx.record(.targetSkipped, actor, "gateway \(gw.name) busy (\(gw.channels) channels): next device", call: call.id,
                           [StepField("target", gw.ip), StepField("gateway", gw.name), StepField("reason", "busy"),
                            StepField("cause", "gateway-busy")])
                continue
            }
            gatewayInUse[StringKey(gw.name), default: 0] += 1
            call.viaGateway = (gw.name, gw.ip)
            call.route = .sip
            call.phase = .sipTrying
            ctx.record(.routeSelected, actor, "TIE call over gateway group \(group.id): gateway \(gw.name) (\(gw.ip))", call: call.id, [StepField("decision", "tie"), StepField("gateway_group", group.id), StepField("gateway", gw.name), StepField("ip", gw.ip)])
            startTrunk(call, CallRouter(config: .init(inviteTimeout: group.timeout.ns, reroutePolicy: .failures),
                                        sequence: FailoverSequence(stages: [.address(gw.ip, port: nil, origin: .configured)])), ctx)
            return
        }
        ctx.record(.reroute, name, "no gateway of group \(group.id) available: reroute to the public trunk", call: call.id,
                   [StepField("reason", "no gateway of group \(group.id) available")])
        call.rerouted = true
        startPublic(call, ctx)
    }

    func releaseGateway(_ call: Call) {
        guard let gw = call.viaGateway else { return }
        gatewayInUse[StringKey(gw.name), default: 1] -= 1
        call.viaGateway = nil
    }

    // MARK: - Over SIP

    /// The INVITE of one attempt of a trunk call, in a new client transaction; its id.
    func sendInvite(_ call: Call, to target: RouteTarget, _ ctx: PBXCallerContext) -> Int {
        let settings = sipSettings(call)
        let invite: SIPMessage
        // The new attempt's branch, handed to the transaction as well: reading it back out of the
        // Via cost about 1,800 instructions an attempt (issue 11's profile).
        let branch = ctx.newBranch()
        if call.lastInviteTransport == target.transport, let previous = call.lastInvite {
            // The next attempt of the same call over the same transport: the same INVITE with a new
            // branch (its parts kept, not its text rebuilt: issue 11's profile).
            invite = previous.withBranch(branch, transport: target.transport, sentBy: localHostPort)
        } else {
            let domain = settings.domain
            let callerNumber = settings.callerNumber
            let uri = concat("sip:", call.digits, "@", domain)
            invite = SIPMessage.invite(
                requestURI: uri, from: concat("sip:", callerNumber, "@", domain), fromTag: call.fromTag,
                to: uri, callID: call.sipCallID, cseq: 1, transport: target.transport,
                localHostPort: localHostPort, localIP: ip, contactUser: callerNumber, branch: branch, sessionID: UInt64(call.id))
        }
        call.lastInvite = invite
        call.lastInviteTransport = target.transport
        return ctx.startTransaction(invite, branch: branch, owner: .callInvite(call: call.id), to: target.ip, port: target.port,
                                    transport: target.transport, timers: settings.timers, call: call.id, actor: settings.actor)
    }

    /// A response to the INVITE of the call's current attempt.
    func inviteResponse(_ call: Call, txn: Int, _ r: SIPMessage, _ ctx: PBXCallerContext) {
        guard let trunk = call.trunk, trunk.inviteTxn == txn, let code = r.statusCode else { return }
        if code < 200 {
            if code == 180 || code == 183 {
                call.phase = .alerting
                if call.alertedAt == nil { call.alertedAt = ctx.now }
            } else if call.phase == .sipTrying { call.phase = .sipProceeding }
        } else if code < 300 {
            call.dialog2xx = r
        }
        trunk.response(r, ctx.trunkContext)
    }

    /// The INVITE transaction of the call's current attempt failed: Timer B, or a transport error.
    func inviteFailed(_ call: Call, txn: Int, timeout: Bool, _ ctx: PBXCallerContext) {
        guard let trunk = call.trunk, trunk.inviteTxn == txn else { return }
        trunk.transactionFailed(timeout: timeout, ctx.trunkContext)
    }

    /// The SIP call is answered: ACK the 2xx end to end, start the conversation.
    func sipConnected(_ call: Call, _ ctx: PBXCallerContext) {
        if let invite = call.lastInvite, let ok = call.dialog2xx {
            call.ack = sendAck(for: ok, of: invite, call: call.id, ctx)
        }
        answered(call, ctx)
    }

    /// ACKs a 2xx to INVITE end to end, to the remote target, over the transport its Contact URI
    /// names (RFC 3261 §12.2.1.1: a TLS trunk to the carrier does not make the far PBX speak
    /// TLS); returns the ACK and where it went.
    @discardableResult
    func sendAck(for ok: SIPMessage, of invite: SIPMessage, call: Int, _ ctx: PBXCallerContext) -> (message: SIPMessage, ip: String, port: Int, transport: Transport) {
        let (to, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: ok.header("Contact") ?? ""))
        let ack = invite.inDialogRequest("ACK", for: ok, branch: ctx.newBranch(), cseq: invite.cseq?.number ?? 1, transport: transport,
                                         localHostPort: localHostPort)
        ctx.send(ack, to: to, port: port, transport: transport, call: call, retransmission: false)
        return (ack, to, port, transport)
    }

    /// A copy of the 2xx for a call this PBX placed (the far end did not get the ACK): ACK it
    /// again, the same ACK (§13.2.2.4). A copy for a call already ended is absorbed.
    func retransmitted2xx(_ r: SIPMessage, _ ctx: PBXCallerContext) {
        guard let cid = r.callID, let id = callBySIPCallID[StringKey(cid)], let call = calls[id], let a = call.ack else { return }
        ctx.record(.sipResponse, sipSettings(call).actor, "200 OK again (retransmitted 2xx): the ACK again", call: id,
                   [StepField("code", 200), StepField("copy", 1)])
        ctx.send(a.message, to: a.ip, port: a.port, transport: a.transport, call: id, retransmission: true)
    }

    /// The call is answered (over SIP, the public trunk, or internally): the conversation runs
    /// for the call's holding time.
    func answered(_ call: Call, _ ctx: PBXCallerContext) {
        call.phase = .connected
        call.answeredAt = ctx.now
        if let t = call.noAnswerTimer { ctx.cancel(t); call.noAnswerTimer = nil }
        call.callerState.activity = .talking(call: call.id)
        call.hangupEvent = ctx.scheduleHangup(call: call.id, after: call.hold)
    }
}
