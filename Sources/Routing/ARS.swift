/// Automatic Route Selection (Panasonic ARS, domain §1.4), sans-I/O: which carriers a public call
/// may use now and how its digits are modified for each.
public struct ARSConfig: Sendable, Equatable {
    public struct LeadingEntry: Sendable, Equatable {
        /// Digits with `X` as a wildcard for any one digit.
        public var digits: String
        public var plan: Int
        public init(digits: String, plan: Int) { self.digits = digits; self.plan = plan }
    }

    public struct TimeBlock: Sendable, Equatable {
        /// Minutes after midnight when the block starts.
        public var startMinute: Int
        /// Carrier names in priority order.
        public var carriers: [String]
        public init(startMinute: Int, carriers: [String]) { self.startMinute = startMinute; self.carriers = carriers }
    }

    public struct Plan: Sendable, Equatable {
        /// Up to four time blocks for every day...
        public var blocks: [TimeBlock]
        /// ...or per weekday (0 = Sunday ... 6 = Saturday), overriding `blocks` on that day.
        public var days: [Int: [TimeBlock]]
        public init(blocks: [TimeBlock], days: [Int: [TimeBlock]] = [:]) { self.blocks = blocks; self.days = days }
    }

    public struct Carrier: Sendable, Equatable {
        public var name: String
        /// Trunk groups in hunt order: an explicit list, or `ARS.huntOrder` of the carrier table's
        /// TRG priorities and enabled groups.
        public var trunkGroups: [Int]
        public var accessCode: String
        /// Leading digits removed before the modify command.
        public var remove: Int
        /// `C` = carrier access code, `H` = the remaining dialled digits, other characters literally.
        public var modify: String
        public init(name: String, trunkGroups: [Int], accessCode: String = "", remove: Int = 0, modify: String = "H") {
            self.name = name; self.trunkGroups = trunkGroups; self.accessCode = accessCode; self.remove = remove; self.modify = modify
        }
    }

    /// In table order: when several entries match, the lowest position wins (not the longest).
    public var leading: [LeadingEntry]
    /// Leading numbers that bypass ARS.
    public var exceptions: [String]
    public var plans: [Int: Plan]
    public var carriers: [String: Carrier]

    public init(leading: [LeadingEntry], exceptions: [String] = [], plans: [Int: Plan], carriers: [String: Carrier]) {
        self.leading = leading; self.exceptions = exceptions; self.plans = plans; self.carriers = carriers
    }
}

public enum ARS {
    /// Whether `digits` begin with `pattern` (`X` matches any one digit).
    public static func matches(_ pattern: String, _ digits: String) -> Bool {
        let p = Array(pattern), d = Array(digits)
        guard d.count >= p.count else { return false }
        for (i, c) in p.enumerated() where c != "X" && c != "x" && c != d[i] { return false }
        return true
    }

    public enum Selection: Sendable, Equatable {
        /// An exception-table number: no ARS, the default route, digits as dialled.
        case bypass(exception: String)
        /// ARS chose a plan: try these carriers in order.
        case carriers(plan: Int, tablePosition: Int, carriers: [ARSConfig.Carrier])
        /// No leading-number entry matched.
        case noMatch
    }

    /// Chooses the carriers for a number at a weekday (0 = Sunday) and minute of the day.
    public static func select(_ digits: String, config: ARSConfig, weekday: Int, minuteOfDay: Int) -> Selection {
        if let e = config.exceptions.first(where: { matches($0, digits) }) { return .bypass(exception: e) }
        guard let (pos, entry) = config.leading.enumerated().first(where: { matches($0.element.digits, digits) }),
              let plan = config.plans[entry.plan] else { return .noMatch }
        let block = activeBlock(plan, weekday: weekday, minuteOfDay: minuteOfDay)
        let carriers = (block?.carriers ?? []).compactMap { config.carriers[$0] }
        return .carriers(plan: entry.plan, tablePosition: pos + 1, carriers: carriers)
    }

    /// The block in effect: the latest start at or before now; before the day's first block, the
    /// previous day's last block is still in effect.
    public static func activeBlock(_ plan: ARSConfig.Plan, weekday: Int, minuteOfDay: Int) -> ARSConfig.TimeBlock? {
        let today = (plan.days[weekday] ?? plan.blocks).sorted { $0.startMinute < $1.startMinute }
        if let b = today.last(where: { $0.startMinute <= minuteOfDay }) { return b }
        let yesterday = (plan.days[(weekday + 6) % 7] ?? plan.blocks).sorted { $0.startMinute < $1.startMinute }
        return yesterday.last ?? today.last
    }

    /// The trunk-group search order of a carrier as Panasonic's carrier table defines it (domain
    /// §1.4.6, checklist 21): the groups of TRG priority 1 to 4 in that order, then the carrier's
    /// remaining enabled groups in ascending order, each group once. Priorities (9, 3, 1, 7) with
    /// groups {5, 7, 9, 11} enabled give 9, 3, 1, 7, 5, 11.
    public static func huntOrder(priority: [Int], enabled: [Int]) -> [Int] {
        var order: [Int] = []
        var seen = Set<Int>()
        for g in priority + enabled.sorted() where seen.insert(g).inserted { order.append(g) }
        return order
    }

    /// Carrier digit modification: remove `remove` leading digits, then expand the command
    /// (`C` access code, `H` the remaining digits). `0123456789`, remove 6, `CH#12`, `0077` ->
    /// `00776789#12`.
    public static func modify(_ digits: String, carrier: ARSConfig.Carrier) -> String {
        let rest = String(digits.dropFirst(min(carrier.remove, digits.count)))
        var out = ""
        for c in carrier.modify {
            switch c {
            case "C", "c": out += carrier.accessCode
            case "H", "h": out += rest
            default: out.append(c)
            }
        }
        return out
    }
}

/// Toll restriction (TRS, domain §1.4.7): levels 1 (everything allowed) to 7 (everything barred);
/// levels 2-6 check a denied table, then an exception table, on the digits the user dialled.
public struct TRSConfig: Sendable, Equatable {
    public struct Level: Sendable, Equatable {
        public var denied: [String]
        public var exceptions: [String]
        public init(denied: [String], exceptions: [String] = []) { self.denied = denied; self.exceptions = exceptions }
    }
    public var levels: [Int: Level]
    public init(levels: [Int: Level]) { self.levels = levels }

    /// Whether an extension of `level` may dial `digits`.
    public func allows(_ digits: String, level: Int) -> Bool {
        if level <= 1 { return true }
        if level >= 7 { return false }
        guard let l = levels[level] else { return true }
        if l.exceptions.contains(where: { ARS.matches($0, digits) }) { return true }
        return !l.denied.contains(where: { ARS.matches($0, digits) })
    }
}

/// Quick Dial rerouting (domain §1.1): a private leading number maps to a public prefix when the
/// VoIP call fails: `720` -> `91333123` turns `7201011` into `913331231011`.
public enum QuickDial {
    public static func reroute(_ digits: String, map: [String: String]) -> String? {
        guard let key = map.keys.filter({ digits.hasPrefix($0) }).max(by: { $0.count < $1.count }) else { return nil }
        return map[key]! + digits.dropFirst(key.count)
    }
}

/// Trunk channel hunting within a group (NSX1000 §2.5.5).
public enum HuntOrder: String, Sendable, CaseIterable { case lowest, highest, rotation }

public enum Hunt {
    /// The channel to seize among `busy` (true = in use), or nil when all are busy. `last` is the
    /// channel seized last (rotation starts after it).
    public static func channel(busy: [Bool], order: HuntOrder, last: Int?) -> Int? {
        let n = busy.count
        guard n > 0 else { return nil }
        switch order {
        case .lowest: return busy.firstIndex(of: false)
        case .highest: return busy.lastIndex(of: false)
        case .rotation:
            let start = ((last ?? -1) + 1) % n
            for k in 0..<n where !busy[(start + k) % n] { return (start + k) % n }
            return nil
        }
    }
}

/// The public-trunk route of a dialled number at a PBX (sans-I/O): toll restriction on what the
/// user dialled, Quick Dial for private numbers, then ARS (carriers and their trunk groups, with
/// digit modification) or the default trunk groups. The PBX records the decisions and hunts the
/// candidates in order.
public enum PublicRoute {
    /// A decision the PBX records as a `route-selected` step.
    public enum Decision: Equatable, Sendable {
        case quickDial(digits: String, mapped: String, sent: String)
        case arsException(String, groups: [Int])
        case arsDefault(digits: String, groups: [Int])
        case ars(entry: Int, plan: Int, carriers: [String])
    }

    /// One (carrier, trunk group, digits to send) to hunt, in order.
    public struct Candidate: Equatable, Sendable {
        public let carrier: String?
        public let group: Int
        public let digits: String
        public init(carrier: String?, group: Int, digits: String) { self.carrier = carrier; self.group = group; self.digits = digits }
    }

    public enum Plan: Equatable, Sendable {
        /// TRS forbids the number at the caller's level (reorder tone).
        case denied(level: Int, digits: String)
        case route(decisions: [Decision], candidates: [Candidate])
    }

    /// Plans the route of `digits` (without the outside-line access code) dialled by an
    /// extension of TRS level `trsLevel`.
    public static func plan(_ digits: String, trs: TRSConfig?, trsLevel: Int, quickDial: [String: String], accessCode: String?,
                            ars: ARSConfig?, weekday: Int, minuteOfDay: Int, defaultGroups: [Int]) -> Plan {
        var digits = digits
        // Toll restriction checks what the user dialled, before any modification (domain §1.4.7).
        if let trs, !trs.allows(digits, level: trsLevel) { return .denied(level: trsLevel, digits: digits) }
        var decisions: [Decision] = []
        if digits.first != "0", let mapped = QuickDial.reroute(digits, map: quickDial) {
            // The access code in the mapped digits only selects the trunk.
            let ac = accessCode ?? ""
            let sent = (!ac.isEmpty && mapped.hasPrefix(ac)) ? String(mapped.dropFirst(ac.count)) : mapped
            decisions.append(.quickDial(digits: digits, mapped: mapped, sent: sent))
            digits = sent
        }
        guard let ars else { return .route(decisions: decisions, candidates: defaultGroups.map { Candidate(carrier: nil, group: $0, digits: digits) }) }
        switch ARS.select(digits, config: ars, weekday: weekday, minuteOfDay: minuteOfDay) {
        case .bypass(let e):
            decisions.append(.arsException(e, groups: defaultGroups))
            return .route(decisions: decisions, candidates: defaultGroups.map { Candidate(carrier: nil, group: $0, digits: digits) })
        case .noMatch:
            decisions.append(.arsDefault(digits: digits, groups: defaultGroups))
            return .route(decisions: decisions, candidates: defaultGroups.map { Candidate(carrier: nil, group: $0, digits: digits) })
        case .carriers(let plan, let pos, let carriers):
            decisions.append(.ars(entry: pos, plan: plan, carriers: carriers.map(\.name)))
            var out: [Candidate] = []
            for c in carriers {
                let modified = ARS.modify(digits, carrier: c)
                for g in c.trunkGroups { out.append(Candidate(carrier: c.name, group: g, digits: modified)) }
            }
            return .route(decisions: decisions, candidates: out)
        }
    }
}
