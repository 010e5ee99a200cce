import SimCore
import SIP
import Routing
import Trace

/// The world as the context of the calls' trunk nodes (`TrunkCall`): the engine's timers, the
/// simulated network's transactions, the PBX's stub resolver, the card's blocklist and fail-back,
/// the public trunk for a reroute, and the trace.
final class WorldTrunkContext: TrunkCallContext {
    unowned(unsafe) let world: World
    /// The PBX whose calls these are.
    let pi: Int
    /// The PBX itself (the world's PBXs are fixed once it is built): looked up through the
    /// world's array it was retained and released per use.
    unowned(unsafe) let pbx: PBXState
    init(world: World, pbx pi: Int) { self.world = world; self.pi = pi; pbx = world.pbxs[pi] }
    var actionLists = ActionListPool<CallRouter.Action>(capacity: CallRouter.Action.listCapacity)

    var nowNs: Int64 { world.sim.now.ns }
    private var ctx: WorldCallerContext { world.callerContexts[pi] }
    func isBlocked(_ ip: String, call: TrunkCall) -> Bool {
        // An empty blocklist first: the call is looked up only when some address is blocked.
        guard let card = pbx.card, card.health.hasBlocked else { return false }
        // A TIE call over an IP gateway has no card blocklist (its only target is the gateway).
        guard let c = pbx.calls[call.id], c.viaGateway == nil else { return false }
        return card.health.isBlocked(ip, now: nowNs)
    }
    func isLive(_ call: TrunkCall) -> Bool { !call.ended }
    func resolve(name: String, port: Int?, for call: TrunkCall) {
        guard let c = pbx.calls[call.id] else { return }
        world.resolve(pbx: pi, name: name, port: port, transport: pbx.sipSettings(c).transport, for: .call(c.id), call: c.id)
    }
    func sendInvite(_ call: TrunkCall, to target: RouteTarget) -> Int { pbx.sendInvite(pbx.calls[call.id]!, to: target, ctx) }
    func scheduleFailoverTimer(_ call: TrunkCall, attempt: Int, at ns: Int64) -> EventID {
        world.sim.schedule(.failoverTimer(call: call.id, attempt: attempt), at: SimTime(ns: ns))
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func abandonTransaction(_ id: Int) { world.abandonTransaction(id) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: TrunkCall, _ fields: @autoclosure () -> [StepField]) {
        guard world.traceLevel != .calls, let c = pbx.calls[call.id] else { return }
        world.step(kind, pbx.sipSettings(c).actor, detail(), call: call.id, fields: fields())
    }
    func block(_ ip: String, until ns: Int64, call: TrunkCall) {
        guard pbx.calls[call.id] != nil else { return }
        world.addToBlocklist(pbx: pi, ip: ip, until: SimTime(ns: ns), call: call.id)
    }
    func alive(_ call: TrunkCall, target: RouteTarget) {
        guard pbx.calls[call.id] != nil else { return }
        pbx.noteAlive(target: target, attempt: call.attempts, call: call.id, ctx)
    }
    func reroute(_ call: TrunkCall, reason: CallRouter.RerouteReason) {
        guard let c = pbx.calls[call.id] else { return }
        world.step(.reroute, pbx.name, "\(reason): reroute to the public trunk", call: c.id, fields: [StepField("reason", reason.description)])
        c.rerouted = true
        pbx.startPublic(c, ctx)
    }
    func connected(_ call: TrunkCall, target: RouteTarget) {
        guard let c = pbx.calls[call.id] else { return }
        c.route = .sip
        pbx.noteConnected(target: target, attempt: call.attempts, call: c.id, ctx)
        pbx.sipConnected(c, ctx)
    }
    func finished(_ call: TrunkCall, outcome: CallOutcome, code: Int) {
        guard let c = pbx.calls[call.id] else { return }
        c.finalCode = code
        pbx.end(c, outcome: outcome, reason: .sipFinal(code: code, policy: pbx.card?.config.reroutePolicy.rawValue ?? "failures"), ctx)
    }
}
