import SimCore
import SIP
import Routing
import Trace

/// The world as the context of the calls' trunk nodes (`TrunkCall`): the engine's timers, the
/// simulated network's transactions, the PBX's stub resolver, the card's blocklist and fail-back,
/// the public trunk for a reroute, and the trace.
final class WorldTrunkContext: TrunkCallContext {
    unowned(unsafe) let world: World
    init(world: World) { self.world = world }

    var nowNs: Int64 { world.sim.now.ns }
    private func caller(_ call: TrunkCall) -> (PBXState, Call, WorldCallerContext)? {
        guard let pi = world.callIndex[call.id], let c = world.pbxs[pi].calls[call.id] else { return nil }
        return (world.pbxs[pi], c, world.callerContexts[pi])
    }
    func isBlocked(_ ip: String, call: TrunkCall) -> Bool {
        // A TIE call over an IP gateway has no card blocklist (its only target is the gateway).
        guard let (p, c, _) = caller(call), c.viaGateway == nil else { return false }
        return p.card?.health.isBlocked(ip, now: nowNs) ?? false
    }
    func isLive(_ call: TrunkCall) -> Bool { world.callIndex[call.id] != nil }
    func resolve(name: String, port: Int?, for call: TrunkCall) {
        guard let (p, c, _) = caller(call) else { return }
        world.resolve(pbx: p.index, name: name, port: port, transport: p.sipSettings(c).transport, for: .call(c.id), call: c.id)
    }
    func sendInvite(_ call: TrunkCall, to target: RouteTarget) -> Int {
        let (p, c, ctx) = caller(call)!
        return p.sendInvite(c, to: target, ctx)
    }
    func scheduleFailoverTimer(_ call: TrunkCall, attempt: Int, at ns: Int64) -> EventID {
        world.sim.schedule(.failoverTimer(call: call.id, attempt: attempt), at: SimTime(ns: ns))
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func abandonTransaction(_ id: Int) { world.abandonTransaction(id) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: TrunkCall, _ fields: @autoclosure () -> [StepField]) {
        guard world.traceLevel != .calls, let (p, c, _) = caller(call) else { return }
        world.step(kind, p.sipSettings(c).actor, detail(), call: call.id, fields: fields())
    }
    func block(_ ip: String, until ns: Int64, call: TrunkCall) {
        guard let (p, _, _) = caller(call) else { return }
        world.addToBlocklist(pbx: p.index, ip: ip, until: SimTime(ns: ns), call: call.id)
    }
    func alive(_ call: TrunkCall, target: RouteTarget) {
        guard let (p, _, ctx) = caller(call) else { return }
        p.noteAlive(target: target, attempt: call.attempts, call: call.id, now: world.sim.now, ctx)
    }
    func reroute(_ call: TrunkCall, reason: String) {
        guard let (p, c, ctx) = caller(call) else { return }
        world.step(.reroute, p.name, "\(reason): reroute to the public trunk", call: c.id, fields: [StepField("reason", reason)])
        c.rerouted = true
        p.startPublic(c, ctx)
    }
    func connected(_ call: TrunkCall, target: RouteTarget) {
        guard let (p, c, ctx) = caller(call) else { return }
        c.route = .sip
        p.noteConnected(target: target, attempt: call.attempts, call: c.id, ctx)
        p.sipConnected(c, ctx)
    }
    func finished(_ call: TrunkCall, outcome: CallOutcome, code: Int) {
        guard let (p, c, ctx) = caller(call) else { return }
        c.finalCode = code
        p.end(c, outcome: outcome, detail: "\(code) \(ReasonPhrase.for(code)) over SIP, no reroute (policy \(p.card?.config.reroutePolicy.rawValue ?? "failures"))", ctx)
    }
}
