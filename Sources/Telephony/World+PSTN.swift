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
        var digits = userDigits(call)
        // Toll restriction checks what the user dialled, before any modification (domain §1.4.7).
        if let trs = p.config.trs, let ext = p.extensions[call.callerExt], !trs.allows(digits, level: ext.trsLevel) {
            step(.routeSelected, p.name, "TRS level \(ext.trsLevel) denies \(digits): reorder tone", call: call.id, fields: [StepField("decision", "trs-denied"), StepField("trs_level", ext.trsLevel), StepField("digits", digits)])
            end(call, outcome: .rejected, detail: "toll restriction")
            return
        }
        if digits.first != "0", let mapped = QuickDial.reroute(digits, map: p.config.quickDial) {
            // The access code in the mapped digits only selects the trunk.
            let ac = p.config.accessCode ?? ""
            let sent = (!ac.isEmpty && mapped.hasPrefix(ac)) ? String(mapped.dropFirst(ac.count)) : mapped
            step(.routeSelected, p.name, "Quick Dial: \(digits) -> \(mapped), trunk receives \(sent)", call: call.id, fields: [StepField("decision", "quick-dial"), StepField("digits", digits), StepField("mapped", mapped), StepField("sent_digits", sent)])
            digits = sent
        }
        // Candidate (carrier, group, digits) in order.
        var candidates: [(carrier: String?, group: Int, digits: String)] = []
        let defaults = p.config.defaultTrunkGroups ?? p.groups.map(\.config.id)
        if let ars = p.config.ars {
            let cal = calendarNow()
            switch ARS.select(digits, config: ars, weekday: cal.weekday, minuteOfDay: cal.minute) {
            case .bypass(let e):
                step(.routeSelected, p.name, "ARS exception \(e): default trunk groups \(defaults), digits as dialled", call: call.id, fields: [StepField("decision", "ars-exception"), StepField("exception", e), StepField("trunk_groups", defaults.map(String.init).joined(separator: ","))])
                candidates = defaults.map { (nil, $0, digits) }
            case .noMatch:
                step(.routeSelected, p.name, "ARS: no leading number matches \(digits): default trunk groups \(defaults)", call: call.id, fields: [StepField("decision", "ars-default"), StepField("trunk_groups", defaults.map(String.init).joined(separator: ","))])
                candidates = defaults.map { (nil, $0, digits) }
            case .carriers(let plan, let pos, let carriers):
                step(.routeSelected, p.name, "ARS: leading-number entry \(pos) -> plan \(plan), carriers \(carriers.map(\.name).joined(separator: ", "))", call: call.id, fields: [StepField("decision", "ars"), StepField("entry", pos), StepField("plan", plan), StepField("carriers", carriers.map(\.name).joined(separator: ","))])
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
                     + (cand.carrier.map { ", carrier \($0)" } ?? "") + ", sends \(cand.digits)", call: call.id,
                     fields: [StepField("direction", "outgoing"), StepField("trunk_group", cand.group), StepField("channel", ch + 1),
                              StepField("in_use", p.trunkInUse), StepField("channels", p.trunkChannels), StepField("sent_digits", cand.digits)]
                         + (cand.carrier.map { [StepField("carrier", $0)] } ?? []))
                guard let ti = telcos.firstIndex(where: { $0.name == p.config.telco }) else {
                    end(call, outcome: .failed, detail: "\(p.name) has no telephone company")
                    return
                }
                call.pstnDelay = telcos[ti].switchingDelay
                pstnSchedule(call, .arriveTelco(telco: ti, toll: false), after: telcos[ti].switchingDelay)
                return
            }
            step(.trunkBusy, p.name, "trunk group \(cand.group) all \(p.groups[gi].config.channels) channels busy" + (cand.carrier.map { " (carrier \($0))" } ?? ""), call: call.id,
                 fields: [StepField("direction", "outgoing"), StepField("trunk_group", cand.group), StepField("channels", p.groups[gi].config.channels)]
                     + (cand.carrier.map { [StepField("carrier", $0)] } ?? []))
        }
        end(call, outcome: .blocked, detail: "every trunk group of every carrier busy (busy tone)")
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
                pstnEnd(call, outcome: .failed, detail: "unallocated number")
                return
            }
            if owner != ti && !toll {
                step(.pstnSetup, telco.name, "SETUP \(national): toll call to \(telcos[owner].name)", call: id,
                     fields: [StepField("number", national), StepField("result", "toll"), StepField("to", telcos[owner].name)])
                let d = telco.tollDelay + telcos[owner].switchingDelay
                call.pstnDelay += d
                pstnSchedule(call, .arriveTelco(telco: owner, toll: true), after: d)
                return
            }
            if let sub = telco.subscribers.first(where: { $0.contains(national) }) {
                step(.pstnSetup, telco.name, "SETUP \(national) to a subscriber line", call: id,
                     fields: [StepField("number", national), StepField("result", "subscriber")])
                ringSubscriber(call, telco: ti, number: national, range: sub)
                return
            }
            // Terminating exchange: the PBX trunk group that owns the number.
            guard let (dp, gi) = pbxForNumber(national) else {
                step(.pstnSetup, telco.name, "SETUP \(national): number not in service", call: id,
                     fields: [StepField("number", national), StepField("result", "not-in-service")])
                pstnEnd(call, outcome: .failed, detail: "unallocated number")
                return
            }
            let dest = pbxs[dp]
            step(.pstnSetup, telco.name, "SETUP \(national) to the public trunk of \(dest.name)", call: id,
                 fields: [StepField("number", national), StepField("result", "pbx"), StepField("to", dest.name)])
            guard let ch = dest.seize(group: gi, now: sim.now) else {
                step(.trunkBusy, dest.name, "trunk group \(dest.groups[gi].config.id): all \(dest.groups[gi].config.channels) channels busy (incoming)", call: id,
                 fields: [StepField("direction", "incoming"), StepField("trunk_group", dest.groups[gi].config.id), StepField("channels", dest.groups[gi].config.channels)])
                pstnEnd(call, outcome: .busy, detail: "far-end trunk busy")
                return
            }
            call.destPBX = dp
            call.destChannel = ChannelRef(pbx: dp, group: gi, channel: ch)
            step(.trunkSeized, dest.name, "incoming trunk group \(dest.groups[gi].config.id) channel \(ch + 1) seized (\(dest.trunkInUse)/\(dest.trunkChannels))", call: id,
                 fields: [StepField("direction", "incoming"), StepField("trunk_group", dest.groups[gi].config.id), StepField("channel", ch + 1),
                          StepField("in_use", dest.trunkInUse), StepField("channels", dest.trunkChannels)])
            guard let extNo = dest.config.did.map(national) ?? (dest.extensions[national] != nil ? national : nil) else {
                pstnEnd(call, outcome: .failed, detail: "\(dest.name) has no DID entry for \(national)")
                return
            }
            step(.didMapped, dest.name, "DID \(national) -> extension \(extNo)", call: id, fields: [StepField("number", national), StepField("extension", extNo)])
            ringLocal(call, pbx: dp, ext: extNo, delay: .zero)
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
            step(.extensionBusy, who, "subscriber busy", call: call.id, fields: [StepField("party", who)])
            pstnEnd(call, outcome: .busy, detail: "\(who) busy (busy tone)")
            return
        }
        busySubscribers.insert(number)
        call.destSubscriber = (ti, number)
        step(.extensionRinging, who, "ringing", call: call.id, fields: [StepField("party", who)])
        pstnSchedule(call, .alerting, after: call.pstnDelay)
        var rng = subscriberRNG
        let d = range.answerAfter.draw(&rng)
        subscriberRNG = rng
        call.pstnEvents.append(sim.schedule(.pstnAnswer(call: call.id), after: d))
    }

    /// Rings an extension for a call delivered by the public network or internally.
    func ringLocal(_ call: Call, pbx dp: Int, ext extNo: String, delay: SimTime) {
        let dest = pbxs[dp]
        let who = "\(dest.name)/\(extNo)"
        guard let ext = dest.extensions[extNo] else {
            pstnEnd(call, outcome: .failed, detail: "no extension \(who)")
            return
        }
        call.destExt = extNo
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
        pstnSchedule(call, .alerting, after: call.pstnDelay)
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
        if let c = call.destChannel {
            pbxs[c.pbx].release(group: c.group, channel: c.channel, now: sim.now)
            call.destChannel = nil
        }
        if let sub = call.destSubscriber { busySubscribers.remove(sub.number); call.destSubscriber = nil }
        if let de = call.destExt, let dp = call.destPBX, let e = pbxs[dp].extensions[de], e.activity == .ringing(call: call.id) {
            e.activity = .idle
        }
    }
}
