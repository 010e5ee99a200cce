import SimCore
import SIP
import Trace

/// The world as the context of the carrier's SIP servers (`CarrierServer`): their transactions run
/// in the world's transaction layer, their packets on the simulated network, and a gateway
/// server's calls on the simulated public network.
final class WorldCarrierContext: CarrierContext {
    unowned(unsafe) let world: World
    init(world: World) { self.world = world }

    var now: SimTime { world.sim.now }
    func newTag() -> String { world.newTag() }
    func newBranch() -> String { world.newBranch() }

    func matchServerTransaction(_ request: SIPMessage, server: CarrierServer) -> Bool {
        guard let id = world.serverTxn(for: request, at: server.ip) else { return false }
        world.serverReceive(id, request)
        return true
    }
    func startServerTransaction(_ request: SIPMessage, server: CarrierServer, localPort: Int, replyTo: (ip: String, port: Int),
                                transport: Transport, call: Int?) -> Int {
        world.startServerTxn(request, owner: .server, localIP: server.ip, localPort: localPort, replyTo: replyTo, transport: transport,
                             timers: .rfcDefault, call: call, actor: server.name)
    }
    func respond(_ txn: Int, _ response: SIPMessage) { world.serverRespond(txn, response) }
    func sendRetransmission(_ message: SIPMessage, server: CarrierServer, fromPort: Int, to ip: String, port: Int,
                            transport: Transport, call: Int?) {
        world.sendSIP(message, from: server.ip, srcPort: fromPort, to: ip, dstPort: port, transport: transport, call: call, retransmission: true)
    }
    func forward(_ invite: SIPMessage, server: CarrierServer, to ip: String, port: Int, upstream: String, call: Int?) -> Int {
        world.startTransaction(invite, owner: .proxyInvite(server: server.id, upstreamBranch: upstream), from: server.ip,
                               to: ip, port: port, transport: .udp, timers: .rfcDefault, call: call, actor: server.name)
    }
    func cancelDownstream(_ txn: Int, server: CarrierServer, call: Int?) {
        guard let t = world.transactions[txn], case .invite(let x) = t.machine, x.state == .proceeding else { return }
        // Built as a UAC builds one (§16.10 refers to §9.1): the proxy's own Via only, no Contact.
        let c = x.request.cancelRequest()
        world.startTransaction(c, owner: .proxyCancel, from: server.ip, to: t.remoteIP, port: t.remotePort,
                               transport: .udp, timers: .rfcDefault, call: call, actor: server.name)
    }
    func expire(record: Int, server: CarrierServer, after delay: SimTime) {
        world.sim.schedule(.serverTxnExpiry(server: server.id, record: record), after: delay)
    }
    func publicNetworkCarrier(for number: String, call: Int?) -> String? {
        guard let c = call, world.callIndex[c] != nil, let ti = world.publicNetwork.owner(of: number) else { return nil }
        return world.telcos[ti].name
    }
    func handToPublicNetwork(call id: Int, number: String, server: CarrierServer) {
        guard let c = world.call(id), let ti = world.publicNetwork.owner(of: number) else { return }
        // The number's company takes the call as a toll call; local numbers are in the area of the
        // caller PBX's company.
        world.gatewayLegs[id] = server.id
        let originTelco = world.publicNetwork.telco(named: world.pbxs[c.pbx].config.telco) ?? ti
        world.publicNetwork.setup(call: id, digits: number, origin: .gateway(server: server.id), originTelco: originTelco, at: ti,
                                  toll: true, world.publicNetworkContext)
    }
    func pbxOwning(number: String) -> String? {
        world.pbxs.first(where: { $0.card?.config.numbers.contains(number) == true })?.name
    }
    func record(_ kind: StepKind, _ actor: CarrierServer, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor.name, detail(), call: call, fields: fields())
    }
}

extension World {
    /// A response for the proxy's INVITE downstream, or its failure.
    func proxyResponse(server si: Int, upstream: String, _ r: SIPMessage) {
        sipServers[si].downstreamResponse(upstream: upstream, r, carrierContext)
    }

    func proxyDownstreamFailed(server si: Int, txn: Txn, upstream: String, code: Int) {
        guard case .invite(let x) = txn.machine else { return }
        sipServers[si].downstreamFailed(upstream: upstream, request: x.request, downstreamIP: txn.remoteIP, code: code, carrierContext)
    }
}
