import Testing
import SimCore
import SIP
import Telephony
import Trace

/// The carrier's SIP server alone, through a fake context (issue 9 item 6): registrar (RFC 3261
/// §10.3), stateful proxy (§16: Max-Forwards, its own Via, hop-by-hop 100, CANCEL downstream,
/// downstream failure), injected faults (silent, 503 with Retry-After, 100 only, 200 as a UAS) and
/// the gateway to the public network.
@Suite struct CarrierServerTests {
    final class FakeContext: CarrierContext {
        var now = SimTime.zero
        var ids = 0
        /// Requests the server's transaction layer already holds ("branch METHOD"; ACK matches INVITE).
        var serverTxns = FakeServerTransactions()
        var responses: [(txn: Int, msg: SIPMessage)] = []
        var resent: [(msg: SIPMessage, ip: String, port: Int)] = []
        var forwarded: [(msg: SIPMessage, ip: String, port: Int, upstream: String)] = []
        var cancelled: [Int] = []
        var expiries: [(record: Int, after: SimTime)] = []
        var telcos: [String: String] = [:]
        var handed: [(call: Int, number: String)] = []
        var steps: [(kind: StepKind, detail: String, fields: [StepField])] = []

        func newTag() -> String { ids += 1; return "tag\(ids)" }
        func newBranch() -> String { ids += 1; return "z9hG4bK-down\(ids)" }
        func matchServerTransaction(_ request: SIPMessage, server: CarrierServer) -> Bool { serverTxns.matches(request) }
        func startServerTransaction(_ request: SIPMessage, server: CarrierServer, localPort: Int, replyTo: (ip: String, port: Int),
                                    transport: Transport, call: Int?) -> Int { serverTxns.start(request) }
        func respond(_ txn: Int, _ response: SIPMessage) { responses.append((txn, response)) }
        func sendRetransmission(_ message: SIPMessage, server: CarrierServer, fromPort: Int, to ip: String, port: Int,
                                transport: Transport, call: Int?) { resent.append((message, ip, port)) }
        func forward(_ invite: SIPMessage, server: CarrierServer, to ip: String, port: Int, upstream: String, call: Int?) -> Int {
            forwarded.append((invite, ip, port, upstream))
            return 100 + forwarded.count
        }
        func cancelDownstream(_ txn: Int, server: CarrierServer, call: Int?) { cancelled.append(txn) }
        func expire(record: Int, server: CarrierServer, after delay: SimTime) { expiries.append((record, delay)) }
        func publicNetworkCarrier(for number: String, call: Int?) -> String? { telcos.first { number.hasPrefix($0.key) }?.value }
        func handToPublicNetwork(call: Int, number: String, server: CarrierServer) { handed.append((call, number)) }
        func pbxOwning(number: String) -> String? { number == "0123451011" ? "PBX-2" : nil }
        func record(_ kind: StepKind, _ actor: CarrierServer, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
            steps.append((kind, detail(), fields()))
        }
        var codes: [Int] { responses.compactMap(\.msg.statusCode) }
    }

    let pbx2 = (ip: "198.51.100.20", port: 5060)
    let pbx1 = (ip: "198.51.100.10", port: 5060)

    func server(_ id: Int = 0, gateway: Bool = false, location: LocationService = LocationService(domain: "itsp.example")) -> CarrierServer {
        var c = SIPServerConfig(host: "sip\(id + 1)", domain: "itsp.example")
        c.pstnGateway = gateway
        return CarrierServer(id: id, config: c, ip: "203.0.113.\(10 + id)", name: "sip\(id + 1)", location: location)
    }

    func register(_ user: String, expires: Int, branch: String = "z9hG4bK-r1") -> SIPMessage {
        .register(registrarURI: "sip:itsp.example", aor: "sip:\(user)@itsp.example", fromTag: "f1", callID: "reg-2@pbx2", cseq: 1,
                  transport: .udp, localHostPort: "198.51.100.20:5060", contactUser: user, expires: expires, branch: branch)
    }

    func invite(_ user: String, branch: String = "z9hG4bK-i1", maxForwards: Int = 70) -> SIPMessage {
        var m = SIPMessage.invite(requestURI: "sip:\(user)@itsp.example", from: "sip:0983451000@itsp.example", fromTag: "f2",
                                  to: "sip:\(user)@itsp.example", callID: "c1@pbx1", cseq: 1, transport: .udp,
                                  localHostPort: "198.51.100.10:5060", localIP: pbx1.ip, contactUser: "0983451000",
                                  branch: branch, sessionID: 1)
        m.setHeader("Max-Forwards", String(maxForwards))
        return m
    }

    @Test func registrarBindsAndTheProxyForwardsToTheContact() throws {
        let ctx = FakeContext()
        let s = server()
        s.receive(register("0123451011", expires: 3600), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [200])
        let ok = try #require(ctx.responses.first?.msg)
        #expect(ok.header("Expires") == "3600")
        #expect(ok.header("Contact") == "<sip:0123451011@198.51.100.20:5060>;expires=3600")
        #expect(s.location.contact(of: "0123451011", now: ctx.now) == "sip:0123451011@198.51.100.20:5060")
        #expect(ctx.expiries.first?.after == .seconds(64)) // the upstream record outlives Timer J / H (64·T1)

        s.receive(invite("0123451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        // 100 Trying at once (hop by hop), then the INVITE downstream to the bound contact.
        #expect(ctx.codes == [200, 100])
        let fwd = try #require(ctx.forwarded.first)
        #expect(fwd.ip == pbx2.ip && fwd.port == 5060 && fwd.upstream == "z9hG4bK-i1")
        #expect(fwd.msg.requestURI == "sip:0123451011@198.51.100.20:5060")
        #expect(fwd.msg.header("Max-Forwards") == "69")
        #expect(fwd.msg.headerValues("Via").count == 2)
        #expect(fwd.msg.branch?.hasPrefix("z9hG4bK") == true && fwd.msg.branch != "z9hG4bK-i1")
        #expect(fwd.msg.topViaSentBy?.ip == s.ip)

        // Downstream 100 stays here; 180 and 200 go upstream without the proxy's Via.
        var down100 = fwd.msg.response(100)
        s.downstreamResponse(upstream: "z9hG4bK-i1", down100, ctx)
        #expect(ctx.codes == [200, 100])
        down100 = fwd.msg.response(180, toTag: "callee")
        s.downstreamResponse(upstream: "z9hG4bK-i1", down100, ctx)
        let up180 = try #require(ctx.responses.last?.msg)
        #expect(up180.statusCode == 180 && up180.headerValues("Via").count == 1 && up180.branch == "z9hG4bK-i1")
    }

    @Test func bindingsExpireAndExpiresZeroRemovesThem() {
        let ctx = FakeContext()
        let s = server()
        s.receive(register("0123451011", expires: 60), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        ctx.now = .seconds(61)
        s.receive(invite("0123451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [200, 100, 404])
        // The 404 names the PBX whose number it is.
        #expect(ctx.steps.last?.detail == "INVITE for 0123451011: PBX-2 is not registered with itsp.example: 404")

        s.receive(register("0123451011", expires: 600, branch: "z9hG4bK-r2"), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(s.location.contact(of: "0123451011", now: ctx.now) != nil)
        s.receive(register("0123451011", expires: 0, branch: "z9hG4bK-r3"), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(s.location.contact(of: "0123451011", now: ctx.now) == nil)
    }

    @Test func serversOfOneDomainShareTheLocationService() throws {
        let ctx = FakeContext()
        let location = LocationService(domain: "itsp.example")
        let a = server(0, location: location), b = server(1, location: location)
        a.receive(register("0123451011", expires: 3600), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        b.receive(invite("0123451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.forwarded.count == 1)
    }

    @Test func maxForwardsOfOneIsTooManyHops() {
        let ctx = FakeContext()
        let s = server()
        s.receive(register("0123451011", expires: 3600), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        s.receive(invite("0123451011", maxForwards: 1), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [200, 100, 483])
        #expect(ctx.forwarded.isEmpty)
    }

    @Test func retransmissionsGetTheLastAnswerAndAcksAreAbsorbed() throws {
        let ctx = FakeContext()
        let s = server()
        s.receive(invite("0123459999"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [100, 404])
        // While the server transaction holds the branch, it takes the retransmission (and the ACK).
        s.receive(invite("0123459999"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        var ack = invite("0123459999")
        ack.startLine = .request(method: "ACK", uri: "sip:0123459999@itsp.example")
        s.receive(ack, from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.serverTxns.started.count == 1 && ctx.codes == [100, 404] && ctx.resent.isEmpty)
        // After the transaction ended, the server's own record answers a retransmission again.
        ctx.serverTxns.endAll()
        s.receive(invite("0123459999"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.resent.map(\.msg.statusCode) == [404])
        #expect(ctx.resent.first?.ip == pbx1.ip)
        // 64 s later the record is gone: the same branch is a new request.
        s.expire(record: try #require(ctx.expiries.first).record)
        s.receive(invite("0123459999"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.serverTxns.started.count == 2)
    }

    @Test func cancelIsAnsweredAndSentDownstream() throws {
        let ctx = FakeContext()
        let s = server()
        s.receive(register("0123451011", expires: 3600), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        let inv = invite("0123451011")
        s.receive(inv, from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        s.receive(inv.cancelRequest(), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        // The CANCEL has its own transaction (same branch, method CANCEL) and gets 200.
        #expect(ctx.serverTxns.started.map(\.method) == ["REGISTER", "INVITE", "CANCEL"])
        #expect(ctx.responses.last?.txn == 3 && ctx.responses.last?.msg.statusCode == 200)
        #expect(ctx.cancelled == [101])
    }

    @Test func downstreamFailureGoesUpstreamWithoutTheProxysVia() throws {
        let ctx = FakeContext()
        let s = server()
        s.receive(register("0123451011", expires: 3600), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        s.receive(invite("0123451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        let fwd = try #require(ctx.forwarded.first)
        s.downstreamFailed(upstream: "z9hG4bK-i1", request: fwd.msg, downstreamIP: pbx2.ip, code: 408, ctx)
        let r = try #require(ctx.responses.last?.msg)
        #expect(r.statusCode == 408 && r.headerValues("Via").count == 1 && r.branch == "z9hG4bK-i1")
        #expect(ctx.steps.last?.fields.contains(StepField("action", "downstream-failed")) == true)
    }

    @Test func injectedFaults() throws {
        let ctx = FakeContext()
        let s = server()
        s.respond = RespondMode(code: 503, retryAfter: .seconds(30))
        s.receive(invite("0123451011", branch: "z9hG4bK-a"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [503])
        #expect(ctx.responses.last?.msg.header("Retry-After") == "30")
        s.receive(register("0123451011", expires: 3600), from: pbx2, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [503, 503]) // the registrar is down too
        #expect(s.location.contact(of: "0123451011", now: ctx.now) == nil)

        s.respond = RespondMode(code: RespondMode.silentCode, retryAfter: nil)
        s.receive(invite("0123451011", branch: "z9hG4bK-b"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [503, 503]) // read, no answer
        #expect(ctx.steps.last?.detail == "INVITE: read, no answer (silent, fault injected)")

        s.respond = RespondMode(code: 100, retryAfter: nil)
        s.receive(invite("0123451011", branch: "z9hG4bK-c"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [503, 503, 100])

        s.respond = RespondMode(code: 200, retryAfter: nil)
        s.receive(invite("0123451011", branch: "z9hG4bK-d"), from: pbx1, localPort: 6060, transport: .udp, call: 7, ctx)
        let ok = try #require(ctx.responses.last?.msg)
        #expect(ok.statusCode == 200 && ok.header("Contact") == "<sip:203.0.113.10:6060>")

        // A CANCEL is answered whatever the mode.
        s.respond = RespondMode(code: RespondMode.silentCode, retryAfter: nil)
        s.receive(invite("0123451011", branch: "z9hG4bK-c").cancelRequest(), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes.last == 200)
    }

    @Test func gatewayTerminatesUnregisteredNumbersOnThePublicNetwork() throws {
        let ctx = FakeContext()
        ctx.telcos = ["012": "Telco-012"]
        let s = server(gateway: true)
        s.receive(invite("0123451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.handed.count == 1 && ctx.handed.first?.number == "0123451011" && ctx.handed.first?.call == 7)
        #expect(ctx.codes == [100])
        s.publicNetworkProgress(call: 7, code: 180, ctx)
        s.publicNetworkProgress(call: 7, code: 200, ctx)
        let ringing = ctx.responses[1].msg, ok = ctx.responses[2].msg
        #expect(ringing.statusCode == 180 && ok.statusCode == 200)
        // One dialog: the same To tag on 180 and 200; the 200 carries an SDP answer and a Contact.
        #expect(SIPMessage.parameter("tag", in: ringing.header("To") ?? "") == SIPMessage.parameter("tag", in: ok.header("To") ?? ""))
        #expect(ok.header("Content-Type") == "application/sdp" && ok.body.contains("m=audio"))
        #expect(ok.header("Contact") == "<sip:0123451011@203.0.113.10:5060>")
        // The caller's BYE releases the public-network leg.
        var bye = invite("0123451011", branch: "z9hG4bK-bye")
        bye.startLine = .request(method: "BYE", uri: "sip:0123451011@203.0.113.10:5060")
        s.receive(bye, from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes.last == 200)
        #expect(ctx.steps.last?.detail == "BYE: releases the public-network leg")
    }

    @Test func publicNetworkFailuresMapToFinalResponses() throws {
        for (outcome, code) in [(CallOutcome.busy, 486), (.noAnswer, 480), (.blocked, 503), (.rejected, 603), (.failed, 404)] {
            let ctx = FakeContext()
            ctx.telcos = ["012": "Telco-012"]
            let s = server(gateway: true)
            s.receive(invite("0123451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
            s.publicNetworkFailed(call: 7, outcome: outcome, reason: .ringTimeout, ctx)
            #expect(ctx.codes == [100, code], "\(outcome)")
            // The leg is gone: a BYE on it is not the gateway's (481).
            var bye = invite("0123451011", branch: "z9hG4bK-bye")
            bye.startLine = .request(method: "BYE", uri: "sip:0123451011@203.0.113.10:5060")
            s.receive(bye, from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
            #expect(ctx.codes.last == 481)
        }
    }

    @Test func withoutATelcoForTheNumberAGatewayAnswers404() {
        let ctx = FakeContext()
        let s = server(gateway: true)
        s.receive(invite("0553451011"), from: pbx1, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.handed.isEmpty && ctx.codes == [100, 404])
    }
}
