import Routing
import SimCore
import SIP
import Telephony
import Trace

/// Live mode as the context of the card's registration node (`CardRegistration`, the one the
/// simulated card runs): wall-clock timers, real REGISTER transactions, the in-memory or system
/// resolver, the card's blocklist and the trace.
final class LiveRegistrationContext: RegistrationContext {
    unowned let card: LiveCard
    init(_ card: LiveCard) { self.card = card }
    var nowNs: Int64 { card.now }
    var ownNetworkUp: Bool { true }
    func isBlocked(_ ip: String) -> Bool { card.health.isBlocked(ip, now: card.now) }
    func backoffStream(cycle: Int) -> Xoshiro256 { card.streams.stream("register-backoff-\(card.pbx.name)-\(cycle)") }
    func resolutionStream(cseq: Int) -> Xoshiro256 { card.streams.stream("register-\(card.pbx.name)-\(cseq)") }
    func schedule(_ timer: RegistrationTimer, at ns: Int64) -> EventID {
        switch timer {
        case .cycle: return card.timers.push(.registerCycle, at: SimTime(ns: ns))
        case .failover(let attempt): return card.timers.push(.registerFailover(attempt: attempt), at: SimTime(ns: ns))
        }
    }
    func cancel(_ id: EventID) { card.timers.cancel(id) }
    func startRegister(_ request: SIPMessage, to t: RouteTarget) -> Int {
        card.startTransaction(request, owner: .register, to: Endpoint(ip: t.ip, port: t.port), transport: t.transport, call: nil)
    }
    func abandonTransaction(_ id: Int) { card.abandon(id) }
    func resolve(name: String, port: Int?, transport: Transport) {
        card.stub.resolve(name: name, port: port, transport: transport, for: .registration(pbx: 0), call: nil, card.resolverContext)
    }
    func block(_ ip: String, until ns: Int64) { card.addToBlocklist(ip, until: ns, call: nil) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField]) {
        card.step(kind, detail(), fields: fields())
    }
    func setCardState(_ s: CardState, reason: String) { card.setCardState(s, reason: reason) }
    func registered(at target: RouteTarget, until ns: Int64) { card.health.registered(at: target, until: ns) }
    var localHostPort: String { card.localHostPort }
    func newBranch() -> String { card.newBranch() }
}

extension LiveCard {
    func setCardState(_ s: CardState, reason: String) {
        guard cardState != s else { return }
        let old = cardState
        cardState = s
        step(.cardState, "\(old.rawValue) -> \(s.rawValue): \(reason)",
             fields: [StepField("pbx", pbx.name), StepField("from", old.rawValue), StepField("to", s.rawValue), StepField("reason", reason)])
    }
}

/// Live mode as the context of the card's stub resolver (`StubResolver`, the node the simulated
/// PBX runs): a query is answered at once by the live resolver (the scenario's records in memory,
/// or res_query), so a resolution runs to its end within the call that starts it.
final class LiveResolverContext: ResolverContext {
    unowned let card: LiveCard
    init(_ card: LiveCard) { self.card = card }
    var nowNs: Int64 { card.now }
    var serverAddress: String? { card.options.resolver.available ? card.options.resolver.label : nil }
    var timeoutNs: Int64 { 2_000_000_000 }
    var tries: Int { 1 }
    func send(_ query: DNSQuery) {
        let (a, ttl) = card.options.resolver.answer(name: query.name, type: query.type)
        card.stub.answer(DNSResponse(id: query.id, name: query.name, type: query.type, rcode: a.rcode, ttl: SimTime(ns: ttl),
                                     srv: a.srv, a: a.a, additional: a.additional), self)
    }
    func scheduleTimeout(job: Int, attempt: Int, at ns: Int64) -> EventID { card.timers.push(.dnsTimeout(job: job, attempt: attempt), at: SimTime(ns: ns)) }
    func cancel(_ id: EventID) { card.timers.cancel(id) }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
        card.step(kind, by: "\(card.pbx.name)/resolver", detail(), call: call, fields: fields())
    }
    func finished(_ requester: ResolveRequester, name: String, result: Resolution) {
        // What the scenario's names resolve to may be sent to (loopback or private, or --yes).
        if case .srv(let list) = result { for x in list { for ip in x.addresses { card.transport.learn(ip) } } }
        if case .addresses(let ips, _) = result { for ip in ips { card.transport.learn(ip) } }
        switch requester {
        case .call(let c): card.calls[c]?.trunk?.resolved(result, for: name, card.trunkContext)
        case .registration: card.registration.resolved(result, for: name, card.registrationContext)
        }
    }
}
