import Testing
import SimCore
import SIP
import Telephony
import Trace

/// The IP network alone, through a fake context (issue 9 item 6): latency per host, a refused SIP
/// port (ICMP back after one round trip), hosts down at send time and in flight, partitions,
/// loss on UDP but not on TCP, and the TLS handshake paid once per pair of hosts.
@Suite struct NetworkTests {
    final class FakeContext: NetworkContext {
        var now = SimTime.zero
        var deliveries: [(id: Int, after: SimTime)] = []
        var captured: [(src: String, dst: String, delivered: Bool)] = []
        var steps: [StepKind] = []
        func scheduleDelivery(packet id: Int, after delay: SimTime) { deliveries.append((id, delay)) }
        func capture(_ message: SIPMessage, src: @autoclosure () -> String, dst: @autoclosure () -> String, transport: Transport, call: Int?, delivered: Bool, retransmission: Bool) {
            captured.append((src(), dst(), delivered))
        }
        func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
            steps.append(kind)
        }
    }

    func network() -> Network {
        var n = Network(latency: .milliseconds(10), rng: Xoshiro256(seed: 9))
        n.addHost(name: "pbx1", ip: "198.51.100.1")
        n.addHost(name: "sip1", ip: "192.0.2.10")
        n.addHost(name: "far", ip: "203.0.113.5")
        _ = n.update("far") { $0.latency = .milliseconds(80) }
        return n
    }

    let invite = SIPMessage.invite(requestURI: "sip:0123451011@itsp.example", from: "sip:1000@itsp.example", fromTag: "f",
                                   to: "sip:0123451011@itsp.example", callID: "c@pbx1", cseq: 1, transport: .udp,
                                   localHostPort: "198.51.100.1:5060", localIP: "198.51.100.1", contactUser: "1000",
                                   branch: "z9hG4bK-n1", sessionID: 1)

    func send(_ n: inout Network, _ ctx: FakeContext, to dst: String, transport: Transport = .udp, msg: SIPMessage? = nil) {
        n.sendSIP(msg ?? invite, from: "198.51.100.1", srcPort: 5060, to: dst, dstPort: 5060, transport: transport, call: 1,
                  retransmission: false, ctx)
    }

    /// A host is found by its name or its address; where one host's name is another's address
    /// the name wins, whichever was added first.
    @Test func hostsAreFoundByNameOrAddressNameFirst() {
        var n = network()
        #expect(n.index(of: "sip1") == 1 && n.index(of: "192.0.2.10") == 1)
        #expect(n.index(of: "nowhere") == nil)
        n.addHost(name: "198.51.100.1", ip: "198.51.100.9")   // named like pbx1's address
        n.addHost(name: "odd", ip: "far")                        // addressed like far's name
        #expect(n.index(of: "198.51.100.1") == 3)
        #expect(n.index(of: "far") == 2)
        #expect(n.index(of: "198.51.100.9") == 3 && n.index(of: "odd") == 4)
        #expect(n.name(ofIP: "198.51.100.1") == "pbx1")
    }

    @Test func latencyIsTheSlowerHostsOrTheNetworks() throws {
        let ctx = FakeContext()
        var n = network()
        send(&n, ctx, to: "192.0.2.10")
        send(&n, ctx, to: "203.0.113.5")
        #expect(ctx.deliveries.map(\.after) == [.milliseconds(10), .milliseconds(80)])
        let first = n.arrive(packet: ctx.deliveries[0].id, ctx)
        let p = try #require(first)
        #expect(p.dstIP == "192.0.2.10" && p.traceCall == 1)
        let again = n.arrive(packet: ctx.deliveries[0].id, ctx)
        #expect(again == nil) // delivered once
        #expect(ctx.captured.allSatisfy { $0.delivered })
    }

    @Test func aClosedPortAnswersWithICMPAfterARoundTrip() throws {
        let ctx = FakeContext()
        var n = network()
        _ = n.update("sip1") { $0.refusesSIP = true }
        send(&n, ctx, to: "192.0.2.10")
        #expect(ctx.captured.last?.delivered == false)
        let back = try #require(ctx.deliveries.last)
        #expect(back.after == .milliseconds(20))
        let arrived = n.arrive(packet: back.id, ctx)
        let p = try #require(arrived)
        guard case .unreachable(let branch, let method, .udp) = p.payload else { Issue.record("not an ICMP error"); return }
        #expect(branch == "z9hG4bK-n1" && method == "INVITE" && p.dstIP == "198.51.100.1")
        // The error about a CANCEL (same branch as its INVITE) names the CANCEL: its own
        // client transaction's key, not the INVITE's.
        send(&n, ctx, to: "192.0.2.10", msg: invite.cancelRequest())
        let cancelICMP = try #require(ctx.deliveries.last)
        let cancelArrived = n.arrive(packet: cancelICMP.id, ctx)
        let cancelBack = try #require(cancelArrived)
        guard case .unreachable(let b2, let m2, .udp) = cancelBack.payload else { Issue.record("not an ICMP error"); return }
        #expect(b2 == "z9hG4bK-n1" && m2 == "CANCEL")
        #expect(ClientTransaction.key(branch: b2, method: m2) != ClientTransaction.key(branch: branch, method: method))
        // A response to a closed port gets nothing back.
        send(&n, ctx, to: "192.0.2.10", msg: invite.response(200, toTag: "t"))
        #expect(ctx.deliveries.count == 2)
    }

    @Test func downHostsAndPartitionsDrop() throws {
        let ctx = FakeContext()
        var n = network()
        _ = n.update("sip1") { $0.up = false }
        send(&n, ctx, to: "192.0.2.10")
        #expect(ctx.deliveries.isEmpty && ctx.captured.last?.delivered == false)
        _ = n.update("sip1") { $0.up = true }
        n.partition(["pbx1"], ["far"])
        send(&n, ctx, to: "203.0.113.5")
        #expect(ctx.deliveries.isEmpty)
        n.heal()
        // Sent while up, the destination goes down in flight: dropped on arrival, with a step.
        send(&n, ctx, to: "192.0.2.10")
        _ = n.update("sip1") { $0.up = false }
        let last = try #require(ctx.deliveries.last)
        let dropped = n.arrive(packet: last.id, ctx)
        #expect(dropped == nil)
        #expect(ctx.steps == [.packetDropped])
    }

    @Test func lossHitsUDPButNotTCP() {
        let ctx = FakeContext()
        var n = network()
        n.loss = 0.5
        for _ in 0..<2000 { send(&n, ctx, to: "192.0.2.10") }
        #expect(abs(Double(ctx.deliveries.count) / 2000 - 0.5) < 0.05, "\(ctx.deliveries.count) of 2000 delivered")
        let before = ctx.deliveries.count
        for _ in 0..<200 { send(&n, ctx, to: "192.0.2.10", transport: .tcp) }
        #expect(ctx.deliveries.count - before == 200)
    }

    @Test func tlsPaysTheHandshakeOncePerPair() {
        let ctx = FakeContext()
        var n = network()
        send(&n, ctx, to: "192.0.2.10", transport: .tls)
        #expect(ctx.deliveries.last?.after == .milliseconds(30)) // one round trip more than 10 ms
        #expect(ctx.steps == [.tlsConnect])
        send(&n, ctx, to: "192.0.2.10", transport: .tls)
        n.sendSIP(invite.response(180, toTag: "t"), from: "192.0.2.10", srcPort: 5061, to: "198.51.100.1", dstPort: 5061,
                  transport: .tls, call: 1, retransmission: false, ctx)
        #expect(ctx.deliveries.suffix(2).map(\.after) == [.milliseconds(10), .milliseconds(10)]) // reused, both ways
        n.dropConnections(of: ["192.0.2.10"])
        send(&n, ctx, to: "192.0.2.10", transport: .tls)
        #expect(ctx.deliveries.last?.after == .milliseconds(30) && ctx.steps.count == 2)
    }
}
