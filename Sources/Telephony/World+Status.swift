import SimCore
import SIP
import Trace

extension World {
    /// A readable snapshot for the REPL's `status`: cards, registrations, trunks, hosts, calls.
    public func statusLines() -> [String] {
        var out: [String] = ["time \(sim.now)   calls in progress \(pbxs.reduce(0) { n, p in n + p.calls.values.filter { !$0.recorded }.count })   events pending \(sim.queue.count)"]
        out.append("PBXs:")
        for p in pbxs {
            var l = "  \(p.name) (\(p.ip))"
            if let c = p.card {
                l += "  V-SIPGW \(c.state.rawValue)"
                if let r = c.registration.registeredWith, c.registration.registeredUntil > sim.now {
                    l += ", registered at \(r.hostPort) until \(c.registration.registeredUntil)"
                } else if c.registration.active {
                    l += ", registering"
                } else if c.config.registrar != nil {
                    l += ", not registered"
                }
                let bl = c.health.blocklist.filter { $0.value > sim.now.ns }.map { (key: $0.key, value: SimTime(ns: $0.value)) }.sorted { $0.key < $1.key }
                if !bl.isEmpty { l += ", blocklist " + bl.map { "\($0.key) until \($0.value)" }.joined(separator: ", ") }
                if let pref = c.health.preferred, pref.until > sim.now.ns { l += ", fail-back to \(pref.target.hostPort) until \(SimTime(ns: pref.until))" }
            } else {
                l += "  no V-SIPGW"
            }
            l += "  public trunk \(p.trunkInUse)/\(p.trunkChannels) in use (peak \(p.trunkPeak))"
            out.append(l)
            let exts = p.extensions.values.sorted { $0.number < $1.number }.map { e -> String in
                var st: String
                switch e.activity {
                case .idle: st = "idle"
                case .dialing(let c): st = "dialing (call \(c))"
                case .ringing(let c): st = "ringing (call \(c))"
                case .talking(let c): st = "talking (call \(c))"
                }
                if e.mode != .normal { st += ", \(e.mode.rawValue)" }
                return "\(e.number) \(st)"
            }
            out.append("    extensions: " + exts.joined(separator: "; "))
        }
        out.append("hosts:")
        for h in network.hosts {
            var st = h.up ? (h.refusesSIP ? "up, refuses SIP" : "up") : "DOWN"
            if let l = h.latency { st += ", latency \(l.durationString)" }
            if h.loss > 0 { st += ", loss \(h.loss * 100)%" }
            if let s = sipServers.first(where: { $0.ip == h.ip }), let r = s.respond {
                st += ", answers \(r.code)" + (r.retryAfter.map { " Retry-After \($0.durationString)" } ?? "")
            }
            out.append("  \(h.name) \(h.ip)  \(st)")
        }
        out.append("network: latency \(network.latency.durationString), loss \(network.loss * 100)%")
        if let d = dnsServer, !d.faults.isEmpty {
            out.append("DNS faults: " + d.faults.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.rawValue)" }.joined(separator: ", "))
        }
        return out
    }

    /// What each PBX's resolver cache holds for `name` (and its `_sip._udp.`/`_sip._tcp.` names).
    public func dnsCacheLines(_ name: String) -> [String] {
        var out: [String] = []
        for p in pbxs {
            for e in p.resolver.live(now: sim.now) {
                let qname = String(e.key.split(separator: " ", maxSplits: 1).last ?? "")
                guard qname == name || qname.hasSuffix("." + name) else { continue }
                out.append("  \(p.name): \(e.key) -> \(e.response.summary), expires at \(e.expires) (in \((e.expires - sim.now).formatSeconds(precision: 0)))")
            }
        }
        return out.isEmpty ? ["  no cached answer for \(name)"] : out
    }

    /// Numbers of calls placed so far, and whether each is still in progress.
    public var callIDs: [(id: Int, inProgress: Bool)] {
        (1...max(1, callCount)).compactMap { id in id <= callCount ? (id, call(id).map { !$0.recorded } ?? false) : nil }
    }

    /// A one-line view of a call in progress.
    /// Who answered a call in progress (the trace's `answered_by`), as the answering side reported it.
    public func answeredParty(of call: Int) -> String? { answeredParty[call] }

    public func describeCall(_ id: Int) -> String? {
        guard let c = call(id), !c.recorded else { return nil }
        let p = pbxs[c.pbx]
        var s = "call \(id)  \(p.name)/\(c.callerExt) -> \(c.dialed)  \(c.phase)"
        if let r = c.route { s += " via \(r)" }
        if !c.sipTargets.isEmpty { s += "  SIP targets \(c.sipTargets.joined(separator: ", "))" }
        // Who answered, once the caller's side knows it (the far end may have answered already).
        if c.answeredAt != nil, let a = answeredParty[id] { s += "  answered by \(a)" }
        return s + "  (since \(c.placedAt))"
    }

}
