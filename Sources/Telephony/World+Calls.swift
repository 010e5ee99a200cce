import SimCore
import SIP
import Routing
import Trace

extension World {
    // MARK: - The calls in progress (the registry; each call is the calling PBX's)

    /// A call in progress, by id.
    public func call(_ id: Int) -> Call? { callIndex[id].flatMap { pbxs[$0].calls[id] } }

    /// How many calls are in progress (an answered call whose BYE is still under way included).
    public var callsInProgress: Int { callIndex.count }

    /// Finds an extension; `pbx` nil means the number must be unique across PBXs.
    public func findExtension(_ ref: ExtensionRef) -> (pbx: Int, ext: ExtensionState)? {
        if let name = ref.pbx {
            guard let pi = pbxs.firstIndex(where: { $0.name == name }), let e = pbxs[pi].extensions[ref.number] else { return nil }
            return (pi, e)
        }
        let matches = pbxs.indices.compactMap { i in pbxs[i].extensions[ref.number].map { (i, $0) } }
        return matches.count == 1 ? matches[0] : nil
    }

    /// A `dial` command or a traffic arrival: the extension's PBX places the call.
    func dial(_ ref: ExtensionRef, number: String, hold: SimTime?) {
        guard let (pi, ext) = findExtension(ref) else {
            commandErrors.append("dial: no extension \(ref)")
            step(.command, "scenario", "dial \(ref) \(number): no such extension", fields: [StepField("command", "dial"), StepField("error", "no such extension")])
            return
        }
        pbxs[pi].dial(ext, number: number, hold: hold, callerContexts[pi])
    }

    /// Runs `body` on the call and its PBX, with that PBX's caller context, if the call is in progress.
    func withCall(_ id: Int, _ body: (PBXState, Call, WorldCallerContext) -> Void) {
        guard let pi = callIndex[id], let c = pbxs[pi].calls[id] else { return }
        body(pbxs[pi], c, callerContexts[pi])
    }

    /// Ends a call that was not answered (a failure reported back to its PBX).
    func endCall(_ id: Int, outcome: CallOutcome, reason: EndReason) {
        withCall(id) { p, c, ctx in p.end(c, outcome: outcome, reason: reason, ctx) }
    }
}

/// The world as the context of a PBX's calling side: engine events for its calls, identifiers
/// unique in the run, the PBX's SIP stack on the simulated network, the public network, and the
/// trace (the call rows go to the sink and to `onCallEnded`).
final class WorldCallerContext: PBXCallerContext {
    unowned(unsafe) let world: World
    let pi: Int
    /// The PBX itself and its trunk context, held (the world's PBXs are fixed once it is built):
    /// looked up through the world's arrays they were retained and released per use.
    unowned(unsafe) let pbx: PBXState
    unowned(unsafe) let trunks: WorldTrunkContext
    init(world: World, pbx pi: Int) {
        self.world = world; self.pi = pi; pbx = world.pbxs[pi]; trunks = world.trunkContexts[pi]
    }

    var now: SimTime { world.sim.now }
    var noAnswerTimeout: SimTime { world.config.defaults.noAnswerTimeout }
    var defaultHold: SimTime { world.config.defaults.hold }
    func calendarNow() -> (weekday: Int, minute: Int) {
        let t = world.config.startEpoch + world.sim.now.ns / 1_000_000_000
        let day = Int((t >= 0 ? t : t - 86399) / 86400)
        let sec = Int(t - Int64(day) * 86400)
        return (((day + 4) % 7 + 7) % 7, sec / 60)
    }
    func newCallID() -> Int {
        world.callCount += 1
        world.callIndex[world.callCount] = pi
        return world.callCount
    }
    func uniqueToken() -> String { hexTagged("", world.nextID()) }
    func newTag() -> String { world.newTag() }
    func newBranch() -> String { world.newBranch() }
    func scheduleNoAnswer(call: Int, after delay: SimTime) -> EventID { world.sim.schedule(.noAnswer(call: call), after: delay) }
    func scheduleHangup(call: Int, after delay: SimTime) -> EventID { world.sim.schedule(.hangup(call: call), after: delay) }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func callStream(_ call: Int) -> Xoshiro256 { world.streams.stream("call-", number: call) }
    func startTransaction(_ request: SIPMessage, branch: String?, owner: TxnOwner, to ip: String, port: Int, transport: Transport,
                          timers: TimerPolicy, call: Int?, actor: String) -> Int {
        world.startTransaction(request, branch: branch, owner: owner, from: pbx.ip, to: ip, port: port, transport: transport, timers: timers, call: call, actor: actor)
    }
    func transaction(_ id: Int) -> Txn? { world.transactions[id] }
    func abandonTransaction(_ id: Int) { world.abandonTransaction(id) }
    func send(_ message: SIPMessage, to ip: String, port: Int, transport: Transport, call: Int, retransmission: Bool) {
        world.sendSIP(message, from: pbx.ip, to: ip, dstPort: port, transport: transport, call: call, retransmission: retransmission)
    }
    var ownNetworkUp: Bool { world.network.isUp(pbx.ip) }
    func gatewayAvailable(_ ip: String) -> Bool { world.network.isUp(ip) }
    func setCardState(_ s: CardState, reason: String) { world.setCardState(pbx: pi, s, reason: reason) }
    var trunkContext: TrunkCallContext { trunks }
    func publicSetup(call: Int, digits: String, telco: String) -> Bool {
        guard let ti = world.publicNetwork.telco(named: telco) else { return false }
        world.publicNetwork.setup(call: call, digits: digits, origin: .pbx(pi), originTelco: ti, at: ti, toll: false, world.publicNetworkContext)
        return true
    }
    func publicRelease(call: Int) { world.publicNetwork.release(call: call, world.publicNetworkContext) }
    var calleeContext: PBXCalleeContext { world.calleeContexts[pi] }
    func answeredParty(of call: Int) -> String? { world.answeredParty[call] }
    func callRecorded(_ record: CallRecord) {
        world.sink.record(.callEnded(record))
        world.onCallEnded?(record)
    }
    func forgotten(call: Int) {
        world.callIndex[call] = nil
        world.answeredParty[call] = nil
        if let s = world.gatewayLegs.removeValue(forKey: call) { world.sipServers[s].callEnded(call) }
    }
    func record(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor(), detail(), call: call, fields: fields())
    }
}
