import Testing
@testable import Routing

/// The shared target-health component (issue 9 item 3): Retry-After blocklist and the four
/// fail-back policies (checklist 7 and 26), without the engine.
@Suite struct TargetHealthTests {
    let s: Int64 = 1_000_000_000
    let primary = RouteTarget(ip: "192.0.2.10", origin: .configured)
    let secondary = RouteTarget(ip: "192.0.2.11", origin: .failover)
    let dnsTarget = RouteTarget(ip: "192.0.2.12", origin: .dns(name: "itsp.example", host: "sip3.itsp.example"))

    @Test func blocklistFollowsRetryAfter() {
        var h = TargetHealth(failback: .newRequests)
        #expect(!h.hasBlocked && !h.isBlocked("192.0.2.10", now: 0))
        h.block("192.0.2.10", until: 121 * s)
        #expect(h.hasBlocked)
        #expect(h.isBlocked("192.0.2.10", now: 120 * s) && !h.isBlocked("192.0.2.10", now: 121 * s) && !h.isBlocked("192.0.2.11", now: 0))
        let early = h.unblockIfExpired("192.0.2.10", now: 100 * s)
        let due = h.unblockIfExpired("192.0.2.10", now: 121 * s)
        #expect(!early && due && h.blocklist.isEmpty && !h.hasBlocked)
    }

    @Test func failbackPolicies() {
        var n = TargetHealth(failback: .newRequests)
        let n1 = n.liveAnswer(from: secondary, attempt: 2, now: 5 * s), n2 = n.connected(to: dnsTarget, attempt: 3, recordExpires: 300 * s)
        #expect(n1 == nil && n2 == nil)
        #expect(n.preferredTarget(now: 6 * s) == nil)

        var d = TargetHealth(failback: .duration(3600 * s))
        let d1 = d.liveAnswer(from: primary, attempt: 1, now: 1 * s) // the first target: no failover happened
        let d2 = d.liveAnswer(from: secondary, attempt: 2, now: 5 * s)
        #expect(d1 == nil && d2 == 3605 * s)
        #expect(d.preferredTarget(now: 3604 * s) == secondary && d.preferredTarget(now: 3605 * s) == nil)
        let d3 = d.liveAnswer(from: secondary, attempt: 1, now: 10 * s) // already preferred: the window is not renewed
        #expect(d3 == nil)

        var t = TargetHealth(failback: .dnsTTL)
        let t1 = t.connected(to: secondary, attempt: 2, recordExpires: 300 * s) // not a DNS target
        let t2 = t.connected(to: dnsTarget, attempt: 3, recordExpires: 300 * s)
        #expect(t1 == nil && t2 == 300 * s)
        #expect(t.preferredTarget(now: 299 * s) == dnsTarget && t.preferredTarget(now: 300 * s) == nil)

        var r = TargetHealth(failback: .registration)
        r.registered(at: secondary, until: 3240 * s)
        #expect(r.preferredTarget(now: 100 * s) == secondary && r.preferredTarget(now: 3240 * s) == nil)
        var other = TargetHealth(failback: .duration(60 * s))
        other.registered(at: secondary, until: 3240 * s)
        #expect(other.preferredTarget(now: 100 * s) == nil)
    }
}
