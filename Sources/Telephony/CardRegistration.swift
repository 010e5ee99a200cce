import SimCore
import SIP
import Routing
import Trace

/// The timers a card's registration arms.
public enum RegistrationTimer: Sendable, Equatable {
    /// The next registration cycle (start, refresh, retry).
    case cycle
    /// The REGISTER failover timer of the REGISTER with this CSeq.
    case failover(attempt: Int)
}

/// What a card's registration may ask of whoever runs it: the simulated world, or live mode on
/// real sockets (issue 9 item 2: a node reaches its driver only through a narrow context).
public protocol RegistrationContext: AnyObject {
    /// Now, nanoseconds on the driver's clock.
    var nowNs: Int64 { get }
    /// Whether the card's own network is up (a simulated host can go down; live mode: always).
    var ownNetworkUp: Bool { get }
    func isBlocked(_ ip: String) -> Bool
    /// The random source of the RFC 5626 wait for a cycle number.
    func backoffStream(cycle: Int) -> Xoshiro256
    /// The random source that orders SRV targets of equal priority for REGISTER `cseq`.
    func resolutionStream(cseq: Int) -> Xoshiro256
    func schedule(_ timer: RegistrationTimer, at ns: Int64) -> EventID
    func cancel(_ id: EventID)
    /// Starts a non-INVITE client transaction for the REGISTER; its responses and failure come
    /// back through `CardRegistration.response` and `targetFailed`. Returns its id.
    func startRegister(_ request: SIPMessage, to target: RouteTarget) -> Int
    func abandonTransaction(_ id: Int)
    /// Resolves a name (RFC 3263) and hands the result to `CardRegistration.resolved`, now or later.
    func resolve(name: String, port: Int?, transport: Transport)
    /// Puts an address on the card's Retry-After blocklist until then (shared with INVITE routing).
    func block(_ ip: String, until ns: Int64)
    /// The detail and fields are built only when the trace level records steps.
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField])
    func setCardState(_ s: CardState, reason: String)
    /// The card is registered at `target` until the refresh (fail-back `registration`).
    func registered(at target: RouteTarget, until ns: Int64)
    /// `ip:port` the card puts in Via and Contact.
    var localHostPort: String { get }
    /// A new Via branch.
    func newBranch() -> String
}

/// A card's registration with its registrar (a node of the card): it owns the `RegistrationCore`,
/// the SIP identity of its REGISTERs, the outstanding transaction and its timers, and records its
/// steps. The simulated world and live mode both run this same object.
public final class CardRegistration {
    public let config: CardConfig
    /// The card's name in the trace (`PBX-1/V-SIPGW`).
    public let actor: String
    let callID: String
    let fromTag: String
    public private(set) var core: RegistrationCore?
    public private(set) var txn: Int?
    private var failoverTimer: EventID?
    private var cycleTimer: EventID?
    /// The REGISTER with Expires: 0 is outstanding.
    public private(set) var unregistering = false
    private var unregisterTxn: Int?

    public init(config: CardConfig, actor: String, callID: String, fromTag: String) {
        self.config = config; self.actor = actor; self.callID = callID; self.fromTag = fromTag
    }

    public var registeredWith: RouteTarget? { core?.registeredWith }
    public var registeredUntil: SimTime { SimTime(ns: core?.registeredUntil ?? 0) }
    public var active: Bool { core?.active ?? false }
    public var cseq: Int { core?.cseq ?? 0 }
    public var lastTarget: RouteTarget? { core?.lastTarget }
    /// A cycle's first REGISTER is awaited.
    public var firstAnswerPending: Bool { txn != nil && registeredWith == nil && (core?.cycles ?? 0) == 1 }

    /// Schedules the next cycle at `ns` (replacing one already scheduled).
    public func scheduleCycle(at ns: Int64, _ ctx: RegistrationContext) {
        if let t = cycleTimer { ctx.cancel(t) }
        cycleTimer = ctx.schedule(.cycle, at: ns)
    }

    private func input(_ ctx: RegistrationContext, _ f: (inout RegistrationCore) -> [RegistrationCore.Action]?) {
        var c = core ?? RegistrationCore(config: config.registrationConfig)
        let actions = f(&c)
        core = c
        if let actions { perform(actions, ctx) }
    }

    private func backoff(_ ctx: RegistrationContext) -> (Int) -> Xoshiro256 { { [unowned ctx] in ctx.backoffStream(cycle: $0) } }
    private func blocked(_ ctx: RegistrationContext) -> (String) -> Bool { { [unowned ctx] in ctx.isBlocked($0) } }

    /// A timer this node armed fired.
    public func timerFired(_ timer: RegistrationTimer, _ ctx: RegistrationContext) {
        switch timer {
        case .cycle:
            cycleTimer = nil
            let up = ctx.ownNetworkUp, now = ctx.nowNs
            input(ctx) { $0.startCycle(now: now, ownNetworkUp: up, isBlocked: blocked(ctx), backoff: backoff(ctx)) }
        case .failover(let attempt):
            guard core?.cseq == attempt, txn != nil else { return }
            failoverTimer = nil
            ctx.record(.timerFired, "Failover Timer (REGISTER) for \(lastTarget?.hostPort ?? "?")", [StepField("timer", "register-failover")] + (lastTarget.map { [StepField("target", $0.hostPort)] } ?? []))
            input(ctx) { $0.failoverTimerFired(attempt: attempt, isBlocked: blocked(ctx), backoff: backoff(ctx)) }
        }
    }

    /// The registrar name was resolved (RFC 3263): the targets join the cycle, which goes on.
    public func resolved(_ result: Resolution, for name: String, _ ctx: RegistrationContext) {
        guard core != nil else { return }
        var rng = ctx.resolutionStream(cseq: cseq)
        core?.provide(result, for: name, using: &rng)
        if let list = core?.resolvedTargets(name) {
            ctx.record(.targetsResolved, "REGISTER: \(name) -> \(list.map(\.hostPort).joined(separator: ", "))",
                       [StepField("method", "REGISTER"), StepField("name", name), StepField("targets", list.map(\.hostPort).joined(separator: ","))])
        }
        input(ctx) { $0.next(isBlocked: blocked(ctx), backoff: backoff(ctx)) }
    }

    /// The REGISTER transaction `id` ended without a final response (Timer F, a transport error).
    public func targetFailed(txn id: Int, reason: String, _ ctx: RegistrationContext) {
        if id == unregisterTxn { unregistering = false; unregisterTxn = nil; return }
        guard txn == id else { return }
        let armed = failoverTimer != nil
        input(ctx) { $0.targetFailed(reason, timerArmed: armed, isBlocked: blocked(ctx), backoff: backoff(ctx)) }
    }

    /// A response to the REGISTER transaction `id`.
    public func response(txn id: Int, _ r: SIPMessage, _ ctx: RegistrationContext) {
        guard let code = r.statusCode else { return }
        if id == unregisterTxn {
            guard code >= 200 else { return }
            unregistering = false
            unregisterTxn = nil
            ctx.record(.registration, "unregistered: \(ReasonPhrase.status(code))", [StepField("event", "unregistered"), StepField("code", code)])
            return
        }
        guard txn == id else { return }
        if code >= 200 { txn = nil } // the transaction completed
        let expires = r.header("Contact").flatMap { SIPMessage.parameter("expires", in: $0) }.flatMap { Int($0) } ?? Int(r.header("Expires") ?? "")
        let armed = failoverTimer != nil, now = ctx.nowNs, retryAfter = r.retryAfterSeconds
        input(ctx) {
            $0.response(code: code, retryAfter: retryAfter, expires: expires, now: now, timerArmed: armed, isBlocked: blocked(ctx), backoff: backoff(ctx))
        }
    }

    private func register(to t: RouteTarget, cseq: Int, expires: Int, _ ctx: RegistrationContext) -> Int {
        let domain = config.sipDomain
        let number = config.numbers.first ?? "pbx"
        let reg = SIPMessage.register(registrarURI: "sip:\(domain)", aor: "sip:\(number)@\(domain)", fromTag: fromTag, callID: callID,
                                      cseq: cseq, transport: t.transport, localHostPort: ctx.localHostPort, contactUser: number,
                                      expires: expires, branch: ctx.newBranch())
        return ctx.startRegister(reg, to: t)
    }

    /// Performs the core's actions, in order, with the steps they record.
    private func perform(_ actions: [RegistrationCore.Action], _ ctx: RegistrationContext) {
        for a in actions {
            switch a {
            case .ownNetworkDown(let wait):
                ctx.setCardState(.fault, reason: "own network unreachable")
                cycleTimer = ctx.schedule(.cycle, at: ctx.nowNs + wait)
            case .cycleStarted:
                ctx.record(.registration, "registration cycle starts (\(config.numbers.joined(separator: ", ")))", [StepField("event", "cycle-started"), StepField("numbers", config.numbers.joined(separator: ","))])
            case .skipped(let target, let reason):
                ctx.record(.targetSkipped, "REGISTER: \(target): \(reason)",
                           [StepField("method", "REGISTER")] + World.skipFields(target, reason))
            case .resolve(let name, let port):
                ctx.resolve(name: name, port: port, transport: config.transport)
            case .sendRegister(let t, let cseq, let failoverIn):
                ctx.record(.attemptStarted, "REGISTER to \(t.hostPort) (\(t.originLabel))", [StepField("method", "REGISTER")] + World.targetFields(t))
                txn = register(to: t, cseq: cseq, expires: config.registerExpires, ctx)
                if let old = failoverTimer { ctx.cancel(old) }
                failoverTimer = ctx.schedule(.failover(attempt: cseq), at: ctx.nowNs + failoverIn)
            case .disarmFailoverTimer:
                if let t = failoverTimer { ctx.cancel(t); failoverTimer = nil }
            case .abandonTransaction:
                if let t = txn { ctx.abandonTransaction(t) }
                txn = nil
            case .provisionalStopsFailover(let code):
                ctx.record(.registration, "\(code) to REGISTER: failover timer stopped, waiting for a final response", [StepField("event", "provisional"), StepField("code", code)])
            case .leave(let t, let reason):
                ctx.record(.failover, "REGISTER leaves \(t?.hostPort ?? "?"): \(reason)", [StepField("method", "REGISTER"), StepField("from", t?.hostPort ?? ""), StepField("reason", reason)])
            case .blocklist(let ip, let until):
                ctx.block(ip, until: until)
            case .registered(let t, let expires, let refreshIn):
                let refresh = SimTime(ns: refreshIn)
                ctx.record(.registration, "registered at \(t?.hostPort ?? "?") for \(expires)s; refresh in \(refresh.durationString)",
                           [StepField("event", "registered"), StepField("registered_at", t?.hostPort ?? ""), StepField("expires_s", expires),
                            StepField("refresh_ns", refresh.ns)])
                ctx.setCardState(.ins, reason: "registered")
                if let t { ctx.registered(at: t, until: ctx.nowNs + refresh.ns) }
            case .failed(let why, let wait, let failures):
                ctx.record(.registration, "\(why); retry in \(SimTime(ns: wait).formatSeconds(precision: 3)) (failure \(failures))",
                           [StepField("event", "cycle-failed"), StepField("reason", why), StepField("retry_in_ns", wait), StepField("failures", failures)])
                ctx.setCardState(.ous, reason: why)
            case .scheduleCycle(let after):
                cycleTimer = ctx.schedule(.cycle, at: ctx.nowNs + after)
            }
        }
    }

    /// Stops the registration (live mode at its end, or on Ctrl-C): no more cycles; where the card
    /// is registered, a REGISTER with Expires: 0 (RFC 3261 §10.2.2), so that the registrar keeps no
    /// stale binding. Its answer ends `unregistering`.
    public func unregister(_ ctx: RegistrationContext) {
        if let t = cycleTimer { ctx.cancel(t); cycleTimer = nil }
        if let t = failoverTimer { ctx.cancel(t); failoverTimer = nil }
        if let t = txn { ctx.abandonTransaction(t); txn = nil }
        guard let c = core, let at = c.registeredWith else { return }
        ctx.record(.registration, "unregistering at \(at.hostPort) (Expires: 0)", [StepField("event", "unregister"), StepField("registered_at", at.hostPort)])
        unregistering = true
        unregisterTxn = register(to: at, cseq: c.cseq + 1, expires: 0, ctx)
    }
}
