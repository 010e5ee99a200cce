import SimCore
import SIP
import Routing
import Trace

/// What one call's routing over the SIP trunk may ask of whoever runs it: the simulated world, or
/// live mode on real sockets (issue 9 item 2). The node decides nothing itself beyond what
/// `CallRouter` says; the context sends, waits, resolves and records.
public protocol TrunkCallContext: AnyObject {
    var nowNs: Int64 { get }
    /// Whether the address is on the card's Retry-After blocklist now, for this call.
    func isBlocked(_ ip: String, call: TrunkCall) -> Bool
    /// Whether the call is still in progress (a step may have ended it).
    func isLive(_ call: TrunkCall) -> Bool
    /// RFC 3263 for a name; the result comes back through `TrunkCall.resolved`, now or later.
    func resolve(name: String, port: Int?, for call: TrunkCall)
    /// Starts an INVITE client transaction for the call toward the target; returns its id.
    func sendInvite(_ call: TrunkCall, to target: RouteTarget) -> Int
    func scheduleFailoverTimer(_ call: TrunkCall, attempt: Int, at ns: Int64) -> EventID
    func cancel(_ id: EventID)
    func abandonTransaction(_ id: Int)
    /// Records a step of the card (or IP gateway) that routes the call.
    /// The detail and fields are built only when the trace level records steps.
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: TrunkCall, _ fields: @autoclosure () -> [StepField])
    func block(_ ip: String, until ns: Int64, call: TrunkCall)
    /// A response other than 408 or 503 came from the current target (fail-back `duration`).
    func alive(_ call: TrunkCall, target: RouteTarget)
    /// Every target failed (or a reroutable final): the call leaves for the public trunk.
    func reroute(_ call: TrunkCall, reason: CallRouter.RerouteReason)
    /// A 2xx from the target (the `call-answered` step is recorded).
    func connected(_ call: TrunkCall, target: RouteTarget)
    /// A definitive final response ends the call over SIP.
    func finished(_ call: TrunkCall, outcome: CallOutcome, code: Int)
    /// The router's action lists, reused input after input by every call of the context.
    var actionLists: ActionListPool<CallRouter.Action> { get set }
}

/// One call's routing over the SIP trunk (a node of the card): it owns the `CallRouter`, the
/// INVITE transaction in progress, the per-target failover timer, the attempts and the SRV random
/// stream, and runs the router's actions through its context. The simulated world and live mode
/// run this same object.
public final class TrunkCall {
    public let id: Int
    public private(set) var router: CallRouter
    /// The INVITE client transaction of the current attempt.
    public var inviteTxn: Int?
    public private(set) var failoverTimer: EventID?
    public private(set) var attempts = 0
    /// Distinct addresses that received an INVITE, in order.
    public private(set) var targets: [String] = []
    /// Orders SRV targets of equal priority (RFC 2782).
    var rng: Xoshiro256
    /// Set by its driver when the call it routes has ended (a context's `isLive` may read it
    /// instead of looking the call up before every action).
    public var ended = false

    public init(id: Int, router: CallRouter, rng: Xoshiro256) {
        self.id = id; self.router = router; self.rng = rng
        targets.reserveCapacity(4) // the usual three targets, without regrowing per append
    }

    /// The last target tried.
    public var currentTarget: RouteTarget? { router.attempts.last }

    /// Feeds the router an input with a list from the context's `actionLists`, performs the
    /// actions it appended and gives the list back. `between` runs after the input and before
    /// its actions.
    private func run(_ ctx: TrunkCallContext, _ input: (inout CallRouter, inout [CallRouter.Action]) -> Void,
                     between: () -> Void = {}) {
        var out = ctx.actionLists.take()
        input(&router, &out)
        between()
        perform(out, ctx)
        ctx.actionLists.giveBack(&out)
    }

    public func start(_ ctx: TrunkCallContext) {
        let now = ctx.nowNs
        run(ctx) { r, out in r.start(now: now, isBlocked: { ctx.isBlocked($0, call: self) }, into: &out) }
    }

    /// The driver resolved a name the router asked for.
    public func resolved(_ result: Resolution, for name: String, _ ctx: TrunkCallContext) {
        var g = rng
        let now = ctx.nowNs
        run(ctx, { r, out in r.resolved(result, for: name, now: now, using: &g, isBlocked: { ctx.isBlocked($0, call: self) }, into: &out) },
            between: {
                rng = g
                if let list = router.sequence.resolvedTargets(name) {
                    ctx.record(.targetsResolved, "\(name) -> \(list.map(\.hostPort).joined(separator: ", "))", call: self,
                               [StepField("name", name), StepField("targets", list.map(\.hostPort).joined(separator: ","))])
                }
            })
    }

    /// The per-target INVITE timeout of `attempt` fired (at `at`, the instant it was due).
    public func failoverTimerFired(attempt: Int, at: Int64, _ ctx: TrunkCallContext) {
        guard attempts == attempt else { return }
        failoverTimer = nil
        ctx.record(.timerFired, concat("INVITE failover timer (attempt ", String(attempt), ")"), call: self,
                   [StepField("timer", "invite-failover"), StepField("attempt", attempt)])
        run(ctx) { r, out in r.failoverTimerFired(now: at, isBlocked: { ctx.isBlocked($0, call: self) }, into: &out) }
    }

    /// A response of the current INVITE transaction.
    public func response(_ r: SIPMessage, _ ctx: TrunkCallContext) {
        guard let code = r.statusCode else { return }
        ctx.record(.sipResponse, ReasonPhrase.status(code), call: self, [StepField("code", code)])
        // Any response but 408 and 503 proves a later target alive: `failback: duration` starts here.
        if code != 408 && code != 503, let target = router.attempts.last { ctx.alive(self, target: target) }
        let now = ctx.nowNs
        if code < 200 {
            run(ctx) { r, out in r.provisional(now: now, into: &out) }
        } else {
            if code < 300 { inviteTxn = nil }
            let retryAfter = r.retryAfterSeconds
            run(ctx) { r, out in r.finalResponse(code: code, retryAfter: retryAfter, now: now, isBlocked: { ctx.isBlocked($0, call: self) }, into: &out) }
        }
    }

    /// The INVITE transaction ended without a final response: Timer B (`timeout`) or a transport error.
    public func transactionFailed(timeout: Bool, _ ctx: TrunkCallContext) {
        inviteTxn = nil
        let now = ctx.nowNs
        run(ctx) { r, out in
            if timeout {
                r.transactionTimedOut(now: now, isBlocked: { ctx.isBlocked($0, call: self) }, into: &out)
            } else {
                r.transportFailed(now: now, isBlocked: { ctx.isBlocked($0, call: self) }, into: &out)
            }
        }
    }

    /// The caller gave up: no more failover (the driver CANCELs or abandons the INVITE).
    public func stop(_ ctx: TrunkCallContext) {
        if let t = failoverTimer { ctx.cancel(t); failoverTimer = nil }
    }

    private func perform(_ actions: [CallRouter.Action], _ ctx: TrunkCallContext) {
        for a in actions {
            guard ctx.isLive(self) else { return }
            switch a {
            case .resolve(let name, let port):
                ctx.resolve(name: name, port: port, for: self)
            case .attempt(let target, let n):
                attempts = n
                if !targets.contains(target.ip) { targets.append(target.ip) }
                ctx.record(.attemptStarted, concat("attempt ", String(n), ": INVITE to ", target.hostPort, " (", target.originLabel, ")"), call: self,
                           [StepField("attempt", n)] + World.targetFields(target))
                inviteTxn = ctx.sendInvite(self, to: target)
            case .armFailoverTimer(let at):
                if let old = failoverTimer { ctx.cancel(old) }
                failoverTimer = ctx.scheduleFailoverTimer(self, attempt: attempts, at: at)
            case .disarmFailoverTimer:
                if let old = failoverTimer { ctx.cancel(old); failoverTimer = nil }
            case .abandonAttempt:
                if let t = inviteTxn { ctx.abandonTransaction(t); inviteTxn = nil }
            case .skipped(let what, let reason):
                ctx.record(.targetSkipped, concat(what, ": ", reason.description), call: self, World.skipFields(what, reason))
            case .failover(let from, let reason):
                ctx.record(.failover, concat("leave ", from.hostPort, ": ", reason.description), call: self,
                           [StepField("from", from.hostPort), StepField("reason", reason.description)] + World.causeFields(reason))
            case .blocklist(let ip, let until):
                ctx.block(ip, until: until, call: self)
            case .reroute(let reason):
                if let t = inviteTxn { ctx.abandonTransaction(t) }
                inviteTxn = nil
                ctx.reroute(self, reason: reason)
            case .connected(let target, let code):
                ctx.record(.callAnswered, concat(ReasonPhrase.status(code), " from ", target.hostPort), call: self,
                           [StepField("route", "sip"), StepField("target", target.hostPort), StepField("code", code)])
                ctx.connected(self, target: target)
            case .finish(let outcome, let code):
                ctx.finished(self, outcome: outcome, code: code)
            }
        }
    }
}
