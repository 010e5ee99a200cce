import SimCore
import SIP
import Routing
import Trace

extension World {
    /// A message of a public-network call reaches the end that placed it: the caller's PBX, or the
    /// carrier server that terminated a SIP call on the public network (its gateway), which
    /// answers the INVITE with 180 or 200. An internal call's progress comes the same way, from
    /// the PBX itself.
    func pstnStep(call id: Int, _ s: PSTNStep) {
        switch s {
        case .arriveTelco(let ti, let toll):
            publicNetwork.arrive(call: id, telco: ti, toll: toll, publicNetworkContext)
        case .alerting, .connect:
            if case .gateway(let server)? = publicNetwork.origin(of: id) {
                sipServers[server].publicNetworkProgress(call: id, code: s == .connect ? 200 : 180, carrierContext)
            } else {
                withCall(id) { p, c, ctx in p.publicProgress(c, s, ctx) }
            }
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
}

/// The world as the context of the public network: its messages are engine events, the PBXs
/// behind public trunks take the calls offered to them, and a failure or a release reaches the
/// call's origin (the caller's PBX, or a carrier server's gateway).
final class WorldPublicNetworkContext: PublicNetworkContext {
    unowned(unsafe) let world: World
    init(world: World) { self.world = world }
    var now: SimTime { world.sim.now }
    func schedule(_ step: PSTNStep, call: Int, after delay: SimTime) -> EventID {
        world.sim.schedule(.pstn(call: call, step), after: delay)
    }
    func scheduleLineAnswer(call: Int, after delay: SimTime) -> EventID { world.sim.schedule(.lineAnswer(call: call), after: delay) }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func terminatingPBX(for national: String) -> (pbx: Int, group: Int)? { world.pbxForNumber(national) }
    func offer(call: Int, toPBX pbx: Int, group: Int, number: String) {
        world.pbxs[pbx].offer(call: call, group: group, number: number, world.calleeContexts[pbx])
    }
    func releaseCallee(call: Int, atPBX pbx: Int, quietly: Bool) {
        world.pbxs[pbx].releaseCallee(call: call, quietly: quietly, world.calleeContexts[pbx])
    }
    func failed(call: Int, origin: CircuitOrigin, outcome: CallOutcome, reason: EndReason) {
        switch origin {
        case .gateway(let server):
            world.gatewayLegs[call] = nil
            world.sipServers[server].publicNetworkFailed(call: call, outcome: outcome, reason: reason, world.carrierContext)
        case .pbx: world.endCall(call, outcome: outcome, reason: reason)
        }
    }
    func answered(call: Int, by party: String) { world.answeredParty[call] = party }
    func pbxName(_ pbx: Int) -> String { world.pbxs[pbx].name }
    func record(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor(), detail(), call: call, fields: fields())
    }
}

/// The world as the context of a PBX's receiving side for public-trunk and internal calls: its
/// timers are engine events, and ALERTING, CONNECT and failures travel back over the call's
/// public-network path, or, for an internal call, straight to the same PBX's caller side.
final class WorldCalleeContext: PBXCalleeContext {
    unowned(unsafe) let world: World
    let pi: Int
    init(world: World, pbx pi: Int) { self.world = world; self.pi = pi }
    var now: SimTime { world.sim.now }
    func scheduleAnswer(call: Int, after delay: SimTime) -> EventID { world.sim.schedule(.calleeAnswer(pbx: pi, call: call), after: delay) }
    func scheduleRingTimeout(call: Int, after delay: SimTime) -> EventID {
        world.sim.schedule(.calleeRingTimeout(pbx: pi, call: call), after: delay)
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func alerting(call: Int) { progress(.alerting, call: call) }
    func connect(call: Int, party: String) {
        world.answeredParty[call] = party
        progress(.connect, call: call)
    }
    private func progress(_ step: PSTNStep, call: Int) {
        if world.publicNetwork.carries(call) {
            world.publicNetwork.progress(step, call: call, world.publicNetworkContext)
        } else {
            // An internal call: the PBX's own caller side hears it at once.
            let e = world.sim.schedule(.pstn(call: call, step), after: .zero)
            world.pbxs[pi].callee[call]?.events.append(e)
        }
    }
    func failed(call: Int, outcome: CallOutcome, reason: EndReason) {
        if world.publicNetwork.carries(call) {
            world.publicNetwork.fail(call: call, outcome: outcome, reason: reason, world.publicNetworkContext)
        } else {
            world.endCall(call, outcome: outcome, reason: reason)
        }
    }
    func ringTimedOut(call: Int) {
        // Over the public network the failure goes to the call's origin: the caller's PBX ends the
        // call, a carrier's gateway answers its INVITE with 480 (as a DISCONNECT for no answer
        // would make it); an internal call ends at once.
        failed(call: call, outcome: .noAnswer, reason: .ringTimeout)
    }
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor, detail(), call: call, fields: fields())
    }
}
