import Testing
import SimCore
import SIP
import Routing
import Telephony
import Trace

/// One call's routing over the SIP trunk (`TrunkCall`) alone, through a fake context (issue 9
/// item 6): the feature guide's order (server, failover address, DNS targets), 4 s per silent
/// target, the 503 with Retry-After, the reroute when every target failed, and a definitive answer.
@Suite struct TrunkCallTests {
    final class FakeContext: TrunkCallContext {
        var nowNs: Int64 = 0
        var actionLists = ActionListPool<CallRouter.Action>(capacity: CallRouter.Action.listCapacity)
        var blocked: [String: Int64] = [:]
        var timers = EventQueue<Int>()
        var invites: [(target: RouteTarget, at: Int64)] = []
        var abandoned: [Int] = []
        var resolutions: [String] = []
        var steps: [(StepKind, [StepField])] = []
        var alive: [String] = []
        var rerouted: String?
        var connectedTo: RouteTarget?
        var finishedWith: (CallOutcome, Int)?
        var live = true
        func isBlocked(_ ip: String, call: TrunkCall) -> Bool { (blocked[ip] ?? 0) > nowNs }
        func isLive(_ call: TrunkCall) -> Bool { live }
        func resolve(name: String, port: Int?, for call: TrunkCall) { resolutions.append(name) }
        func sendInvite(_ call: TrunkCall, to target: RouteTarget) -> Int { invites.append((target, nowNs)); return invites.count }
        func scheduleFailoverTimer(_ call: TrunkCall, attempt: Int, at ns: Int64) -> EventID { timers.push(attempt, at: SimTime(ns: ns)) }
        func cancel(_ id: EventID) { timers.cancel(id) }
        func abandonTransaction(_ id: Int) { abandoned.append(id) }
        func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: TrunkCall, _ fields: @autoclosure () -> [StepField]) { steps.append((kind, fields())) }
        func block(_ ip: String, until ns: Int64, call: TrunkCall) { blocked[ip] = ns }
        func alive(_ call: TrunkCall, target: RouteTarget) { alive.append(target.ip) }
        func reroute(_ call: TrunkCall, reason: CallRouter.RerouteReason) { rerouted = reason.description; live = false }
        func connected(_ call: TrunkCall, target: RouteTarget) { connectedTo = target }
        func finished(_ call: TrunkCall, outcome: CallOutcome, code: Int) { finishedWith = (outcome, code); live = false }

        /// Fires the earliest failover timer, moving the clock to it.
        func fire(_ call: TrunkCall) {
            guard let (at, _, attempt) = timers.pop() else { return }
            nowNs = at.ns
            call.failoverTimerFired(attempt: attempt, at: at.ns, self)
        }
    }

    func seedCall(policy: ReroutePolicy = .failures) -> TrunkCall {
        var card = CardConfig(sipServer: .ip("192.0.2.10", port: nil), numbers: ["0987654321"])
        card.sipServerFailover = "192.0.2.11"
        card.registrar = .name("itsp.example", port: nil)
        card.reroutePolicy = policy
        let router = CallRouter(config: .init(inviteTimeout: 4_000_000_000, reroutePolicy: policy),
                                sequence: card.inviteSequence(registeredWith: nil, preferred: nil))
        return TrunkCall(id: 1, router: router, rng: Xoshiro256(seed: 1))
    }

    func response(_ code: Int, _ extra: [(name: String, value: String)] = []) -> SIPMessage {
        SIPMessage(startLine: .response(code: code, reason: ReasonPhrase.for(code)), headers: [("CSeq", "1 INVITE")] + extra)
    }

    /// The seed call: every target silent, 4 s each, then the public trunk at 12 s.
    @Test func everySilentTargetIsLeftAfterFourSecondsThenTheCallReroutes() {
        let ctx = FakeContext()
        let call = seedCall()
        call.start(ctx)
        #expect(ctx.invites.map(\.target.ip) == ["192.0.2.10"])
        ctx.fire(call)
        #expect(ctx.invites.map(\.target.ip) == ["192.0.2.10", "192.0.2.11"])
        #expect(ctx.invites.last?.at == 4_000_000_000)
        ctx.fire(call)
        #expect(ctx.resolutions == ["itsp.example"]) // the DNS stage
        call.resolved(.srv([.init(record: SRVRecord(priority: 10, weight: 0, port: 5060, target: "sip3"), addresses: ["192.0.2.12"]),
                            .init(record: SRVRecord(priority: 20, weight: 0, port: 5060, target: "sip1"), addresses: ["192.0.2.10"])]),
                      for: "itsp.example", ctx)
        #expect(ctx.invites.map(\.target.ip) == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]) // 192.0.2.10 not twice
        ctx.fire(call)
        #expect(ctx.steps.contains { $0.0 == .targetSkipped && $0.1.contains(StepField("target", "192.0.2.10")) })
        #expect(ctx.nowNs == 12_000_000_000)
        #expect(ctx.rerouted == "all 3 SIP targets failed")
        #expect(ctx.abandoned == [1, 2, 3])
        #expect(call.targets == ["192.0.2.10", "192.0.2.11", "192.0.2.12"] && call.attempts == 3)
    }

    @Test func a503WithRetryAfterBlocklistsAndMovesOnAtOnce() {
        let ctx = FakeContext()
        let call = seedCall()
        call.start(ctx)
        ctx.nowNs = 20_000_000
        call.response(response(503, [("Retry-After", "120")]), ctx)
        let until: Int64 = 20_000_000 + 120_000_000_000
        #expect(ctx.blocked["192.0.2.10"] == until)
        #expect(ctx.invites.map(\.target.ip) == ["192.0.2.10", "192.0.2.11"])
        #expect(ctx.invites.last?.at == 20_000_000)
        #expect(ctx.alive.isEmpty) // a 503 proves nothing alive
    }

    @Test func aProvisionalStopsFailoverAndA2xxConnects() {
        let ctx = FakeContext()
        let call = seedCall()
        call.start(ctx)
        call.response(response(180), ctx)
        #expect(ctx.timers.isEmpty) // no per-target timeout after a provisional
        #expect(ctx.alive == ["192.0.2.10"])
        call.response(response(200), ctx)
        #expect(ctx.connectedTo?.ip == "192.0.2.10")
        #expect(call.inviteTxn == nil)
    }

    @Test func aDefinitiveAnswerEndsTheCallUnlessThePolicySaysAnyError() {
        let ctx = FakeContext()
        let call = seedCall()
        call.start(ctx)
        call.response(response(486), ctx)
        #expect(ctx.finishedWith.map { "\($0.0) \($0.1)" } == "busy 486")
        #expect(ctx.rerouted == nil)
        let ctx2 = FakeContext()
        let call2 = seedCall(policy: .anyError)
        call2.start(ctx2)
        call2.response(response(486), ctx2)
        #expect(ctx2.rerouted?.hasPrefix("486") == true)
    }
}
