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
                call.originChannel = ChannelRef(pbx: call.pbx, group: gi, channel: ch)
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
                publicNetwork.setup(call: call.id, digits: cand.digits, originTelco: ti, at: ti, toll: false, publicNetworkContext)
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

    func pstnSchedule(_ call: Call, _ s: PSTNStep, after d: SimTime) {
        call.pstnEvents.append(sim.schedule(.pstn(call: call.id, s), after: d))
    }

    func pstnStep(call id: Int, _ s: PSTNStep) {
        guard let call = calls[id] else { return }
        switch s {
        case .arriveTelco(let ti, let toll):
            publicNetwork.arrive(call: id, telco: ti, toll: toll, publicNetworkContext)
        case .alerting:
            if let g = call.gateway {
                sipServers[g.server].publicNetworkProgress(call: call.id, code: 180, carrierContext)
                return
            }
            call.phase = .alerting
            if call.alertedAt == nil { call.alertedAt = sim.now }
            step(.pstnAlerting, pbxs[call.pbx].name, "ALERTING received on the public trunk (ringback tone)", call: id, fields: [StepField("message", "ALERTING")])
        case .connect:
            if let g = call.gateway {
                sipServers[g.server].publicNetworkProgress(call: call.id, code: 200, carrierContext)
                return
            }
            step(.pstnConnect, pbxs[call.pbx].name, "CONNECT received on the public trunk", call: id, fields: [StepField("message", "CONNECT")])
            step(.callAnswered, pbxs[call.pbx].name, "answered via the public trunk", call: id, fields: [StepField("route", "public")])
            answered(call)
        }
    }

    /// SETUP from the public network reached a PBX's public trunk group: an incoming channel, the
    /// DID entry, then the extension rings.
    func pstnOffer(_ call: Call, pbx dp: Int, group gi: Int, number national: String) {
        let id = call.id
        let dest = pbxs[dp]
        guard let ch = dest.seize(group: gi, now: sim.now) else {
            step(.trunkBusy, dest.name, "trunk group \(dest.groups[gi].config.id): all \(dest.groups[gi].config.channels) channels busy (incoming)", call: id,
             fields: [StepField("direction", "incoming"), StepField("trunk_group", dest.groups[gi].config.id), StepField("channels", dest.groups[gi].config.channels)])
            pstnEnd(call, outcome: .busy, detail: "far-end trunk busy")
            return
        }
        call.destPBX = dp
        dest.callee[id, default: CalleeSide()].channel = ChannelRef(pbx: dp, group: gi, channel: ch)
        step(.trunkSeized, dest.name, "incoming trunk group \(dest.groups[gi].config.id) channel \(ch + 1) seized (\(dest.trunkInUse)/\(dest.trunkChannels))", call: id,
             fields: [StepField("direction", "incoming"), StepField("trunk_group", dest.groups[gi].config.id), StepField("channel", ch + 1),
                      StepField("in_use", dest.trunkInUse), StepField("channels", dest.trunkChannels)])
        guard let extNo = dest.config.did.map(national) ?? (dest.extensions[national] != nil ? national : nil) else {
            pstnEnd(call, outcome: .failed, detail: "\(dest.name) has no DID entry for \(national)")
            return
        }
        step(.didMapped, dest.name, "DID \(national) -> extension \(extNo)", call: id, fields: [StepField("number", national), StepField("extension", extNo)])
        ringLocal(call, pbx: dp, ext: extNo, delay: .zero)
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

    /// Rings an extension for a call delivered by the public network or internally.
    func ringLocal(_ call: Call, pbx dp: Int, ext extNo: String, delay: SimTime) {
        let dest = pbxs[dp]
        let who = "\(dest.name)/\(extNo)"
        guard let ext = dest.extensions[extNo] else {
            pstnEnd(call, outcome: .failed, detail: "no extension \(who)")
            return
        }
        dest.callee[call.id, default: CalleeSide()].ext = extNo
        call.destPBX = dp
        if ext.mode == .absent {
            step(.callRejected, who, "extension absent", call: call.id, fields: [StepField("party", who), StepField("reason", "absent")])
            pstnEnd(call, outcome: .failed, detail: "\(who) absent")
            return
        }
        if !ext.isFree {
            step(.extensionBusy, who, "busy", call: call.id, fields: [StepField("party", who)])
            pstnEnd(call, outcome: .busy, detail: "\(who) busy (busy tone)")
            return
        }
        ext.activity = .ringing(call: call.id)
        step(.extensionRinging, who, "ringing", call: call.id, fields: [StepField("party", who)])
        pstnSchedule(call, .alerting, after: publicNetwork.delay(of: call.id))
        if ext.mode != .unanswered {
            call.pstnEvents.append(sim.schedule(.pstnAnswer(call: call.id), after: ext.answerAfter.draw(&dest.ringRNG)))
        } else {
            call.pstnEvents.append(sim.schedule(.pstnRingTimeout(call: call.id), after: config.defaults.ringTimeout))
        }
    }

    /// Ends the public-network part of a call: for a call the carrier's SIP server handed to the
    /// public network (a gateway leg), the failure travels back as a SIP final response and the
    /// caller's PBX decides; otherwise the call ends here.
    func pstnEnd(_ call: Call, outcome: CallOutcome, detail: String) {
        if let g = call.gateway, call.answeredAt == nil {
            releasePSTNDestination(call)
            sipServers[g.server].publicNetworkFailed(call: call.id, outcome: outcome, detail: detail, carrierContext)
            call.gateway = nil
            return
        }
        end(call, outcome: outcome, detail: detail)
    }

    func releasePSTNDestination(_ call: Call) {
        for e in call.pstnEvents { sim.cancel(e) }
        call.pstnEvents.removeAll()
        if let dp = call.destPBX, let c = pbxs[dp].callee[call.id]?.channel {
            pbxs[c.pbx].release(group: c.group, channel: c.channel, now: sim.now)
            pbxs[dp].callee[call.id]?.channel = nil
        }
        publicNetwork.releaseLine(call: call.id)
        if let dp = call.destPBX, let de = pbxs[dp].callee[call.id]?.ext, let e = pbxs[dp].extensions[de], e.activity == .ringing(call: call.id) {
            e.activity = .idle
        }
    }
}

/// The world as the context of the public network: engine events kept with the call (so that
/// ending it cancels them), the PBXs behind public trunks, and the end that placed the call.
final class WorldPublicNetworkContext: PublicNetworkContext {
    unowned let world: World
    init(world: World) { self.world = world }
    var now: SimTime { world.sim.now }
    func schedule(_ step: PSTNStep, call: Int, after delay: SimTime) {
        guard let c = world.calls[call] else { return }
        world.pstnSchedule(c, step, after: delay)
    }
    func scheduleAnswer(call: Int, after delay: SimTime) {
        guard let c = world.calls[call] else { return }
        c.pstnEvents.append(world.sim.schedule(.pstnAnswer(call: call), after: delay))
    }
    func terminatingPBX(for national: String) -> (pbx: Int, group: Int)? { world.pbxForNumber(national) }
    func offer(call: Int, toPBX pbx: Int, group: Int, number: String) {
        guard let c = world.calls[call] else { return }
        world.pstnOffer(c, pbx: pbx, group: group, number: number)
    }
    func failed(call: Int, outcome: CallOutcome, detail: String) {
        guard let c = world.calls[call] else { return }
        world.pstnEnd(c, outcome: outcome, detail: detail)
    }
    func answered(call: Int, by party: String) { world.calls[call]?.answeredBy = party }
    func pbxName(_ pbx: Int) -> String { world.pbxs[pbx].name }
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor, detail(), call: call, fields: fields())
    }
}
