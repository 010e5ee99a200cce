import SimCore
import Trace
import SIP
import Routing
import Telephony

/// Reads a scenario file (YAML) into a validated `Scenario`. Every error names the file, the
/// line and the key. Unknown keys are errors, so a typo never silently changes a run.
public enum ScenarioLoader {
    /// Every error of a file at once (`pbxsim check`), in file order; empty when the file is valid.
    /// Parts that depend on a broken part (a timeline entry dialling a PBX that failed to load)
    /// may add errors of their own.
    public static func check(path: String, text: String) -> [ScenarioError] {
        checkCollecting(path: path, text: text).errors
    }

    /// `check`, also returning every mapping the loader checked with its allowed keys (the JSON
    /// Schema test holds `scenarios/schema.json` to these).
    public static func checkCollecting(path: String, text: String) -> (errors: [ScenarioError], mappings: [String: Set<String>]) {
        let c = ErrorCollector()
        ErrorCollector.$current.withValue(c) {
            do { _ = try load(path: path, text: text) } catch let e as ScenarioError { c.add(e) } catch {
                c.add(ScenarioError(file: path, line: nil, column: nil, key: "", message: "\(error)"))
            }
        }
        let sorted = c.errors.enumerated().sorted { a, b in
            (a.element.line ?? Int.max, a.element.column ?? 0, a.offset) < (b.element.line ?? Int.max, b.element.column ?? 0, b.offset)
        }.map(\.element)
        return (sorted, c.checkedMappings)
    }

    public static func load(path: String, text: String) throws -> Scenario {
        let root = try YNode.load(text, file: path)
        let top = try root.dict(allowed: ["name", "description", "seed", "network", "dns", "sip_servers",
                                          "telephone_companies", "pbxs", "timeline", "expect", "defaults", "until", "start", "traffic", "cold_start"])
        func req(_ k: String) throws -> YNode {
            guard let n = top[k] else { throw root.error("missing required key '\(k)'", key: k) }
            return n
        }
        let name = try top["name"]?.nonEmptyString() ?? basename(path)
        let description = try top["description"]?.string() ?? ""
        let seed = try top["seed"]?.uint64() ?? 1

        // network
        let net = try req("network").dict(allowed: ["latency", "hosts", "loss"])
        let latency = try net["latency"]?.duration() ?? .milliseconds(10)
        guard let hostsNode = net["hosts"] else { throw try req("network").error("missing required key 'hosts'", key: "network.hosts") }
        var hosts: [(name: String, ip: String)] = []
        var hostNames = Set<String>(), hostIPs = Set<String>()
        for (h, v) in try hostsNode.mapping() {
            guard let ip = ServerAddress.canonicalIP(try v.string()) else { throw v.error("'\(try v.string())' is not an IPv4 or IPv6 address") }
            if ServerAddress.isIP(h) || h.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
                throw v.error("'\(h)' is an address where a host name belongs (write name: address)")
            }
            guard hostNames.insert(h).inserted else { throw v.error("host '\(h)' declared twice") }
            guard hostIPs.insert(ip).inserted else { throw v.error("address \(ip) is used by two hosts") }
            hosts.append((h, ip))
        }
        func knownHost(_ n: YNode) throws -> String {
            let raw = try n.nonEmptyString()
            let s = ServerAddress.canonicalIP(raw) ?? raw
            guard hostNames.contains(s) || hostIPs.contains(s) else {
                throw n.error("unknown host '\(raw)' (declare it under network.hosts)")
            }
            return s
        }

        // dns
        var dns: DNSConfig?
        if let d = top["dns"] {
            let m = try d.dict(allowed: ["server", "records", "default_ttl", "resolver_timeout", "resolver_attempts"])
            guard let s = m["server"] else { throw d.error("missing required key 'server'", key: "dns.server") }
            let server = try knownHost(s)
            var records: [String: DNSZoneEntry] = [:]
            for (rname, rv) in try m["records"]?.mapping() ?? [] { try recovering(()) {
                let r = try rv.dict(allowed: ["ttl", "srv", "srv_sips", "a", "aaaa"])
                let ttl = try r["ttl"]?.duration() ?? .seconds(300)
                // `srv` answers _sip._udp/_sip._tcp (default port 5060), `srv_sips` answers
                // _sips._tcp (default port 5061).
                func srvList(_ sn: YNode, defaultPort: Int) throws -> [SRVRecord] {
                    try sn.sequence().map { e in
                        let f = try e.dict(allowed: ["priority", "weight", "port", "target"])
                        func num(_ k: String, _ def: Int?) throws -> UInt16 {
                            guard let n = f[k] else {
                                if let d = def { return UInt16(d) }
                                throw e.error("missing required key '\(k)'", key: "\(e.path).\(k)")
                            }
                            return UInt16(try n.int(min: 0, max: 65535))
                        }
                        guard let t = f["target"] else { throw e.error("missing required key 'target'", key: "\(e.path).target") }
                        let target = try t.nonEmptyString()
                        if target != ".", !hostNames.contains(target) {
                            throw t.error("SRV target '\(target)' is not a declared host (or '.')")
                        }
                        return SRVRecord(priority: try num("priority", nil), weight: try num("weight", nil),
                                         port: try num("port", defaultPort), target: target)
                    }
                }
                let srv = try r["srv"].map { try srvList($0, defaultPort: 5060) }
                let srvSips = try r["srv_sips"].map { try srvList($0, defaultPort: 5061) }
                var a: [String]?
                if let an = r["a"] {
                    a = try an.sequence().map { x in
                        let ip = try x.string()
                        guard ServerAddress.isIPv4(ip) else { throw x.error("'\(ip)' is not an IPv4 address") }
                        return ServerAddress.canonicalIP(ip)!
                    }
                }
                var aaaa: [String]?
                if let an = r["aaaa"] {
                    aaaa = try an.sequence().map { x in
                        let ip = try x.string()
                        guard ServerAddress.isIPv6(ip) else { throw x.error("'\(ip)' is not an IPv6 address") }
                        return ServerAddress.canonicalIP(ip)!
                    }
                }
                records[rname] = DNSZoneEntry(ttl: ttl, srv: srv, a: a, aaaa: aaaa, srvSips: srvSips)
            } }
            var conf = DNSConfig(server: server, records: records)
            if let t = m["default_ttl"] { conf.defaultTTL = try t.duration() }
            if let t = m["resolver_timeout"] { conf.resolverTimeout = try t.duration() }
            if let t = m["resolver_attempts"] { conf.resolverAttempts = try t.int(min: 1, max: 10) }
            dns = conf
        }

        // SIP servers
        var sipServers: [SIPServerConfig] = []
        for e in try top["sip_servers"]?.sequence() ?? [] { try recovering(()) {
            let m = try e.dict(allowed: ["host", "domain", "pstn_gateway", "respond", "retry_after"])
            guard let h = m["host"] else { throw e.error("missing required key 'host'", key: "\(e.path).host") }
            guard let d = m["domain"] else { throw e.error("missing required key 'domain'", key: "\(e.path).domain") }
            var sc = SIPServerConfig(host: try knownHost(h), domain: try d.nonEmptyString())
            sc.pstnGateway = try m["pstn_gateway"]?.bool() ?? false
            if let r = m["respond"] {
                let word = try r.nonEmptyString()
                if word.lowercased() != "normal" {
                    guard let code = word.lowercased() == "refuse" ? RespondMode.refuseCode : RespondMode.code(word) else {
                        throw r.error("'\(word)' is not normal, silent, refuse, 100, 200 or a final status code 300-699", key: "\(r.path)")
                    }
                    sc.respond = RespondMode(code: code, retryAfter: try m["retry_after"]?.duration())
                } else if m["retry_after"] != nil {
                    throw e.error("retry_after needs a respond code", key: "\(e.path).retry_after")
                }
            } else if m["retry_after"] != nil {
                throw e.error("retry_after needs a respond code", key: "\(e.path).retry_after")
            }
            sipServers.append(sc)
        } }

        // Telephone companies
        var telcos: [TelcoConfig] = []
        for e in try top["telephone_companies"]?.sequence() ?? [] { try recovering(()) {
            let m = try e.dict(allowed: ["name", "area_code", "switching_delay", "toll_delay", "subscribers"])
            guard let n = m["name"] else { throw e.error("missing required key 'name'", key: "\(e.path).name") }
            guard let a = m["area_code"] else { throw e.error("missing required key 'area_code'", key: "\(e.path).area_code") }
            let area = try a.nonEmptyString()
            guard area.first == "0", area.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw a.error("area code '\(area)' must be digits starting with the trunk prefix 0 (quote it: \"098\")")
            }
            var t = TelcoConfig(name: try n.nonEmptyString(), areaCode: area)
            if telcos.contains(where: { $0.name == t.name }) { throw n.error("telephone company '\(t.name)' declared twice") }
            if let other = telcos.first(where: { $0.areaCode == area }) {
                throw a.error("area code \(area) already belongs to \(other.name); one telephone company per area code")
            }
            if let d = m["switching_delay"] { t.switchingDelay = try d.duration() }
            if let d = m["toll_delay"] { t.tollDelay = try d.duration() }
            for sub in try m["subscribers"]?.sequence() ?? [] {
                let sm = try sub.dict(allowed: ["numbers", "answer_after"])
                guard let r = sm["numbers"] else { throw sub.error("missing required key 'numbers'", key: "\(sub.path).numbers") }
                let (lo, hi) = try rangeEnds(try r.string(), node: r)
                guard lo.hasPrefix(area) else { throw r.error("subscriber numbers \(lo)... are not in area \(area)") }
                t.subscribers.append(SubscriberRange(first: lo, last: hi, answerAfter: try sm["answer_after"].map(ringDelay) ?? .fixed(.seconds(2))))
            }
            telcos.append(t)
        } }

        // PBXs
        var pbxs: [PBXConfig] = []
        var pbxHosts = Set<String>()
        for e in try req("pbxs").sequence() { try recovering(()) {
            let m = try e.dict(allowed: ["name", "host", "telephone_company", "extensions", "public_trunk", "trunk_groups", "did",
                                         "v_sipgw", "ars", "trs", "quick_dial", "access_code", "default_trunk_groups",
                                         "gateway_groups", "tie_routes"])
            guard let n = m["name"] else { throw e.error("missing required key 'name'", key: "\(e.path).name") }
            let pname = try n.nonEmptyString()
            guard !pname.contains("/"), !pname.contains(" ") else { throw n.error("a PBX name must not contain '/' or spaces") }
            if pbxs.contains(where: { $0.name == pname }) { throw n.error("PBX '\(pname)' declared twice") }
            guard let h = m["host"] else { throw e.error("missing required key 'host'", key: "\(e.path).host") }
            let host = try knownHost(h)
            guard pbxHosts.insert(host).inserted else { throw h.error("two PBXs on host \(host)") }
            var telco = ""
            if let t = m["telephone_company"] {
                telco = try t.nonEmptyString()
                guard telcos.contains(where: { $0.name == telco }) else {
                    throw t.error("unknown telephone company '\(telco)' (declare it under telephone_companies)")
                }
            }
            var exts: [ExtensionConfig] = []
            var extSet = Set<String>()
            for x in try m["extensions"]?.sequence() ?? [] {
                let xm = try x.dict(allowed: ["number", "numbers", "answer_after", "trs_level"])
                let numbers: [String]
                if let num = xm["number"] {
                    let number = try num.nonEmptyString()
                    guard number.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw num.error("extension number '\(number)' must be digits") }
                    numbers = [number]
                } else if let r = xm["numbers"] {
                    numbers = try expandRange(r, limit: 100_000)
                } else {
                    throw x.error("an extension needs 'number' (or 'numbers' for a range like \"2000..2199\")", key: "\(x.path).number")
                }
                let delay = try xm["answer_after"].map(ringDelay) ?? .fixed(.seconds(2))
                let level = try xm["trs_level"]?.int(min: 1, max: 7) ?? 1
                for number in numbers {
                    guard extSet.insert(number).inserted else { throw x.error("extension \(number) declared twice on \(pname)") }
                    exts.append(ExtensionConfig(number: number, answerAfter: delay, trsLevel: level))
                }
            }
            var groups: [TrunkGroupConfig] = []
            if let t = m["public_trunk"] {
                let tm = try t.dict(allowed: ["channels", "numbers", "hunt"])
                let ch = try tm["channels"]?.int(min: 0, max: 100_000) ?? 2
                groups.append(TrunkGroupConfig(id: 1, channels: ch, hunt: try tm["hunt"].map(hunt) ?? .lowest,
                                               numbers: try numberList(tm["numbers"])))
                if telco.isEmpty { throw t.error("a public trunk needs the PBX's telephone_company") }
            }
            for g in try m["trunk_groups"]?.sequence() ?? [] {
                let gm = try g.dict(allowed: ["id", "channels", "numbers", "hunt"])
                guard let idn = gm["id"] else { throw g.error("missing required key 'id'", key: "\(g.path).id") }
                let id = try idn.int(min: 1, max: 999)
                if groups.contains(where: { $0.id == id }) { throw idn.error("trunk group \(id) declared twice (public_trunk is group 1)") }
                groups.append(TrunkGroupConfig(id: id, channels: try gm["channels"]?.int(min: 0, max: 100_000) ?? 2,
                                               hunt: try gm["hunt"].map(hunt) ?? .lowest, numbers: try numberList(gm["numbers"])))
                if telco.isEmpty { throw g.error("trunk groups need the PBX's telephone_company") }
            }
            var did = DIDConfig()
            if let d = m["did"] {
                for (k, v) in try d.mapping() {
                    switch k {
                    case "remove": did.remove = try v.int(min: 0, max: 32)
                    case "add": did.add = try v.string()
                    default:
                        let target = try v.nonEmptyString()
                        if k.contains("..") {
                            let (lo, hi) = try rangeEnds(k, node: v)
                            let (elo, ehi) = try rangeEnds(target, node: v)
                            guard Int(hi)! - Int(lo)! == Int(ehi)! - Int(elo)! else {
                                throw v.error("the ranges \(k) and \(target) have different sizes")
                            }
                            did.ranges.append((lo, hi, elo))
                        } else {
                            guard extSet.contains(target) else { throw v.error("DID target \(target) is not an extension of \(pname)") }
                            did.map[phoneDigits(k)] = target
                        }
                    }
                }
            }
            var card: CardConfig?
            if let v = m["v_sipgw"] { card = try recovering(nil) { try parseCard(v, hostNames: hostNames) } }
            var pbx = PBXConfig(name: pname, host: host, telco: telco, extensions: exts, trunkGroups: groups, did: did, card: card)
            if let a = m["ars"] { pbx.ars = try recovering(pbx.ars) { try parseARS(a, groups: groups.map(\.id)) } }
            if let t = m["trs"] { pbx.trs = try recovering(pbx.trs) { try parseTRS(t) } }
            if let q = m["quick_dial"] {
                for (k, v) in try q.mapping() { pbx.quickDial[phoneDigits(k)] = phoneDigits(try v.nonEmptyString()) }
            }
            if let a = m["access_code"] { pbx.accessCode = try a.nonEmptyString() }
            for g in try m["gateway_groups"]?.sequence() ?? [] {
                let gm = try g.dict(allowed: ["id", "gateways", "timeout"])
                guard let idn = gm["id"], let gws = gm["gateways"] else { throw g.error("a gateway group needs 'id' and 'gateways'") }
                var group = GatewayGroupConfig(id: try idn.int(min: 1), gateways: try gws.sequence().map { gw in
                    let wm = try gw.dict(allowed: ["name", "host", "channels"])
                    guard let n = wm["name"], let h = wm["host"] else { throw gw.error("a gateway needs 'name' and 'host'") }
                    let hostName = try knownHost(h)
                    let ip = hosts.first { $0.name == hostName || $0.ip == hostName }!.ip
                    return .init(name: try n.nonEmptyString(), ip: ip, channels: try wm["channels"]?.int(min: 0, max: 10_000) ?? 4)
                })
                if let t = gm["timeout"] { group.timeout = try t.duration() }
                if pbx.gatewayGroups.contains(where: { $0.id == group.id }) { throw idn.error("gateway group \(group.id) declared twice") }
                pbx.gatewayGroups.append(group)
            }
            if let t = m["tie_routes"] {
                for (k, v) in try t.mapping() {
                    let gid = try v.int(min: 1)
                    guard pbx.gatewayGroups.contains(where: { $0.id == gid }) else { throw v.error("no gateway group \(gid)") }
                    pbx.tieRoutes.append((phoneDigits(k), gid))
                }
            }
            if let d = m["default_trunk_groups"] {
                let ids = try d.sequence().map { try $0.int() }
                for id in ids where !groups.contains(where: { $0.id == id }) { throw d.error("no trunk group \(id)") }
                pbx.defaultTrunkGroups = ids
            }
            pbxs.append(pbx)
        } }

        var defaults = CallDefaults()
        if let d = top["defaults"] {
            let m = try d.dict(allowed: ["hold", "no_answer_timeout", "ring_timeout"])
            if let h = m["ring_timeout"] { defaults.ringTimeout = try h.duration() }
            if let h = m["hold"] { defaults.hold = try h.duration() }
            if let h = m["no_answer_timeout"] { defaults.noAnswerTimeout = try h.duration() }
        }

        var world = WorldConfig(seed: seed, latency: latency, hosts: hosts, dns: dns, sipServers: sipServers, telcos: telcos,
                                pbxs: pbxs, defaults: defaults)
        if let c = top["cold_start"] { world.coldStart = try recovering(false) { try c.bool() } }
        for t in try top["traffic"]?.sequence() ?? [] { try recovering(()) { world.traffic.append(try parseTraffic(t, world: world)) } }
        if let l = net["loss"] {
            let t = try l.string()
            let v = t.hasSuffix("%") ? String(t.dropLast()) : t
            guard let p = Double(v), p >= 0, p <= 100 else { throw l.error("loss must be a percentage 0-100, got '\(t)'") }
            world.loss = p / 100
        }

        // timeline
        var timeline: [Scenario.TimedCommand] = []
        for e in try top["timeline"]?.sequence() ?? [] { try recovering(()) {
            let m = try e.dict(allowed: ["at", "do"])
            guard let at = m["at"] else { throw e.error("missing required key 'at'", key: "\(e.path).at") }
            guard let d = m["do"] else { throw e.error("missing required key 'do'", key: "\(e.path).do") }
            let when = try at.duration()
            let text = try d.nonEmptyString()
            let cmd: Command
            do { cmd = try CommandParser.parse(text) } catch let pe as CommandParser.ParseError {
                throw d.error(pe.description)
            }
            try validate(cmd, world: world, node: d)
            timeline.append(.init(at: when, command: cmd, text: text, line: d.line))
        } }

        // expectations
        var expectations: [Scenario.CallExpectation] = []
        let outcomes: Set<String> = ["answered", "busy", "no-answer", "rejected", "blocked", "failed", "abandoned"]
        var summaryExpectations: [Scenario.SummaryExpectation] = []
        var fingerprint: (value: String, line: Int?)?
        var traceExpectations: [TraceExpectation] = []
        for e in try top["expect"]?.sequence() ?? [] { try recovering(()) {
            if case .mapping = e.node, let key = try e.mapping().first?.key, ["no_request_to", "card_state", "sip_attempts", "setup_delay"].contains(key),
               try e.mapping().count == 1 {
                traceExpectations.append(try parseTraceExpectation(key, e.dict(allowed: [key])[key]!, world: world, line: e.line))
                return
            }
            if case .mapping = e.node, try e.mapping().first?.key == "fingerprint" {
                let m = try e.dict(allowed: ["fingerprint"])
                let v = try m["fingerprint"]!.string()
                guard v.hasPrefix("fp64:"), v.count == 21, v.dropFirst(5).allSatisfy({ $0.isHexDigit }) else {
                    throw m["fingerprint"]!.error("a fingerprint is fp64: and 16 hex digits, as pbxsim run prints it, got '\(v)'")
                }
                fingerprint = (v, e.line)
                return
            }
            if case .mapping = e.node, try e.mapping().first?.key == "summary" {
                let m = try e.dict(allowed: ["summary"])
                summaryExpectations.append(try parseSummaryExpectation(m["summary"]!, world: world))
                return
            }
            let m = try e.dict(allowed: ["call", "outcome", "route", "answered_by", "sip_targets", "sip_attempts", "rerouted", "setup_delay",
                                         "carrier", "trunk_group", "released_by", "end_cause"])
            guard let c = m["call"] else { throw e.error("missing required key 'call' (or 'summary', 'fingerprint')", key: "\(e.path).call") }
            var x = Scenario.CallExpectation(call: try c.int(min: 1), line: e.line)
            if let o = m["outcome"] {
                let s = try o.string()
                guard outcomes.contains(s) else { throw o.error("unknown outcome '\(s)' (one of \(outcomes.sorted().joined(separator: ", ")))") }
                x.outcome = s
            }
            if let r = m["route"] {
                if r.isNull { x.route = .some(nil) } else {
                    let s = try r.string()
                    guard ["sip", "public"].contains(s) else { throw r.error("route must be sip, public or null, got '\(s)'") }
                    x.route = .some(s)
                }
            }
            if let a = m["answered_by"] { x.answeredBy = a.isNull ? .some(nil) : .some(try a.string()) }
            if let t = m["sip_targets"] { x.sipTargets = try t.sequence().map { try $0.string() } }
            if let n = m["sip_attempts"] { x.sipAttempts = try n.int(min: 0) }
            if let r = m["rerouted"] { x.rerouted = try r.bool() }
            if let c = m["carrier"] { x.carrier = c.isNull ? .some(nil) : .some(try c.string()) }
            if let g = m["trunk_group"] { x.trunkGroup = try g.int(min: 1) }
            if let b = m["released_by"] {
                if b.isNull { x.releasedBy = .some(nil) } else {
                    let v = try b.string()
                    guard v == "caller" || v == "callee" else { throw b.error("released_by must be caller, callee or null, got '\(v)'") }
                    x.releasedBy = .some(v)
                }
            }
            if let c = m["end_cause"] {
                if c.isNull { x.endCause = .some(nil) } else {
                    let v = try c.string()
                    guard EndReason.allCauses.contains(v) else {
                        throw c.error("unknown end_cause '\(v)' (one of \(EndReason.allCauses.joined(separator: ", ")), or null)")
                    }
                    x.endCause = .some(v)
                }
            }
            if let s = m["setup_delay"] {
                let sm = try s.dict(allowed: ["min", "max"])
                x.setupDelay = Scenario.Range(min: try sm["min"]?.duration().seconds, max: try sm["max"]?.duration().seconds)
            }
            expectations.append(x)
        } }
        let until = try top["until"]?.duration()
        var scenario = Scenario(file: path, name: name, description: description, seed: seed, world: world, timeline: timeline,
                                expectations: expectations, until: until, source: text)
        scenario.summaryExpectations = summaryExpectations
        scenario.fingerprint = fingerprint
        scenario.traceExpectations = traceExpectations
        if let st = top["start"] {
            let v = try st.string()
            guard let epoch = Civil.parse(v) else { throw st.error("expected a date and time like \"2026-01-05 09:00\", got '\(v)'") }
            scenario.start = v
            scenario.world.startEpoch = epoch
        }
        return scenario
    }

}
