import SimCore
import SIP
import Routing
import Trace

/// The world as the context of the calls' trunk nodes (`TrunkCall`): the engine's timers, the
/// simulated network's transactions, the PBX's stub resolver, the card's blocklist and fail-back,
/// the public trunk for a reroute, and the trace.
final class WorldTrunkContext: TrunkCallContext {
    unowned let world: World
    init(world: World) { self.world = world }

    var nowNs: Int64 { world.sim.now.ns }
    func isBlocked(_ ip: String, call: TrunkCall) -> Bool {
        // A TIE call over an IP gateway has no card blocklist (its only target is the gateway).
        guard let c = world.calls[call.id], c.viaGateway == nil else { return false }
        return world.pbxs[c.pbx].card?.health.isBlocked(ip, now: nowNs) ?? false
    }
    func isLive(_ call: TrunkCall) -> Bool { world.calls[call.id] != nil }
    func resolve(name: String, port: Int?, for call: TrunkCall) {
        guard let c = world.calls[call.id] else { return }
        world.resolve(pbx: c.pbx, name: name, port: port, transport: world.sipSettings(c).transport, for: .call(c.id), call: c.id)
    }
    func sendInvite(_ call: TrunkCall, to target: RouteTarget) -> Int { world.sendInvite(world.calls[call.id]!, to: target) }
    func scheduleFailoverTimer(_ call: TrunkCall, attempt: Int, at ns: Int64) -> EventID {
        world.sim.schedule(.failoverTimer(call: call.id, attempt: attempt), at: SimTime(ns: ns))
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func abandonTransaction(_ id: Int) { world.abandonTransaction(id) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: TrunkCall, _ fields: @autoclosure () -> [StepField]) {
        guard world.traceLevel != .calls, let c = world.calls[call.id] else { return }
        world.step(kind, world.sipSettings(c).actor, detail(), call: call.id, fields: fields())
    }
    func block(_ ip: String, until ns: Int64, call: TrunkCall) {
        guard let c = world.calls[call.id] else { return }
        world.addToBlocklist(pbx: c.pbx, ip: ip, until: SimTime(ns: ns), call: call.id)
    }
    func alive(_ call: TrunkCall, target: RouteTarget) {
        guard let c = world.calls[call.id] else { return }
        world.noteAlive(pbx: c.pbx, target: target, attempt: call.attempts, call: call.id)
    }
    func reroute(_ call: TrunkCall, reason: String) {
        guard let c = world.calls[call.id] else { return }
        world.step(.reroute, world.pbxs[c.pbx].name, "\(reason): reroute to the public trunk", call: c.id, fields: [StepField("reason", reason)])
        c.rerouted = true
        world.startPublic(c)
    }
    func connected(_ call: TrunkCall, target: RouteTarget) {
        guard let c = world.calls[call.id] else { return }
        c.route = .sip
        world.noteConnected(pbx: c.pbx, target: target, attempt: call.attempts, call: c.id)
        world.callConnected(c)
    }
    func finished(_ call: TrunkCall, outcome: CallOutcome, code: Int) {
        guard let c = world.calls[call.id] else { return }
        c.finalCode = code
        world.end(c, outcome: outcome, detail: "\(code) \(ReasonPhrase.for(code)) over SIP, no reroute (policy \(world.pbxs[c.pbx].card?.config.reroutePolicy.rawValue ?? "failures"))")
    }
}
