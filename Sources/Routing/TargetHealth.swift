/// Which SIP targets a card avoids and which it prefers (issue 9 item 3): the Retry-After
/// blocklist and the fail-back policy (domain §3.4, checklist 7 and 26), one component shared by
/// INVITE routing and registration so that no rule is written twice. Sans-I/O: times are the
/// driver's nanoseconds; the driver records the steps and schedules the expiries.
public struct TargetHealth: Sendable {
    /// Where a new request starts after a failover.
    public enum Failback: Sendable, Equatable {
        /// Every new request starts at the primary.
        case newRequests
        /// For this long (ns) after a later target answered at all.
        case duration(Int64)
        /// At the server that accepted the last REGISTER, until the next refresh.
        case registration
        /// At the DNS target a call connected to, until its record expires.
        case dnsTTL
    }

    public let failback: Failback
    /// Address -> no request to it before this time (Retry-After).
    public private(set) var blocklist: [String: Int64] = [:]
    /// The sticky target of the fail-back policy, and until when.
    public private(set) var preferred: (target: RouteTarget, until: Int64)?

    public init(failback: Failback) { self.failback = failback }

    /// Whether `ip` is blocked now. An empty blocklist (nearly always) answers without hashing `ip`.
    public func isBlocked(_ ip: String, now: Int64) -> Bool {
        guard !blocklist.isEmpty else { return false }
        return blocklist[ip].map { $0 > now } ?? false
    }
    /// Whether any address is on the blocklist (expired entries included until they are removed).
    public var hasBlocked: Bool { !blocklist.isEmpty }

    /// A 503 with Retry-After: no request to `ip` until `until`.
    public mutating func block(_ ip: String, until: Int64) { blocklist[ip] = until }

    /// The blocklist entry of `ip` ran out; true when it was removed (it may have been renewed).
    public mutating func unblockIfExpired(_ ip: String, now: Int64) -> Bool {
        guard let until = blocklist[ip], until <= now else { return false }
        blocklist[ip] = nil
        return true
    }

    /// The target new requests start at under the fail-back policy, if any now.
    public func preferredTarget(now: Int64) -> RouteTarget? {
        guard let p = preferred, p.until > now else { return nil }
        return p.target
    }

    /// `duration`: a later target (after a failover) answered at all (any response but 408, 503
    /// or a transport error): new requests start there until `now + D`. Returns that time when
    /// the window starts, nil otherwise.
    public mutating func liveAnswer(from target: RouteTarget, attempt: Int, now: Int64) -> Int64? {
        guard attempt > 1 || preferred != nil, case .duration(let d) = failback, preferred?.target.ip != target.ip else { return nil }
        preferred = (target, now + d)
        return now + d
    }

    /// `dnsTTL`: a call connected to a later DNS target: new requests start there until its
    /// record (`recordExpires`) runs out. Returns that time when set, nil otherwise.
    public mutating func connected(to target: RouteTarget, attempt: Int, recordExpires: Int64?) -> Int64? {
        guard attempt > 1 || preferred != nil, failback == .dnsTTL, preferred?.target.ip != target.ip,
              case .dns = target.origin, let until = recordExpires else { return nil }
        preferred = (target, until)
        return until
    }

    /// `registration`: the card registered at `target`; new requests start there until `until`
    /// (the next refresh).
    public mutating func registered(at target: RouteTarget, until: Int64) {
        if failback == .registration { preferred = (target, until) }
    }
}
