import SimCore
import SIP
import Routing
import Trace

extension PBXState {
    // MARK: - The public trunk

    /// The digits a user dialled, without the outside-line access code.
    func userDigits(_ call: Call) -> String {
        if let ac = config.accessCode, call.digits.hasPrefix(ac), call.digits.count > ac.count {
            return String(call.digits.dropFirst(ac.count))
        }
        return call.digits
    }

    /// Takes the public route: TRS on the dialled digits, Quick Dial for private numbers, ARS
    /// carriers and their trunk groups (or the default groups), digit modification, channel hunt.
    func startPublic(_ call: Call, _ ctx: PBXCallerContext) {
        let p = self
        call.route = .publicTrunk
        call.phase = .pstnSetup
        if call.usesSIPChannel { releaseSIPChannel(call) }
        releaseGateway(call)
        guard !p.groups.isEmpty, p.trunkChannels > 0 else {
            end(call, outcome: .failed, reason: .noPublicTrunk(pbx: p.name), ctx)
            return
        }
        // The route plan (TRS, Quick Dial, ARS or the default groups) is the sans-I/O `PublicRoute`.
        let cal = ctx.calendarNow()
        let defaults = p.config.defaultTrunkGroups ?? p.groups.map(\.config.id)
        let candidates: [PublicRoute.Candidate]
        switch PublicRoute.plan(userDigits(call), trs: p.config.trs, trsLevel: call.callerState.trsLevel,
                                quickDial: p.config.quickDial, accessCode: p.config.accessCode, ars: p.config.ars,
                                weekday: cal.weekday, minuteOfDay: cal.minute, defaultGroups: defaults) {
        case .denied(let level, let digits):
            ctx.record(.routeSelected, p.name, "TRS level \(level) denies \(digits): reorder tone", call: call.id, [StepField("decision", "trs-denied"), StepField("trs_level", level), StepField("digits", digits)])
            end(call, outcome: .rejected, reason: .tollRestriction, ctx)
            return
        case .route(let decisions, let list):
            for d in decisions { recordRouteDecision(d, call: call.id, ctx) }
            candidates = list
        }
        for cand in candidates {
            guard let gi = p.groups.firstIndex(where: { $0.config.id == cand.group }) else { continue }
            if let ch = p.seize(group: gi, now: ctx.now) {
                call.originChannel = ChannelRef(group: gi, channel: ch)
                call.sentDigits = cand.digits
                call.carrier = cand.carrier
                call.trunkGroup = cand.group
                ctx.record(.trunkSeized, p.name, concat("trunk group ", String(cand.group), " channel ", String(ch + 1), " seized (", String(p.trunkInUse),
                                                      "/", String(p.trunkChannels), " in use)", cand.carrier.map { ", carrier " + $0 } ?? "",
                                                      ", sends ", cand.digits), call: call.id,
                     [StepField("direction", "outgoing"), StepField("trunk_group", cand.group), StepField("channel", ch + 1),
                              StepField("in_use", p.trunkInUse), StepField("channels", p.trunkChannels), StepField("sent_digits", cand.digits)]
                         + (cand.carrier.map { [StepField("carrier", $0)] } ?? []))
                guard ctx.publicSetup(call: call.id, digits: cand.digits, telco: p.config.telco) else {
                    end(call, outcome: .failed, reason: .noTelephoneCompany(pbx: p.name), ctx)
                    return
                }
                return
            }
            ctx.record(.trunkBusy, p.name, "trunk group \(cand.group) all \(p.groups[gi].config.channels) channels busy" + (cand.carrier.map { " (carrier \($0))" } ?? ""), call: call.id,
                 [StepField("direction", "outgoing"), StepField("trunk_group", cand.group), StepField("channels", p.groups[gi].config.channels)]
                     + (cand.carrier.map { [StepField("carrier", $0)] } ?? []))
        }
        end(call, outcome: .blocked, reason: .allTrunksBusy, ctx)
    }

    /// A decision of the public route plan, as a `route-selected` step.
    private func recordRouteDecision(_ d: PublicRoute.Decision, call: Int, _ ctx: PBXCallerContext) {
        let p = self
        switch d {
        case .quickDial(let digits, let mapped, let sent):
            ctx.record(.routeSelected, p.name, "Quick Dial: \(digits) -> \(mapped), trunk receives \(sent)", call: call, [StepField("decision", "quick-dial"), StepField("digits", digits), StepField("mapped", mapped), StepField("sent_digits", sent)])
        case .arsException(let e, let groups):
            ctx.record(.routeSelected, p.name, "ARS exception \(e): default trunk groups \(groups), digits as dialled", call: call, [StepField("decision", "ars-exception"), StepField("exception", e), StepField("trunk_groups", groups.map(String.init).joined(separator: ","))])
        case .arsDefault(let digits, let groups):
            ctx.record(.routeSelected, p.name, "ARS: no leading number matches \(digits): default trunk groups \(groups)", call: call, [StepField("decision", "ars-default"), StepField("trunk_groups", groups.map(String.init).joined(separator: ","))])
        case .ars(let entry, let plan, let carriers):
            ctx.record(.routeSelected, p.name, "ARS: leading-number entry \(entry) -> plan \(plan), carriers \(carriers.joined(separator: ", "))", call: call, [StepField("decision", "ars"), StepField("entry", entry), StepField("plan", plan), StepField("carriers", carriers.joined(separator: ","))])
        }
    }

    /// ALERTING or CONNECT of a call this PBX placed came back (over the public network, or from
    /// its own extension for an internal call).
    func publicProgress(_ call: Call, _ s: PSTNStep, _ ctx: PBXCallerContext) {
        switch s {
        case .arriveTelco: return
        case .alerting:
            call.phase = .alerting
            if call.alertedAt == nil { call.alertedAt = ctx.now }
            ctx.record(.pstnAlerting, name, "ALERTING received on the public trunk (ringback tone)", call: call.id, [StepField("message", "ALERTING")])
        case .connect:
            ctx.record(.pstnConnect, name, "CONNECT received on the public trunk", call: call.id, [StepField("message", "CONNECT")])
            ctx.record(.callAnswered, name, "answered via the public trunk", call: call.id, [StepField("route", "public")])
            answered(call, ctx)
        }
    }
}
