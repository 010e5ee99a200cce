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
        let result = card.resolve(name: name, port: port, call: nil)
        card.registration.resolved(result, for: name, self)
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

    /// RFC 3263 for one name, run to the end at once against the live resolver (its answers come
    /// from memory or from the system resolver, which blocks), through the simulated PBX's TTL
    /// cache (`ResolverCache`): an answer still fresh is not asked again.
    func resolve(name: String, port: Int?, call: Int?) -> Resolution {
        var proc = ResolutionProcedure(name: name, port: port, transport: card.transport)
        var next = proc.first
        let who = "\(pbx.name)/resolver"
        for _ in 0..<32 {
            switch next {
            case .query(let qname, let qtype):
                let at = SimTime(ns: now)
                let response: DNSResponse
                if let cached = dnsCache.lookup(qname, qtype, now: at) {
                    step(.dnsCacheHit, by: who, "\(qtype.rawValue) \(qname): cached \(cached.summary)", call: call,
                         fields: [StepField("qname", qname), StepField("qtype", qtype.rawValue), StepField("rcode", cached.rcode.rawValue)])
                    response = cached
                } else {
                    step(.dnsQuery, by: who, "\(qtype.rawValue) \(qname) to the \(options.resolver.label) resolver (try 1)", call: call,
                         fields: [StepField("qname", qname), StepField("qtype", qtype.rawValue), StepField("server", options.resolver.label), StepField("try", 1)])
                    let (a, ttl) = options.resolver.answer(name: qname, type: qtype)
                    response = DNSResponse(id: 0, name: qname, type: qtype, rcode: a.rcode, ttl: SimTime(ns: ttl), srv: a.srv, a: a.a, additional: a.additional)
                    step(.dnsAnswer, by: who, "\(qtype.rawValue) \(qname): \(response.summary)", call: call,
                         fields: [StepField("qname", qname), StepField("qtype", qtype.rawValue), StepField("rcode", a.rcode.rawValue), StepField("ttl_ns", ttl)])
                    dnsCache.store(response, now: at)
                }
                let cache = dnsCache
                next = proc.answer(response.answer) { target in
                    guard let a = cache.lookup(target, .a, now: at), let aaaa = cache.lookup(target, .aaaa, now: at) else { return nil }
                    return a.a + aaaa.a
                }
            case .done(let r):
                if case .srv(let list) = r { for x in list { for ip in x.addresses { transport.learn(ip) } } }
                if case .addresses(let ips, _) = r { for ip in ips { transport.learn(ip) } }
                return r
            case .failed(let why):
                step(.dnsFailure, by: who, "resolution of \(name) failed: \(why)", call: call,
                     fields: [StepField("name", name), StepField("cause", "stage-failed"), StepField("reason", why)])
                return .failure(why)
            }
        }
        return .failure("resolution of \(name) did not finish")
    }
}
