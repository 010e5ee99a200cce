import SimCore
import Trace
import SIP
import Routing
import Telephony

/// The card parameters, command validation and trace expectations of a scenario file.
extension ScenarioLoader {
    static func parseCard(_ v: YNode, hostNames: Set<String>) throws -> CardConfig {
        let m = try v.dict(allowed: ["sip_server", "sip_server_failover", "registrar", "registrar_failover", "failover_timer_register",
                                     "invite_timeout", "numbers", "transport", "t1", "t2", "t4", "register_expires",
                                     "register_refresh", "register_retry", "failback", "reroute_on", "calls_follow_registration", "domain",
                                     "channels", "register_failover_after_provisional"])
        func server(_ n: YNode) throws -> ServerAddress {
            let s = try n.nonEmptyString()
            guard let a = ServerAddress.parse(s) else {
                if s.split(separator: ":").first.map({ $0.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") } }) ?? false {
                    throw n.error("'\(s)' is not a valid IPv4 address (and a name cannot be digits and dots only)")
                }
                throw n.error("'\(s)' is not an IP address or host name (optionally :port)")
            }
            return a
        }
        func ip(_ n: YNode) throws -> String {
            let s = try n.nonEmptyString()
            guard let canon = ServerAddress.canonicalIP(s) else { throw n.error("'\(s)' must be an IP address (the failover address is an IP)") }
            return canon
        }
        guard let ss = m["sip_server"] else { throw v.error("missing required key 'sip_server'", key: "\(v.path).sip_server") }
        var c = CardConfig(sipServer: try server(ss), numbers: try (m["numbers"]?.stringList() ?? []).map(phoneDigits))
        if let x = m["sip_server_failover"] { c.sipServerFailover = try ip(x) }
        if let x = m["registrar"] { c.registrar = try server(x) }
        if let x = m["registrar_failover"] { c.registrarFailover = try ip(x) }
        if let x = m["domain"] { c.domain = try x.nonEmptyString() }
        // The parameters a sweep can vary too: one parser for both.
        for key in CardParameters.keys.sorted() {
            guard let x = m[key] else { continue }
            let text = try x.string()
            do { try CardParameters.apply(key, text, to: &c) } catch { throw x.error(error.message) }
        }
        if let x = m["t4"] { c.timers.t4 = try x.duration().ns }
        // Seconds; at most the longest run (366 days), so that refresh arithmetic stays in range.
        if let x = m["register_expires"] { c.registerExpires = try x.int(min: 1, max: Int(SimTime.maxDuration.ns / 1_000_000_000)) }
        if let x = m["register_refresh"] { c.registerRefreshPercent = try x.int(min: 1, max: 100) }
        if let x = m["calls_follow_registration"] { c.callsFollowRegistration = try x.bool() }
        if let x = m["channels"] { c.channels = try x.int(min: 0, max: 100_000) }
        if let x = m["register_failover_after_provisional"] { c.registerFailoverAfterProvisional = try x.bool() }
        if c.registrar == nil && c.registrarFailover != nil {
            throw v.error("registrar_failover needs a registrar", key: "\(v.path).registrar_failover")
        }
        return c
    }

    /// Checks that the names a command uses exist in the topology (a located error).
    static func validate(_ c: Command, world: WorldConfig, node: YNode) throws {
        if let problem = problem(with: c, in: world) { throw node.error(problem) }
    }

    /// What is wrong with a command in this topology, if anything: the one check of the command
    /// language's names, for scenario timelines, sweeps and the REPL.
    public static func problem(with c: Command, in world: WorldConfig) -> String? {
        let names = Set(world.hosts.map(\.name) + world.hosts.map(\.ip))
        func host(_ hs: [String]) -> String? { hs.first { !names.contains($0) }.map { "unknown host '\($0)'" } }
        func ext(_ r: ExtensionRef) -> String? {
            let matches = world.pbxs.filter { p in (r.pbx == nil || p.name == r.pbx) && p.extensions.contains { $0.number == r.number } }
            if matches.isEmpty { return "no extension \(r)" }
            if matches.count > 1 { return "extension \(r.number) exists on several PBXs: write PBX/\(r.number)" }
            return nil
        }
        func hostName(_ h: String) -> String? { world.hosts.first { $0.name == h || $0.ip == h }?.name }
        switch c {
        case .dial(let who, _, _): return ext(who)
        case .down(let hs), .up(let hs), .refuse(let hs): return host(hs)
        case .partition(let a, let b):
            if let p = host(a + b) { return p }
            let ia = Set(a.compactMap(hostName))
            return b.compactMap(hostName).first(where: ia.contains).map { "host '\($0)' is on both sides of the partition" }
        case .heal, .hangup: return nil
        case .respond(let h, _, _):
            if let p = host([h]) { return p }
            let name = hostName(h)
            return world.sipServers.contains(where: { $0.host == name || $0.host == h }) ? nil : "'\(h)' is not a SIP server"
        case .dns: return world.dns == nil ? "no dns section: there is no DNS server to break" : nil
        case .latency(_, let h), .loss(_, let h): return h.flatMap { host([$0]) }
        case .phone(let e, _): return ext(e)
        }
    }

    static func basename(_ p: String) -> String {
        let last = p.split(separator: "/").last.map(String.init) ?? p
        return last.hasSuffix(".yaml") ? String(last.dropLast(5)) : last
    }

    /// `no_request_to: {host:, between: [a, b]}`, `card_state: {pbx:, at:, state:}`,
    /// `sip_attempts: {pbx:, min:, max:}` (or a number), `setup_delay: {pbx:, min:, max:}`.
    static func parseTraceExpectation(_ key: String, _ n: YNode, world: WorldConfig, line: Int?) throws -> TraceExpectation {
        func pbx(_ m: [String: YNode]) throws -> String? {
            guard let p = m["pbx"] else { return nil }
            let name = try p.nonEmptyString()
            guard world.pbxs.contains(where: { $0.name == name }) else { throw p.error("no PBX '\(name)'") }
            return name
        }
        func range(_ m: [String: YNode], seconds: Bool) throws -> Scenario.Range {
            func v(_ k: String) throws -> Double? { try m[k].map { seconds ? try $0.duration().seconds : try $0.double(min: 0) } }
            let r = Scenario.Range(min: try v("min"), max: try v("max"))
            if r.min == nil && r.max == nil { throw n.error("give min, max or both") }
            return r
        }
        switch key {
        case "no_request_to":
            let m = try n.dict(allowed: ["host", "between"])
            guard let h = m["host"] else { throw n.error("missing required key 'host'", key: "\(n.path).host") }
            let host = try h.nonEmptyString()
            guard let entry = world.hosts.first(where: { $0.name == host || $0.ip == (ServerAddress.canonicalIP(host) ?? host) }) else {
                throw h.error("unknown host '\(host)' (declare it under network.hosts)")
            }
            var from = SimTime.zero, to = SimTime.maxDuration
            if let b = m["between"] {
                let ends = try b.sequence()
                guard ends.count == 2 else { throw b.error("between takes [from, to]") }
                from = try ends[0].duration(); to = try ends[1].duration()
                guard from <= to else { throw b.error("from must not be after to") }
            }
            return .noRequestTo(host: entry.name, ip: entry.ip, from: from, to: to, line: line)
        case "card_state":
            let m = try n.dict(allowed: ["pbx", "at", "state"])
            guard let name = try pbx(m) else { throw n.error("missing required key 'pbx'", key: "\(n.path).pbx") }
            guard world.pbxs.first(where: { $0.name == name })?.card != nil else { throw m["pbx"]!.error("\(name) has no V-SIPGW card") }
            guard let at = m["at"], let st = m["state"] else { throw n.error("card_state needs pbx, at and state") }
            let state = try st.string()
            guard ["INS", "OUS", "Fault"].contains(state) else { throw st.error("state must be INS, OUS or Fault, got '\(state)'") }
            return .cardState(pbx: name, at: try at.duration(), state: state, line: line)
        case "sip_attempts":
            if case .scalar = n.node { let k = Double(try n.int(min: 0)); return .sipAttempts(pbx: nil, range: .init(min: k, max: k), line: line) }
            let m = try n.dict(allowed: ["pbx", "min", "max"])
            return .sipAttempts(pbx: try pbx(m), range: try range(m, seconds: false), line: line)
        default:
            let m = try n.dict(allowed: ["pbx", "min", "max"])
            return .setupDelay(pbx: try pbx(m), range: try range(m, seconds: true), line: line)
        }
    }
}
