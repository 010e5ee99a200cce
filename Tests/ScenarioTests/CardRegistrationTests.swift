import Testing
import SimCore
import SIP
import Routing
import Telephony
import Trace

/// The card's registration node alone, through a fake context (issue 9 item 6): a few lines
/// drive it as the world or live mode would, and every request, timer and step it asks for is
/// checked against the numbers of the feature guide and RFC 3261.
@Suite struct CardRegistrationTests {
    final class FakeContext: RegistrationContext {
        var nowNs: Int64 = 0
        var ownNetworkUp = true
        var blocked: [String: Int64] = [:]
        var timers = EventQueue<RegistrationTimer>()
        var sent: [(request: SIPMessage, to: RouteTarget, id: Int)] = []
        var abandoned: [Int] = []
        var resolutions: [String] = []
        var steps: [(StepKind, String, [StepField])] = []
        var states: [CardState] = []
        var registeredAt: [(RouteTarget, Int64)] = []
        var branches = 0
        func isBlocked(_ ip: String) -> Bool { (blocked[ip] ?? 0) > nowNs }
        func backoffStream(cycle: Int) -> Xoshiro256 { Xoshiro256(seed: UInt64(cycle)) }
        func resolutionStream(cseq: Int) -> Xoshiro256 { Xoshiro256(seed: UInt64(cseq)) }
        func schedule(_ timer: RegistrationTimer, at ns: Int64) -> EventID { timers.push(timer, at: SimTime(ns: ns)) }
        func cancel(_ id: EventID) { timers.cancel(id) }
        func startRegister(_ request: SIPMessage, to target: RouteTarget) -> Int { sent.append((request, target, sent.count + 1)); return sent.count }
        func abandonTransaction(_ id: Int) { abandoned.append(id) }
        func resolve(name: String, port: Int?, transport: Transport) { resolutions.append(name) }
        func block(_ ip: String, until ns: Int64) { blocked[ip] = ns }
        func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField]) { steps.append((kind, detail(), fields())) }
        func setCardState(_ s: CardState, reason: String) { states.append(s) }
        func registered(at target: RouteTarget, until ns: Int64) { registeredAt.append((target, ns)) }
        var localHostPort: String { "198.51.100.1:5060" }
        func newBranch() -> String { branches += 1; return "z9hG4bKfake\(branches)" }

        /// Fires the earliest timer, moving the clock to it.
        func fireNext(_ node: CardRegistration) -> RegistrationTimer? {
            guard let (at, _, t) = timers.pop() else { return nil }
            nowNs = at.ns
            node.timerFired(t, self)
            return t
        }
    }

    func card(_ registrar: String = "192.0.2.10", failover: String? = "192.0.2.11") -> CardConfig {
        var c = CardConfig(sipServer: .ip("192.0.2.10", port: nil), numbers: ["0987654321"])
        c.registrar = ServerAddress.parse(registrar)
        c.registrarFailover = failover
        c.failoverTimerRegister = .seconds(4)
        c.registerExpires = 120
        return c
    }

    func ok(_ r: SIPMessage, expires: Int) -> SIPMessage {
        r.response(200, toTag: "reg", extraHeaders: [("Contact", "<sip:0987654321@198.51.100.1:5060>;expires=\(expires)")])
    }

    @Test func silentRegistrarFailsOverAfterTheFailoverTimerAndRefreshesAtNinetyPercent() throws {
        let ctx = FakeContext()
        let node = CardRegistration(config: card(), actor: "PBX-1/V-SIPGW", callID: "reg-1@pbx1", fromTag: "rt1")
        node.scheduleCycle(at: 0, ctx)
        #expect(ctx.fireNext(node) == .cycle)
        #expect(ctx.sent.map(\.to.ip) == ["192.0.2.10"])
        let first = ctx.sent[0].request
        #expect(first.method == "REGISTER" && first.header("Expires") == "120" && first.header("CSeq") == "1 REGISTER")
        #expect(first.header("Call-ID") == "reg-1@pbx1")
        // Nothing back: the REGISTER failover timer fires at 4 s and the failover address is next.
        #expect(ctx.fireNext(node) == .failover(attempt: 1))
        #expect(ctx.nowNs == 4_000_000_000)
        #expect(ctx.abandoned == [1])
        #expect(ctx.sent.map(\.to.ip) == ["192.0.2.10", "192.0.2.11"])
        #expect(ctx.sent[1].request.header("CSeq") == "2 REGISTER")
        // 200 with expires=120 at 4.1 s: registered, card INS, refresh 108 s later (90 %).
        ctx.nowNs = 4_100_000_000
        node.response(txn: 2, ok(ctx.sent[1].request, expires: 120), ctx)
        #expect(ctx.states == [.ins])
        #expect(node.registeredWith?.ip == "192.0.2.11")
        let refreshAt: Int64 = 4_100_000_000 + 108_000_000_000
        #expect(ctx.registeredAt.first.map { $0.1 } == refreshAt)
        #expect(ctx.timers.peekTime()?.ns == refreshAt)
        #expect(ctx.fireNext(node) == .cycle) // the refresh starts again at the registrar
        #expect(ctx.sent.last?.to.ip == "192.0.2.10")
        #expect(ctx.steps.contains { $0.0 == .failover && $0.2.contains(StepField("from", "192.0.2.10:5060")) })
    }

    @Test func retryAfterBlocklistsAndEveryTargetFailingMakesTheCardOUS() {
        let ctx = FakeContext()
        let node = CardRegistration(config: card(), actor: "PBX-1/V-SIPGW", callID: "reg-1@pbx1", fromTag: "rt1")
        node.scheduleCycle(at: 0, ctx)
        _ = ctx.fireNext(node)
        node.response(txn: 1, ctx.sent[0].request.response(503, toTag: "x", extraHeaders: [("Retry-After", "120")]), ctx)
        #expect(ctx.blocked["192.0.2.10"] == 120_000_000_000)
        #expect(ctx.sent.map(\.to.ip) == ["192.0.2.10", "192.0.2.11"]) // the next target at once
        node.response(txn: 2, ctx.sent[1].request.response(403, toTag: "y"), ctx)
        #expect(ctx.states == [.ous])
        // Panasonic's fixed retry: the next cycle 10 s later skips the blocklisted registrar.
        #expect(ctx.timers.peekTime()?.ns == 10_000_000_000)
        _ = ctx.fireNext(node)
        #expect(ctx.sent.last?.to.ip == "192.0.2.11")
        #expect(ctx.steps.contains { $0.0 == .targetSkipped && $0.2.contains(StepField("target", "192.0.2.10")) })
    }

    @Test func aRegistrarNameIsResolvedThenTheCycleGoesOn() {
        let ctx = FakeContext()
        let node = CardRegistration(config: card("itsp.example", failover: nil), actor: "PBX-1/V-SIPGW", callID: "c", fromTag: "t")
        node.scheduleCycle(at: 0, ctx)
        _ = ctx.fireNext(node)
        #expect(ctx.resolutions == ["itsp.example"])
        #expect(ctx.sent.isEmpty)
        node.resolved(.addresses(["192.0.2.12"], port: 5060), for: "itsp.example", ctx)
        #expect(ctx.sent.map(\.to.ip) == ["192.0.2.12"])
        #expect(ctx.steps.contains { $0.0 == .targetsResolved })
    }

    @Test func unregisterSendsExpiresZeroWhereRegisteredAndStopsTheCycles() {
        let ctx = FakeContext()
        let node = CardRegistration(config: card(), actor: "PBX-1/V-SIPGW", callID: "c", fromTag: "t")
        node.scheduleCycle(at: 0, ctx)
        _ = ctx.fireNext(node)
        node.response(txn: 1, ok(ctx.sent[0].request, expires: 120), ctx)
        node.unregister(ctx)
        #expect(ctx.sent.last?.request.header("Expires") == "0")
        #expect(ctx.sent.last?.request.header("CSeq") == "2 REGISTER")
        #expect(node.unregistering)
        #expect(ctx.timers.isEmpty) // no refresh any more
        node.response(txn: 2, ok(ctx.sent[1].request, expires: 0), ctx)
        #expect(!node.unregistering)
        #expect(ctx.steps.last?.2.contains(StepField("event", "unregistered")) == true)
    }
}
