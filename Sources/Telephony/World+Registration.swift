import SimCore
import SIP
import Routing
import Trace

/// The world as the context of one card's registration node: its engine timers, the network's
/// transactions, the PBX's stub resolver, the card's blocklist and the trace.
final class WorldRegistrationContext: RegistrationContext {
    unowned(unsafe) let world: World
    let pi: Int
    init(world: World, pbx pi: Int) { self.world = world; self.pi = pi }

    var card: VSIPGWCard { world.pbxs[pi].card! }
    var nowNs: Int64 { world.sim.now.ns }
    var ownNetworkUp: Bool { world.network.isUp(world.pbxs[pi].ip) }
    func isBlocked(_ ip: String) -> Bool { card.health.isBlocked(ip, now: nowNs) }
    func backoffStream(cycle: Int) -> Xoshiro256 { world.streams.stream("register-backoff-\(world.pbxs[pi].name)-\(cycle)") }
    func resolutionStream(cseq: Int) -> Xoshiro256 { world.streams.stream("register-\(world.pbxs[pi].name)-\(cseq)") }
    func schedule(_ timer: RegistrationTimer, at ns: Int64) -> EventID {
        switch timer {
        case .cycle: return world.sim.schedule(.registerCycle(pbx: pi), at: SimTime(ns: ns))
        case .failover(let attempt): return world.sim.schedule(.registerFailover(pbx: pi, attempt: attempt), at: SimTime(ns: ns))
        }
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func startRegister(_ request: SIPMessage, to t: RouteTarget) -> Int {
        let p = world.pbxs[pi]
        return world.startTransaction(request, owner: .register(pbx: pi), from: p.ip, to: t.ip, port: t.port, transport: t.transport,
                                      timers: card.config.timers, call: nil, actor: card.registration.actor)
    }
    func abandonTransaction(_ id: Int) { world.abandonTransaction(id) }
    func resolve(name: String, port: Int?, transport: Transport) {
        world.resolve(pbx: pi, name: name, port: port, transport: transport, for: .registration(pbx: pi), call: nil)
    }
    func block(_ ip: String, until ns: Int64) { world.addToBlocklist(pbx: pi, ip: ip, until: SimTime(ns: ns), call: nil) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, card.registration.actor, detail(), fields: fields())
    }
    func setCardState(_ s: CardState, reason: String) { world.setCardState(pbx: pi, s, reason: reason) }
    func registered(at target: RouteTarget, until ns: Int64) { card.health.registered(at: target, until: ns) }
    var localHostPort: String { hostPort(world.pbxs[pi].ip, 5060) }
    func newBranch() -> String { world.newBranch() }
}

extension World {
    func registrationContext(_ pi: Int) -> WorldRegistrationContext { registrationContexts[pi] }

    /// A registration timer of a card fired.
    func registrationTimer(pbx pi: Int, _ t: RegistrationTimer) {
        guard let card = pbxs[pi].card else { return }
        card.registration.timerFired(t, registrationContext(pi))
    }

    /// Starts a card's registration cycle now (at start, or when its host comes back up).
    func scheduleRegistration(pbx pi: Int) {
        pbxs[pi].card?.registration.scheduleCycle(at: sim.now.ns, registrationContext(pi))
    }

    func setCardState(pbx pi: Int, _ s: CardState, reason: String) {
        guard let card = pbxs[pi].card, card.state != s else { return }
        let old = card.state
        card.state = s
        step(.cardState, pbxs[pi].cardActor, "\(old.rawValue) -> \(s.rawValue): \(reason)",
             fields: [StepField("pbx", pbxs[pi].name), StepField("from", old.rawValue), StepField("to", s.rawValue), StepField("reason", reason)])
    }

    // MARK: - Blocklist and fail-back

    func addToBlocklist(pbx pi: Int, ip: String, until: SimTime, call: Int?) {
        guard let card = pbxs[pi].card else { return }
        card.health.block(ip, until: until.ns)
        step(.blocklistAdded, pbxs[pi].cardActor, "\(ip) gets no request until \(until) (Retry-After)", call: call,
             fields: [StepField("ip", ip), StepField("until_ns", until.ns)])
        sim.schedule(.blocklistExpiry(pbx: pi, address: addressID(ip)), at: until)
    }

    func blocklistExpired(pbx pi: Int, ip: String) {
        guard let card = pbxs[pi].card, card.health.unblockIfExpired(ip, now: sim.now.ns) else { return }
        step(.blocklistExpired, pbxs[pi].cardActor, "\(ip) eligible again", fields: [StepField("ip", ip)])
    }
}
