import SimCore
import SIP
import Routing
import Trace

extension World {
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
        call.route = .publicTrunk
        call.phase = .pstnSetup
        if call.usesSIPChannel { releaseSIPChannel(call) }
        releaseGateway(call)
        guard !p.groups.isEmpty, p.trunkChannels > 0 else {
            end(call, outcome: .failed, detail: "\(p.name) has no public trunk")
            return
        }
        // The route plan (TRS, Quick Dial, ARS or the default groups) is the sans-I/O `PublicRoute`.
        let ext = p.extensions[call.callerExt]
        let cal = calendarNow()
        let defaults = p.config.defaultTrunkGroups ?? p.groups.map(\.config.id)
        let candidates: [PublicRoute.Candidate]
        switch PublicRoute.plan(userDigits(call), trs: ext == nil ? nil : p.config.trs, trsLevel: ext?.trsLevel ?? 1,
                                quickDial: p.config.quickDial, accessCode: p.config.accessCode, ars: p.config.ars,
                                weekday: cal.weekday, minuteOfDay: cal.minute, defaultGroups: defaults) {
        case .denied(let level, let digits):
            step(.routeSelected, p.name, "TRS level \(level) denies \(digits): reorder tone", call: call.id, fields: [StepField("decision", "trs-denied"), StepField("trs_level", level), StepField("digits", digits)])
            end(call, outcome: .rejected, detail: "toll restriction")
            return
        case .route(let decisions, let list):
            for d in decisions { recordRouteDecision(d, pbx: p, call: call.id) }
            candidates = list
        }
        for cand in candidates {
            guard let gi = p.groups.firstIndex(where: { $0.config.id == cand.group }) else { continue }
            if let ch = p.seize(group: gi, now: sim.now) {
                call.originChannel = ChannelRef(group: gi, channel: ch)
                call.sentDigits = cand.digits
                call.carrier = cand.carrier
                call.trunkGroup = cand.group
                step(.trunkSeized, p.name, "trunk group \(cand.group) channel \(ch + 1) seized (\(p.trunkInUse)/\(p.trunkChannels) in use)"
                     + (cand.carrier.map { ", carrier \($0)" } ?? "") + ", sends \(cand.digits)", call: call.id,
                     fields: [StepField("direction", "outgoing"), StepField("trunk_group", cand.group), StepField("channel", ch + 1),
                              StepField("in_use", p.trunkInUse), StepField("channels", p.trunkChannels), StepField("sent_digits", cand.digits)]
                         + (cand.carrier.map { [StepField("carrier", $0)] } ?? []))
                guard let ti = publicNetwork.telco(named: p.config.telco) else {
                    end(call, outcome: .failed, detail: "\(p.name) has no telephone company")
                    return
                }
                publicNetwork.setup(call: call.id, digits: cand.digits, origin: .pbx(call.pbx), originTelco: ti, at: ti, toll: false, publicNetworkContext)
                return
            }
            step(.trunkBusy, p.name, "trunk group \(cand.group) all \(p.groups[gi].config.channels) channels busy" + (cand.carrier.map { " (carrier \($0))" } ?? ""), call: call.id,
                 fields: [StepField("direction", "outgoing"), StepField("trunk_group", cand.group), StepField("channels", p.groups[gi].config.channels)]
                     + (cand.carrier.map { [StepField("carrier", $0)] } ?? []))
        }
        end(call, outcome: .blocked, detail: "every trunk group of every carrier busy (busy tone)")
    }

    /// A decision of the public route plan, as a `route-selected` step.
    private func recordRouteDecision(_ d: PublicRoute.Decision, pbx p: PBXState, call: Int) {
        switch d {
        case .quickDial(let digits, let mapped, let sent):
            step(.routeSelected, p.name, "Quick Dial: \(digits) -> \(mapped), trunk receives \(sent)", call: call, fields: [StepField("decision", "quick-dial"), StepField("digits", digits), StepField("mapped", mapped), StepField("sent_digits", sent)])
        case .arsException(let e, let groups):
            step(.routeSelected, p.name, "ARS exception \(e): default trunk groups \(groups), digits as dialled", call: call, fields: [StepField("decision", "ars-exception"), StepField("exception", e), StepField("trunk_groups", groups.map(String.init).joined(separator: ","))])
        case .arsDefault(let digits, let groups):
            step(.routeSelected, p.name, "ARS: no leading number matches \(digits): default trunk groups \(groups)", call: call, fields: [StepField("decision", "ars-default"), StepField("trunk_groups", groups.map(String.init).joined(separator: ","))])
        case .ars(let entry, let plan, let carriers):
            step(.routeSelected, p.name, "ARS: leading-number entry \(entry) -> plan \(plan), carriers \(carriers.joined(separator: ", "))", call: call, fields: [StepField("decision", "ars"), StepField("entry", entry), StepField("plan", plan), StepField("carriers", carriers.joined(separator: ","))])
        }
    }

    /// A message of a public-network call reaches the end that placed it: the caller's PBX, or the
    /// carrier server that terminated a SIP call on the public network (its gateway), which
    /// answers the INVITE with 180 or 200. An internal call's progress comes the same way, from
    /// the PBX itself.
    func pstnStep(call id: Int, _ s: PSTNStep) {
        switch s {
        case .arriveTelco(let ti, let toll):
            publicNetwork.arrive(call: id, telco: ti, toll: toll, publicNetworkContext)
        case .alerting:
            if case .gateway(let server)? = publicNetwork.origin(of: id) {
                sipServers[server].publicNetworkProgress(call: id, code: 180, carrierContext)
                return
            }
            guard let call = calls[id] else { return }
            call.phase = .alerting
            if call.alertedAt == nil { call.alertedAt = sim.now }
            step(.pstnAlerting, pbxs[call.pbx].name, "ALERTING received on the public trunk (ringback tone)", call: id, fields: [StepField("message", "ALERTING")])
        case .connect:
            if case .gateway(let server)? = publicNetwork.origin(of: id) {
                sipServers[server].publicNetworkProgress(call: id, code: 200, carrierContext)
                return
            }
            guard let call = calls[id] else { return }
            step(.pstnConnect, pbxs[call.pbx].name, "CONNECT received on the public trunk", call: id, fields: [StepField("message", "CONNECT")])
            step(.callAnswered, pbxs[call.pbx].name, "answered via the public trunk", call: id, fields: [StepField("route", "public")])
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
}

/// The world as the context of the public network: its messages are engine events, the PBXs
/// behind public trunks take the calls offered to them, and a failure or a release reaches the
/// call's origin (the caller's PBX, or a carrier server's gateway).
final class WorldPublicNetworkContext: PublicNetworkContext {
    unowned let world: World
    init(world: World) { self.world = world }
    var now: SimTime { world.sim.now }
    func schedule(_ step: PSTNStep, call: Int, after delay: SimTime) -> EventID {
        world.sim.schedule(.pstn(call: call, step), after: delay)
    }
    func scheduleLineAnswer(call: Int, after delay: SimTime) -> EventID { world.sim.schedule(.lineAnswer(call: call), after: delay) }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func terminatingPBX(for national: String) -> (pbx: Int, group: Int)? { world.pbxForNumber(national) }
    func offer(call: Int, toPBX pbx: Int, group: Int, number: String) {
        world.pbxs[pbx].offer(call: call, group: group, number: number, world.calleeContexts[pbx])
    }
    func releaseCallee(call: Int, atPBX pbx: Int, quietly: Bool) {
        world.pbxs[pbx].releaseCallee(call: call, quietly: quietly, world.calleeContexts[pbx])
    }
    func failed(call: Int, origin: CircuitOrigin, outcome: CallOutcome, detail: String) {
        switch origin {
        case .gateway(let server):
            world.gatewayLegs[call] = nil
            world.sipServers[server].publicNetworkFailed(call: call, outcome: outcome, detail: detail, world.carrierContext)
        case .pbx: if let c = world.calls[call] { world.end(c, outcome: outcome, detail: detail) }
        }
    }
    func answered(call: Int, by party: String) { world.answeredParty[call] = party }
    func pbxName(_ pbx: Int) -> String { world.pbxs[pbx].name }
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor, detail(), call: call, fields: fields())
    }
}

/// The world as the context of a PBX's receiving side for public-trunk and internal calls: its
/// timers are engine events, and ALERTING, CONNECT and failures travel back over the call's
/// public-network path, or, for an internal call, straight to the same PBX's caller side.
final class WorldCalleeContext: PBXCalleeContext {
    unowned let world: World
    let pi: Int
    init(world: World, pbx pi: Int) { self.world = world; self.pi = pi }
    var now: SimTime { world.sim.now }
    func scheduleAnswer(call: Int, after delay: SimTime) -> EventID { world.sim.schedule(.calleeAnswer(pbx: pi, call: call), after: delay) }
    func scheduleRingTimeout(call: Int, after delay: SimTime) -> EventID {
        world.sim.schedule(.calleeRingTimeout(pbx: pi, call: call), after: delay)
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func alerting(call: Int) { progress(.alerting, call: call) }
    func connect(call: Int, party: String) {
        world.answeredParty[call] = party
        progress(.connect, call: call)
    }
    private func progress(_ step: PSTNStep, call: Int) {
        if world.publicNetwork.carries(call) {
            if case .alerting = step { world.publicNetwork.alerting(call: call, world.publicNetworkContext) }
            else { world.publicNetwork.connect(call: call, world.publicNetworkContext) }
        } else {
            // An internal call: the PBX's own caller side hears it at once.
            let e = world.sim.schedule(.pstn(call: call, step), after: .zero)
            world.pbxs[pi].callee[call]?.events.append(e)
        }
    }
    func failed(call: Int, outcome: CallOutcome, detail: String) {
        if world.publicNetwork.carries(call) {
            world.publicNetwork.fail(call: call, outcome: outcome, detail: detail, world.publicNetworkContext)
        } else if let c = world.calls[call] {
            world.end(c, outcome: outcome, detail: detail)
        }
    }
    func ringTimedOut(call: Int) {
        if let c = world.calls[call] { world.end(c, outcome: .noAnswer, detail: "ring timeout") }
    }
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor, detail(), call: call, fields: fields())
    }
}
