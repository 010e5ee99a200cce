import SIP
import Trace

/// When a SIP-trunk call that did not connect goes to the public trunk.
public enum ReroutePolicy: String, Sendable, CaseIterable {
    /// Reroute when every target failed (silence, transport error, 503) or on 408/5xx; a
    /// definitive answer (486, 600, 404, 484, 480, 603, ...) ends the call. Domain §7.4.
    case failures
    /// Panasonic's literal "or an error is returned": any non-2xx final except 487.
    case anyError = "any-error"
}

/// Why one target was given up.
public enum FailoverReason: Sendable, Equatable, CustomStringConvertible {
    /// No response at all within the per-target INVITE timeout.
    case noResponse(timeoutNs: Int64)
    /// Timer B (or F) fired: RFC 3261 treats it as 408.
    case transactionTimeout
    /// ICMP port unreachable / refused TCP connection: treated as 503 (RFC 3261 §8.1.3.1).
    case transportError
    /// 503 Service Unavailable, with its Retry-After in seconds if any.
    case serviceUnavailable(retryAfter: Int?)

    public var description: String {
        switch self {
        case .noResponse(let t): return concat("no response within ", String(Double(t) / 1e9), "s")
        case .transactionTimeout: return "transaction timeout (408)"
        case .transportError: return "transport error (503)"
        case .serviceUnavailable(let ra): return ra.map { "503 Retry-After \($0)" } ?? "503 without Retry-After"
        }
    }
}

extension CallRouter.Action {
    /// What one input usually appends: two actions of its own, a skipped candidate, the next
    /// attempt and its timer (six): the room a driver's list starts with.
    public static let listCapacity = 6
}

/// The trunk-routing core for one call: walks the failover sequence, decides on each response
/// and timer, and says when to reroute to the public trunk. Sans-I/O: it never sends, waits or
/// resolves; each input appends actions to the driver's list (or returns them in a new one), and
/// the driver reports back what happened.
public struct CallRouter: Sendable {
    public struct Config: Sendable {
        /// Per-target time to wait for any response before moving on; nil = rely on Timer B
        /// (`invite_timeout: rfc`).
        public var inviteTimeout: Int64?
        public var reroutePolicy: ReroutePolicy
        public init(inviteTimeout: Int64? = 4_000_000_000, reroutePolicy: ReroutePolicy = .failures) {
            self.inviteTimeout = inviteTimeout; self.reroutePolicy = reroutePolicy
        }
    }

    public enum Action: Sendable, Equatable {
        /// Resolve a name (RFC 3263) and call `resolved`.
        case resolve(name: String, port: Int?)
        /// Send the INVITE to this target in a new transaction (new branch).
        case attempt(RouteTarget, number: Int)
        case armFailoverTimer(at: Int64)
        case disarmFailoverTimer
        /// Stop the current INVITE transaction (it is given up, not answered).
        case abandonAttempt
        /// A candidate passed over (trace only).
        case skipped(String, reason: FailoverSequence.SkipReason)
        /// Leave a target for the next one (trace only; the next action follows).
        case failover(from: RouteTarget, reason: FailoverReason)
        /// Put an address on the card's Retry-After blocklist until this time.
        case blocklist(ip: String, until: Int64)
        /// Give up on SIP: take the public trunk.
        case reroute(reason: RerouteReason)
        /// A 2xx arrived (its status code): the call is connected over SIP.
        case connected(RouteTarget, code: Int)
        /// A final answer ends the call over SIP without reroute.
        case finish(outcome: CallOutcome, code: Int)
    }

    /// Why a call leaves SIP for the public trunk; its text (`description`) is written only when
    /// the trace records it (a string built per call at `--trace calls` was about 1,000
    /// instructions, issue 11).
    public enum RerouteReason: Sendable, Equatable, CustomStringConvertible {
        /// No target was tried at all (none configured, resolvable or unblocked).
        case noTarget
        /// Every target tried failed; how many were tried.
        case allFailed(attempts: Int)
        /// A final answer that reroutes (408, 5xx, or any error under `any-error`), and from where.
        case finalAnswer(code: Int, from: String)
        public var description: String {
            switch self {
            case .noTarget: return "no SIP target available"
            case .allFailed(let n): return "all \(n) SIP targets failed"
            case .finalAnswer(let code, let from): return "\(ReasonPhrase.status(code)) from \(from)"
            }
        }
    }

    public enum State: Sendable, Equatable {
        case idle, resolving(String), trying(RouteTarget), proceeding(RouteTarget), done
    }

    public let config: Config
    public private(set) var sequence: FailoverSequence
    public private(set) var state: State = .idle
    public private(set) var attempts: [RouteTarget] = []

    public init(config: Config, sequence: FailoverSequence) {
        self.config = config
        self.sequence = sequence
        attempts.reserveCapacity(4) // the usual three attempts, without regrowing per append
    }

    public mutating func start(now: Int64, isBlocked: (String) -> Bool, into out: inout [Action]) {
        precondition(state == .idle, "start in state \(state)")
        advance(now: now, isBlocked: isBlocked, into: &out)
    }

    /// The driver resolved a name the core asked for.
    public mutating func resolved<G: UniformSource>(_ resolution: Resolution, for name: String, now: Int64,
                                                   using rng: inout G, isBlocked: (String) -> Bool, into out: inout [Action]) {
        guard case .resolving(let n) = state, n == name else { return }
        sequence.provide(resolution, for: name, using: &rng)
        advance(now: now, isBlocked: isBlocked, into: &out)
    }

    /// The per-target INVITE timeout fired before any response.
    public mutating func failoverTimerFired(now: Int64, isBlocked: (String) -> Bool, into out: inout [Action]) {
        guard case .trying(let t) = state, let timeout = config.inviteTimeout else { return }
        out.append(.abandonAttempt)
        out.append(.failover(from: t, reason: .noResponse(timeoutNs: timeout)))
        advance(now: now, isBlocked: isBlocked, into: &out)
    }

    /// Timer B fired (only reachable without a provisional response).
    public mutating func transactionTimedOut(now: Int64, isBlocked: (String) -> Bool, into out: inout [Action]) {
        guard case .trying(let t) = state else { return }
        out.append(.disarmFailoverTimer)
        out.append(.failover(from: t, reason: .transactionTimeout))
        advance(now: now, isBlocked: isBlocked, into: &out)
    }

    public mutating func transportFailed(now: Int64, isBlocked: (String) -> Bool, into out: inout [Action]) {
        let t: RouteTarget
        switch state {
        case .trying(let x), .proceeding(let x): t = x
        default: return
        }
        out.append(.disarmFailoverTimer)
        out.append(.failover(from: t, reason: .transportError))
        advance(now: now, isBlocked: isBlocked, into: &out)
    }

    /// A 1xx arrived: stop failover for this call (no per-target timeout any more).
    public mutating func provisional(now: Int64, into out: inout [Action]) {
        guard case .trying(let t) = state else { return }
        state = .proceeding(t)
        out.append(.disarmFailoverTimer)
    }

    /// A final response arrived for the current attempt.
    public mutating func finalResponse(code: Int, retryAfter: Int?, now: Int64, isBlocked: (String) -> Bool, into out: inout [Action]) {
        let t: RouteTarget
        switch state {
        case .trying(let x), .proceeding(let x): t = x
        default: return
        }
        out.append(.disarmFailoverTimer)
        if (200..<300).contains(code) {
            state = .done
            out.append(.connected(t, code: code))
            return
        }
        if code == 503 {
            if let ra = retryAfter, ra > 0 {
                out.append(.blocklist(ip: t.ip, until: now + Int64(ra) * 1_000_000_000))
            }
            out.append(.failover(from: t, reason: .serviceUnavailable(retryAfter: retryAfter)))
            advance(now: now, isBlocked: isBlocked, into: &out)
            return
        }
        state = .done
        if code == 487 { out.append(.finish(outcome: .abandoned, code: code)); return }
        let rerouteable = config.reroutePolicy == .anyError || code == 408 || (500..<600).contains(code)
        if rerouteable {
            out.append(.reroute(reason: .finalAnswer(code: code, from: t.hostPort)))
        } else {
            out.append(.finish(outcome: CallRouter.outcome(forFinal: code), code: code))
        }
    }

    // The same inputs returning a new list (for tests and one-off callers; a driver passes a list
    // it reuses, so that an input allocates nothing: issue 11).
    public mutating func start(now: Int64, isBlocked: (String) -> Bool) -> [Action] {
        [Action].collecting(capacity: Action.listCapacity) { start(now: now, isBlocked: isBlocked, into: &$0) }
    }
    public mutating func resolved<G: UniformSource>(_ resolution: Resolution, for name: String, now: Int64,
                                                   using rng: inout G, isBlocked: (String) -> Bool) -> [Action] {
        [Action].collecting(capacity: Action.listCapacity) { resolved(resolution, for: name, now: now, using: &rng, isBlocked: isBlocked, into: &$0) }
    }
    public mutating func failoverTimerFired(now: Int64, isBlocked: (String) -> Bool) -> [Action] {
        [Action].collecting(capacity: Action.listCapacity) { failoverTimerFired(now: now, isBlocked: isBlocked, into: &$0) }
    }
    public mutating func transactionTimedOut(now: Int64, isBlocked: (String) -> Bool) -> [Action] {
        [Action].collecting(capacity: Action.listCapacity) { transactionTimedOut(now: now, isBlocked: isBlocked, into: &$0) }
    }
    public mutating func transportFailed(now: Int64, isBlocked: (String) -> Bool) -> [Action] {
        [Action].collecting(capacity: Action.listCapacity) { transportFailed(now: now, isBlocked: isBlocked, into: &$0) }
    }
    public mutating func provisional(now: Int64) -> [Action] { [Action].collecting(capacity: Action.listCapacity) { provisional(now: now, into: &$0) } }
    public mutating func finalResponse(code: Int, retryAfter: Int?, now: Int64, isBlocked: (String) -> Bool) -> [Action] {
        [Action].collecting(capacity: Action.listCapacity) { finalResponse(code: code, retryAfter: retryAfter, now: now, isBlocked: isBlocked, into: &$0) }
    }

    /// The call outcome for a definitive SIP final response (Q.850 practice, domain §4.3).
    public static func outcome(forFinal code: Int) -> CallOutcome {
        switch code {
        case 486, 600: return .busy
        case 480, 408: return .noAnswer
        case 403, 603: return .rejected
        case 487: return .abandoned
        default: return .failed
        }
    }

    /// Moves to the next target of the sequence, appending what that takes to `out`.
    private mutating func advance(now: Int64, isBlocked: (String) -> Bool, into out: inout [Action]) {
        let step = sequence.next(isBlocked: isBlocked)
        if !sequence.skipped.isEmpty {
            for s in sequence.skipped { out.append(.skipped(s.target, reason: s.reason)) }
            sequence.skipped.removeAll(keepingCapacity: true)
        }
        switch step {
        case .target(let t):
            attempts.append(t)
            state = .trying(t)
            out.append(.attempt(t, number: attempts.count))
            if let timeout = config.inviteTimeout { out.append(.armFailoverTimer(at: now + timeout)) }
        case .needResolution(let name, let port):
            state = .resolving(name)
            out.append(.resolve(name: name, port: port))
        case .exhausted:
            state = .done
            out.append(.reroute(reason: attempts.isEmpty ? .noTarget : .allFailed(attempts: attempts.count)))
        }
    }
}
