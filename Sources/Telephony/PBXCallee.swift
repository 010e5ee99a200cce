import SimCore
import Trace

/// What a PBX's receiving side for calls that do not come over its SIP card (its public trunk,
/// and its own extensions' internal calls) may ask of whoever runs it: timers for the extension it
/// rings, the way back to the caller (the public network's path, or the same PBX for an internal
/// call), and the trace. The PBX never touches the caller's record: what it has to say travels as
/// ALERTING, CONNECT or a failure.
protocol PBXCalleeContext: AnyObject {
    var now: SimTime { get }
    func scheduleAnswer(call: Int, after delay: SimTime) -> EventID
    func scheduleRingTimeout(call: Int, after delay: SimTime) -> EventID
    func cancel(_ id: EventID)
    /// ALERTING toward the caller (the extension rings).
    func alerting(call: Int)
    /// CONNECT toward the caller; `party` is the trace's name of who answered.
    func connect(call: Int, party: String)
    /// The call cannot be completed here (trunk busy, no DID entry, extension absent or busy).
    func failed(call: Int, outcome: CallOutcome, reason: EndReason)
    /// The extension rang out the ring timeout: the call ends as not answered.
    func ringTimedOut(call: Int)
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField])
}

extension PBXState {
    /// SETUP from the public network reached public trunk group `gi`: an incoming channel, the
    /// DID entry, then the extension rings.
    func offer(call id: Int, group gi: Int, number national: String, _ ctx: PBXCalleeContext) {
        guard let ch = seize(group: gi, now: ctx.now) else {
            ctx.record(.trunkBusy, name, "trunk group \(groups[gi].config.id): all \(groups[gi].config.channels) channels busy (incoming)", call: id,
                       [StepField("direction", "incoming"), StepField("trunk_group", groups[gi].config.id), StepField("channels", groups[gi].config.channels)])
            ctx.failed(call: id, outcome: .busy, reason: .farEndTrunkBusy)
            return
        }
        callee[id, default: CalleeSide()].channel = ChannelRef(group: gi, channel: ch)
        ctx.record(.trunkSeized, name, "incoming trunk group \(groups[gi].config.id) channel \(ch + 1) seized (\(trunkInUse)/\(trunkChannels))", call: id,
                   [StepField("direction", "incoming"), StepField("trunk_group", groups[gi].config.id), StepField("channel", ch + 1),
                    StepField("in_use", trunkInUse), StepField("channels", trunkChannels)])
        guard let extNo = didMap(national) else {
            ctx.failed(call: id, outcome: .failed, reason: .noDIDEntry(pbx: name, number: national))
            return
        }
        ctx.record(.didMapped, name, "DID \(national) -> extension \(extNo)", call: id, [StepField("number", national), StepField("extension", extNo), StepField("via", "did")])
        ring(call: id, ext: extNo, ctx)
    }

    /// Rings an extension for a call delivered by the public network or internally.
    func ring(call id: Int, ext extNo: String, _ ctx: PBXCalleeContext) {
        let who = "\(name)/\(extNo)"
        guard let ext = extensions[extNo] else {
            ctx.failed(call: id, outcome: .failed, reason: .noExtension(who))
            return
        }
        callee[id, default: CalleeSide()].ext = extNo
        if ext.mode == .absent {
            ctx.record(.callRejected, who, "extension absent", call: id, [StepField("party", who), StepField("reason", "absent")])
            ctx.failed(call: id, outcome: .failed, reason: .extensionAbsent(who))
            return
        }
        if !ext.isFree {
            ctx.record(.extensionBusy, who, "busy", call: id, [StepField("party", who)])
            ctx.failed(call: id, outcome: .busy, reason: .extensionBusy(who))
            return
        }
        ext.activity = .ringing(call: id)
        ctx.record(.extensionRinging, who, "ringing", call: id, [StepField("party", who)])
        ctx.alerting(call: id)
        let timer = ext.mode != .unanswered
            ? ctx.scheduleAnswer(call: id, after: ext.answerAfter.draw(&ringRNG))
            : ctx.scheduleRingTimeout(call: id, after: ringTimeout)
        callee[id]?.events.append(timer)
    }

    /// The ringing extension answers: CONNECT travels back.
    func answer(call id: Int, _ ctx: PBXCalleeContext) {
        guard let extNo = callee[id]?.ext, let ext = extensions[extNo] else { return }
        ext.activity = .talking(call: id)
        let who = "\(name)/\(extNo)"
        ctx.record(.extensionAnswered, who, "answers", call: id, [StepField("party", who)])
        ctx.connect(call: id, party: who)
    }

    /// The extension rang out the ring timeout.
    func ringTimeoutExpired(call id: Int, _ ctx: PBXCalleeContext) {
        ctx.record(.callRejected, callee[id]?.ext.map { "\(name)/\($0)" } ?? "PSTN", "not answered within \(ringTimeout.durationString)", call: id,
                   [StepField("reason", "ring timeout"), StepField("timeout_ns", ringTimeout.ns)])
        ctx.ringTimedOut(call: id)
    }

    /// The call is released: the incoming channel is freed (recorded unless `quietly`), the
    /// extension it rang or talked on is idle again, and its timers stop.
    func releaseCallee(call id: Int, quietly: Bool, _ ctx: PBXCalleeContext) {
        guard let side = callee.removeValue(forKey: id) else { return }
        for e in side.events { ctx.cancel(e) }
        if let c = side.channel {
            release(group: c.group, channel: c.channel, now: ctx.now)
            if !quietly {
                ctx.record(.trunkReleased, name, "incoming trunk group \(groups[c.group].config.id) channel \(c.channel + 1) released", call: id,
                           [StepField("direction", "incoming"), StepField("trunk_group", groups[c.group].config.id), StepField("channel", c.channel + 1)])
            }
        }
        if let extNo = side.ext, let e = extensions[extNo] {
            switch e.activity {
            case .ringing(let c) where c == id: e.activity = .idle
            case .talking(let c) where c == id && !quietly: e.activity = .idle
            default: break
            }
        }
    }
}
