import SimCore
import Routing
import Telephony
import Trace

extension ScenarioLoader {
    /// `"2000..2199"` or `"012-345-2000..012-345-2199"`: both ends as digits, same length, low first.
    static func rangeEnds(_ text: String, node: YNode) throws -> (String, String) {
        let parts = text.splitting(on: "..")
        guard parts.count <= 2 else { throw node.error("'\(text)' is not a number or a range like 2000..2199") }
        let lo = phoneDigits(parts[0]), hi = phoneDigits(parts.count == 2 ? parts[1] : parts[0])
        guard !lo.isEmpty, lo.allSatisfy({ $0.isASCII && $0.isNumber }), hi.allSatisfy({ $0.isASCII && $0.isNumber }),
              lo.count == hi.count, lo <= hi else {
            throw node.error("'\(text)' is not a range of numbers of the same length, low first")
        }
        // E.164: a number has at most 15 digits.
        guard lo.count <= 15 else { throw node.error("'\(text)': a number has at most 15 digits (E.164)") }
        return (lo, hi)
    }

    static func expandRange(_ node: YNode, limit: Int) throws -> [String] {
        let (lo, hi) = try rangeEnds(try node.string(), node: node)
        let a = Int(lo)!, b = Int(hi)!
        guard b - a < limit else { throw node.error("the range has \(b - a + 1) numbers; at most \(limit)") }
        return (a...b).map { let v = String($0); return String(repeating: "0", count: lo.count - v.count) + v }
    }

    static func numberList(_ node: YNode?) throws -> [String] {
        guard let node else { return [] }
        var out: [String] = []
        for n in (try? node.sequence()) ?? [node] {
            let t = try n.string()
            if t.contains("..") { out += try expandRange(n, limit: 100_000) } else { out.append(phoneDigits(t)) }
        }
        return out
    }

    static func ringDelay(_ node: YNode) throws -> RingDelay {
        if case .scalar = node.node { return .fixed(try node.duration()) }
        let m = try node.dict(allowed: ["uniform"])
        guard let u = m["uniform"] else { throw node.error("expected a duration or {uniform: [low, high]}") }
        let v = try u.sequence()
        guard v.count == 2 else { throw u.error("uniform takes [low, high]") }
        let a = try v[0].duration(), b = try v[1].duration()
        guard a <= b else { throw u.error("low must not exceed high") }
        return .uniform(a, b)
    }

    static func hunt(_ node: YNode) throws -> HuntOrder {
        let s = try node.string()
        guard let h = HuntOrder(rawValue: s) else { throw node.error("hunt must be lowest, highest or rotation, got '\(s)'") }
        return h
    }

    /// Minutes after midnight of "HH:MM".
    static func clock(_ node: YNode) throws -> Int {
        let s = try node.string()
        let p = s.split(separator: ":").compactMap { Int($0) }
        guard p.count == 2, (0..<24).contains(p[0]), (0..<60).contains(p[1]) else { throw node.error("expected a time like 09:00, got '\(s)'") }
        return p[0] * 60 + p[1]
    }

    static let weekdayNames = ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]

    static func parseARS(_ node: YNode, groups: [Int]) throws -> ARSConfig {
        let m = try node.dict(allowed: ["leading_numbers", "exceptions", "plans", "carriers"])
        var carriers: [String: ARSConfig.Carrier] = [:]
        for (name, cn) in try m["carriers"]?.mapping() ?? [] {
            let c = try cn.dict(allowed: ["trunk_groups", "trunk_group_priority", "trunk_groups_enabled", "access_code", "remove", "modify"])
            func groupList(_ key: String) throws -> [Int]? {
                guard let n = c[key] else { return nil }
                let ids = try n.sequence().map { try $0.int() }
                for id in ids where !groups.contains(id) { throw n.error("no trunk group \(id) on this PBX") }
                guard Set(ids).count == ids.count else { throw n.error("a trunk group is listed twice") }
                return ids
            }
            let ids: [Int]
            if let explicit = try groupList("trunk_groups") {
                // An explicit hunt order.
                if c["trunk_group_priority"] != nil || c["trunk_groups_enabled"] != nil {
                    throw cn.error("give either 'trunk_groups' (an explicit hunt order) or 'trunk_group_priority'/'trunk_groups_enabled' (the carrier table), not both", key: "\(cn.path).trunk_groups")
                }
                ids = explicit
            } else {
                // Panasonic's carrier table: TRG priority 1-4, then the remaining enabled groups ascending.
                let priority = try groupList("trunk_group_priority") ?? []
                if priority.count > 4 { throw c["trunk_group_priority"]!.error("at most 4 trunk-group priorities (TRG priority 1-4)") }
                let enabled = try groupList("trunk_groups_enabled") ?? []
                guard !priority.isEmpty || !enabled.isEmpty else {
                    throw cn.error("missing required key 'trunk_groups' (or 'trunk_group_priority' / 'trunk_groups_enabled')", key: "\(cn.path).trunk_groups")
                }
                ids = ARS.huntOrder(priority: priority, enabled: enabled)
            }
            let modify = try c["modify"]?.string() ?? "H"
            guard modify.allSatisfy({ "CHch0123456789*#".contains($0) }) else { throw c["modify"]!.error("a modify command uses digits, *, #, C and H") }
            carriers[name] = ARSConfig.Carrier(name: name, trunkGroups: ids, accessCode: phoneDigits(try c["access_code"]?.string() ?? ""),
                                               remove: try c["remove"]?.int(min: 0, max: 32) ?? 0, modify: modify)
        }
        func blocks(_ n: YNode) throws -> [ARSConfig.TimeBlock] {
            let list = try n.sequence()
            guard list.count <= 4 else { throw n.error("at most 4 time blocks per day") }
            return try list.map { b in
                let bm = try b.dict(allowed: ["start", "carriers"])
                guard let st = bm["start"], let cs = bm["carriers"] else { throw b.error("a time block needs 'start' and 'carriers'") }
                let names = try cs.stringList()
                for c in names where carriers[c] == nil { throw cs.error("unknown carrier '\(c)'") }
                return ARSConfig.TimeBlock(startMinute: try clock(st), carriers: names)
            }
        }
        var plans: [Int: ARSConfig.Plan] = [:]
        for (k, pn) in try m["plans"]?.mapping() ?? [] {
            guard let id = Int(k), (1...48).contains(id) else { throw pn.error("a routing plan number is 1 to 48, got '\(k)'") }
            let pm = try pn.dict(allowed: Set(["time_blocks"] + weekdayNames.keys))
            var plan = ARSConfig.Plan(blocks: try pm["time_blocks"].map(blocks) ?? [])
            for (day, num) in weekdayNames { if let d = pm[day] { plan.days[num] = try blocks(d) } }
            plans[id] = plan
        }
        var leading: [ARSConfig.LeadingEntry] = []
        for e in try m["leading_numbers"]?.sequence() ?? [] {
            let em = try e.dict(allowed: ["digits", "plan"])
            guard let d = em["digits"], let p = em["plan"] else { throw e.error("an entry needs 'digits' and 'plan'") }
            let digits = try d.nonEmptyString()
            guard digits.count <= 16, digits.allSatisfy({ "0123456789*#Xx".contains($0) }) else { throw d.error("leading digits: up to 16 of 0-9, *, #, X") }
            let plan = try p.int(min: 1, max: 48)
            guard plans[plan] != nil else { throw p.error("no routing plan \(plan)") }
            leading.append(.init(digits: digits, plan: plan))
        }
        let exceptions = try (m["exceptions"]?.stringList() ?? []).map(phoneDigits)
        return ARSConfig(leading: leading, exceptions: exceptions, plans: plans, carriers: carriers)
    }

    static func parseTRS(_ node: YNode) throws -> TRSConfig {
        var levels: [Int: TRSConfig.Level] = [:]
        for (k, ln) in try node.mapping() {
            guard let lv = Int(k), (2...6).contains(lv) else { throw ln.error("TRS levels with tables are 2 to 6, got '\(k)'") }
            let lm = try ln.dict(allowed: ["denied", "exceptions"])
            levels[lv] = TRSConfig.Level(denied: try (lm["denied"]?.stringList() ?? []).map(phoneDigits),
                                         exceptions: try (lm["exceptions"]?.stringList() ?? []).map(phoneDigits))
        }
        return TRSConfig(levels: levels)
    }
}

extension ScenarioLoader {
    static func parseTraffic(_ node: YNode, world: WorldConfig) throws -> TrafficConfig {
        let m = try node.dict(allowed: ["from", "to", "rate", "erlangs", "mean_hold", "hold", "sigma", "calls", "duration", "start_at"])
        guard let f = m["from"] else { throw node.error("missing required key 'from' (PBX/EXT or PBX/FIRST..LAST)", key: "\(node.path).from") }
        let fromText = try f.nonEmptyString()
        let parts = fromText.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let pbx = world.pbxs.first(where: { $0.name == parts[0] }) else {
            throw f.error("'\(fromText)' is not PBX/EXT or PBX/FIRST..LAST of a declared PBX")
        }
        let callers = parts[1].contains("..") ? try expandRange(YNode(node: .init(parts[1]), path: f.path, file: f.file), limit: 100_000) : [parts[1]]
        let known = Set(pbx.extensions.map(\.number))
        for c in callers where !known.contains(c) { throw f.error("no extension \(pbx.name)/\(c)") }
        guard let t = m["to"] else { throw node.error("missing required key 'to'", key: "\(node.path).to") }
        var destinations: [(first: String, last: String)] = []
        for d in (try? t.sequence()) ?? [t] {
            let (lo, hi) = try rangeEnds(try d.string(), node: d)
            destinations.append((lo, hi))
        }
        guard !destinations.isEmpty else { throw t.error("at least one destination") }
        guard destinations.count <= 10_000 else { throw t.error("at most 10000 destinations (give ranges)") }
        let meanHold = try m["mean_hold"]?.duration() ?? .seconds(180)
        guard meanHold.ns > 0 else { throw m["mean_hold"]!.error("must be positive") }
        var rate: Double
        if let r = m["rate"] {
            // calls per second, or "N/h", "N/min".
            let text = try r.string()
            if text.hasSuffix("/h"), let v = Double(text.dropLast(2)) { rate = v / 3600 }
            else if text.hasSuffix("/min"), let v = Double(text.dropLast(4)) { rate = v / 60 }
            else if text.hasSuffix("/s"), let v = Double(text.dropLast(2)) { rate = v }
            else if let v = Double(text) { rate = v }
            else { throw r.error("rate: calls per second, or like 120/h, 2/min") }
            if m["erlangs"] != nil { throw r.error("give either rate or erlangs, not both") }
        } else if let e = m["erlangs"] {
            rate = try e.double(min: 0) / meanHold.seconds
        } else {
            throw node.error("give the arrival rate (rate) or the offered load (erlangs with mean_hold)")
        }
        guard rate > 0, rate.isFinite else { throw node.error("the arrival rate must be positive") }
        guard rate >= TrafficConfig.minRate, rate <= TrafficConfig.maxRate else { throw (m["rate"] ?? m["erlangs"] ?? node).error(TrafficConfig.rateMessage(rate)) }
        var hold = TrafficConfig.Hold.exponential(mean: meanHold)
        if let h = m["hold"] {
            switch try h.string() {
            case "exponential": hold = .exponential(mean: meanHold)
            case "fixed": hold = .fixed(meanHold)
            case "lognormal": hold = .lognormal(mean: meanHold, sigma: try m["sigma"]?.double(min: 0.01, max: 5) ?? 1)
            case let x: throw h.error("hold must be exponential, fixed or lognormal, got '\(x)'")
            }
        }
        var c = TrafficConfig(pbx: pbx.name, callers: callers, destinations: destinations, rate: rate, hold: hold)
        c.calls = try m["calls"]?.int(min: 1, max: TrafficConfig.maxCalls)
        c.duration = try m["duration"]?.duration()
        c.startAt = try m["start_at"]?.duration() ?? .zero
        if c.calls == nil && c.duration == nil { throw node.error("limit the traffic with calls or duration") }
        if c.calls == nil, let d = c.duration, rate * d.seconds > Double(TrafficConfig.maxCalls) {
            throw m["duration"]!.error("about \(Int64(rate * d.seconds)) calls at this rate; a run offers at most \(TrafficConfig.maxCalls) (give calls:, or split the work with pbxsim generate)")
        }
        return c
    }

    static func parseSummaryExpectation(_ node: YNode, world: WorldConfig) throws -> Scenario.SummaryExpectation {
        var pbx = "(all)"
        var checks: [(String, Scenario.Range)] = []
        let valid = Set(PBXSummary.fieldNames)
        for (k, v) in try node.mapping() {
            if k == "pbx" {
                pbx = try v.nonEmptyString()
                guard pbx == "(all)" || world.pbxs.contains(where: { $0.name == pbx }) else { throw v.error("no PBX '\(pbx)'") }
                continue
            }
            guard valid.contains(k) else { throw v.error("unknown summary field '\(k)' (one of: \(valid.sorted().joined(separator: ", ")))") }
            func num(_ n: YNode) throws -> Double {
                if k.hasPrefix("pdd_") { return try n.duration().seconds }
                return try n.double()
            }
            if case .scalar = v.node {
                let x = try num(v)
                checks.append((k, Scenario.Range(min: x, max: x)))
            } else {
                let r = try v.dict(allowed: ["min", "max"])
                checks.append((k, Scenario.Range(min: try r["min"].map(num), max: try r["max"].map(num))))
            }
        }
        return Scenario.SummaryExpectation(pbx: pbx, line: node.line, checks: checks)
    }
}
