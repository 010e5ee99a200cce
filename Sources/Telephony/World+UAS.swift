import SimCore
import SIP
import Trace

/// The world as the context of a PBX's answering card (`CardUAS`): the PBX's SIP stack, engine
/// events for its legs, and the calls the same PBX placed.
final class WorldUASContext: CardUASContext {
    unowned(unsafe) let world: World
    let pi: Int
    init(world: World, pbx pi: Int) { self.world = world; self.pi = pi }
    private var pbx: PBXState { world.pbxs[pi] }
    private var actor: String { pbx.cardActor }

    func newTag() -> String { world.newTag() }
    func newBranch() -> String { world.newBranch() }
    func matchServerTransaction(_ request: SIPMessage) -> Bool {
        guard let id = world.serverTxn(for: request, at: pbx.ip) else { return false }
        world.serverReceive(id, request)
        return true
    }
    func startServerTransaction(_ request: SIPMessage, leg: Int, localPort: Int, replyTo: (ip: String, port: Int),
                                transport: Transport, call: Int?) -> Int {
        world.startServerTxn(request, owner: .pbxLeg(pbx: pi, leg: leg), localIP: pbx.ip, localPort: localPort, replyTo: replyTo,
                             transport: transport, timers: world.pbxTimers(pi), call: call, actor: actor)
    }
    func respond(_ txn: Int, _ response: SIPMessage) { world.serverRespond(txn, response) }
    func startTwoXX(_ response: SIPMessage, leg: Int, replyTo: (ip: String, port: Int), transport: Transport, call: Int?) -> Int {
        world.startTwoXX(response, owner: .pbxLeg(pbx: pi, leg: leg), localIP: pbx.ip, replyTo: replyTo, transport: transport,
                         timers: world.pbxTimers(pi), call: call, actor: actor)
    }
    func stopTwoXX(_ id: Int) { world.serverAck2xx(id) }
    func sendRetransmission(_ message: SIPMessage, to: (ip: String, port: Int), transport: Transport, call: Int?) {
        world.sendSIP(message, from: pbx.ip, to: to.ip, dstPort: to.port, transport: transport, call: call, retransmission: true)
    }
    func sendBye(_ bye: SIPMessage, to ip: String, port: Int, transport: Transport, call: Int?) {
        world.startTransaction(bye, owner: .uasBye, from: pbx.ip, to: ip, port: port, transport: transport,
                               timers: world.pbxTimers(pi), call: call, actor: actor)
    }
    func scheduleAnswer(leg: Int, after delay: SimTime) -> EventID { world.sim.schedule(.answer(pbx: pi, leg: leg), after: delay) }
    func scheduleRingTimeout(leg: Int, after delay: SimTime) -> EventID { world.sim.schedule(.legNoAnswer(pbx: pi, leg: leg), after: delay) }
    func scheduleCollect(leg: Int, after delay: SimTime) { world.sim.schedule(.legCollect(pbx: pi, leg: leg), after: delay) }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func isAnsweredCallPlacedHere(_ call: Int?) -> Bool {
        guard let c = call.flatMap({ pbx.calls[$0] }) else { return false }
        return c.answeredAt != nil && !c.recorded
    }
    func farEndHungUp(call id: Int) {
        guard let c = pbx.calls[id] else { return }
        world.step(.callEnded, "\(pbx.name)/\(c.callerExt)", "BYE received: the called side hung up", call: c.id,
                   fields: [StepField("side", "caller"), StepField("event", "bye-received")])
        pbx.farEndReleased(c, world.callerContexts[pi])
    }
    func answered(call: Int?, by party: String) {
        if let id = call, world.callIndex[id] != nil { world.answeredParty[id] = party }
    }
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor, detail(), call: call, fields: fields())
    }
}

extension World {
    /// The SIP timers of a PBX: its card's, else RFC 3261's defaults.
    func pbxTimers(_ pi: Int) -> TimerPolicy { pbxs[pi].card?.config.timers ?? .rfcDefault }

    func uasContext(_ pi: Int) -> WorldUASContext { uasContexts[pi] }

    /// A request arriving at a PBX goes to the answering side of its card.
    func pbxReceiveRequest(_ pi: Int, _ req: SIPMessage, from p: Packet, transport: Transport) {
        pbxs[pi].uas.receive(req, from: (p.srcIP, p.srcPort), localPort: p.dstPort, transport: transport, call: p.traceCall, uasContext(pi))
    }
}
