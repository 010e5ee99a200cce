import SimCore
import SIP
import Routing
import Telephony

/// The one parser of the V-SIPGW card parameters that both a scenario file (`v_sipgw:`) and a
/// sweep (`vary:`) set from text, so that a value is judged the same way in both.
enum CardParameters {
    /// The keys this parser handles.
    static let keys: Set<String> = ["invite_timeout", "failover_timer_register", "t1", "t2", "transport", "reroute_on",
                                    "register_retry", "failback"]

    /// Sets parameter `key` from its text; throws the message of a value that is not allowed.
    static func apply(_ key: String, _ text: String, to c: inout CardConfig) throws(Problem) {
        func duration(_ s: String) throws(Problem) -> SimTime {
            guard let d = SimTime.parseDuration(s), d <= SimTime.maxDuration else { throw Problem(SimTime.durationProblem(s)) }
            return d
        }
        func positive(_ s: String, or alternative: String? = nil) throws(Problem) -> SimTime {
            let d = try duration(s)
            guard d.ns > 0 else { throw Problem("must be positive" + (alternative.map { " (or \($0))" } ?? "")) }
            return d
        }
        switch key {
        case "invite_timeout": c.inviteTimeout = text.lowercased() == "rfc" ? nil : try positive(text, or: "rfc")
        case "failover_timer_register": c.failoverTimerRegister = text.lowercased() == "rfc" ? nil : try positive(text, or: "rfc")
        case "t1": c.timers.t1 = try positive(text).ns
        case "t2": c.timers.t2 = try positive(text).ns
        case "transport":
            guard let t = Transport(rawValue: text.uppercased()) else { throw Problem("transport must be udp, tcp or tls, got '\(text)'") }
            c.transport = t
        case "reroute_on":
            guard let p = ReroutePolicy(rawValue: text) else { throw Problem("reroute_on must be failures or any-error, got '\(text)'") }
            c.reroutePolicy = p
        case "register_retry":
            c.registerRetry = text.lowercased() == "rfc5626" ? .rfc5626(base: .seconds(30), max: .seconds(1800)) : .fixed(try positive(text, or: "rfc5626"))
        case "failback":
            let parts = text.split(separator: " ").map(String.init)
            switch parts.first ?? "" {
            case "new-requests" where parts.count == 1: c.failback = .newRequests
            case "registration" where parts.count == 1: c.failback = .registration
            case "dns-ttl" where parts.count == 1: c.failback = .dnsTTL
            case "duration" where parts.count == 2:
                guard let d = SimTime.parseDuration(parts[1]), d <= SimTime.maxDuration else { throw Problem("'\(parts[1])' is not a duration") }
                c.failback = .duration(d)
            default: throw Problem("failback must be new-requests, registration, dns-ttl or 'duration DURATION', got '\(text)'")
            }
        default:
            throw Problem("not a card parameter")
        }
    }

    struct Problem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}
