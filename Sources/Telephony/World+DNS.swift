import SimCore
import SIP
import Routing
import Trace

/// The world as the context of a PBX's stub resolver node (`StubResolver`): queries travel the
/// simulated network to the site's DNS server, timeouts are engine events, results go to the call
/// or the registration that asked.
final class WorldResolverContext: ResolverContext {
    unowned(unsafe) let world: World
    let pi: Int
    /// The PBX and its trunk context, held (fixed once the world is built), as the caller context does.
    unowned(unsafe) let pbx: PBXState
    unowned(unsafe) let trunks: WorldTrunkContext
    init(world: World, pbx pi: Int) {
        self.world = world; self.pi = pi; pbx = world.pbxs[pi]; trunks = world.trunkContexts[pi]
    }

    var nowNs: Int64 { world.sim.now.ns }
    var serverAddress: String? { world.config.dns == nil ? nil : world.dnsServer?.hostIP }
    var timeoutNs: Int64 { world.config.dns?.resolverTimeout.ns ?? 0 }
    var tries: Int { world.config.dns?.resolverAttempts ?? 1 }
    func send(_ query: DNSQuery) {
        guard let server = world.dnsServer else { return }
        _ = world.sendDNS(.dnsQuery(query), from: pbx.ip, srcPort: 53000 + pi, to: server.hostIP, dstPort: 53)
    }
    func scheduleTimeout(job: Int, attempt: Int, at ns: Int64) -> EventID {
        world.sim.schedule(.dnsTimeout(pbx: pi, job: job, attempt: attempt), at: SimTime(ns: ns))
    }
    func cancel(_ id: EventID) { world.sim.cancel(id) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, "\(pbx.name)/resolver", detail(), call: call, fields: fields())
    }
    func finished(_ requester: ResolveRequester, name: String, result: Resolution) {
        switch requester {
        case .call(let c):
            pbx.calls[c]?.trunk?.resolved(result, for: name, trunks)
        case .registration(let p):
            world.pbxs[p].card?.registration.resolved(result, for: name, world.registrationContext(p))
        }
    }
}

/// The world as the context of the site's DNS server: names of the simulated hosts, responses
/// on the simulated network.
final class WorldDNSContext: DNSServerContext {
    unowned(unsafe) let world: World
    init(world: World) { self.world = world }
    func address(ofHostNamed name: String) -> String? { world.network.address(ofHostNamed: name) }
    func send(_ response: DNSResponse, from: String, to ip: String, port: Int) {
        _ = world.sendDNS(.dnsResponse(response), from: from, srcPort: 53, to: ip, dstPort: port)
    }
}

extension World {
    func resolverContext(_ pi: Int) -> WorldResolverContext { resolverContexts[pi] }

    /// Starts the RFC 3263 resolution of `name` at a PBX's stub resolver for a requester.
    func resolve(pbx pi: Int, name: String, port: Int?, transport: Transport, for requester: ResolveRequester, call: Int?) {
        pbxs[pi].stub.resolve(name: name, port: port, transport: transport, for: requester, call: call, resolverContext(pi))
    }

    func dnsTimeout(pbx pi: Int, job id: Int, attempt: Int) {
        pbxs[pi].stub.timeout(job: id, attempt: attempt, resolverContext(pi))
    }

    func dnsAnswer(pbx pi: Int, _ r: DNSResponse) {
        pbxs[pi].stub.answer(r, resolverContext(pi))
    }
}
