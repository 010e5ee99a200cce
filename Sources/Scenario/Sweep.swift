import SimCore
import SIP
import Routing
import Telephony
import Trace

/// A distribution a sweep draws a value from.
public enum Distribution: Sendable {
    case constant(String)
    /// Uniform between two durations (integer nanoseconds, inclusive).
    case uniformDuration(SimTime, SimTime)
    /// Uniform between two numbers.
    case uniformNumber(Double, Double)
    /// One of the values, equally likely (repeat a value to weight it).
    case choice([String])

    /// Draws a value, as text in the scenario syntax.
    func draw(_ rng: inout Xoshiro256) -> String {
        switch self {
        case .constant(let v): return v
        case .uniformDuration(let a, let b):
            let span = UInt64(b.ns - a.ns)
            // Whole milliseconds when both ends are, so drawn values read naturally.
            if a.ns % 1_000_000 == 0 && b.ns % 1_000_000 == 0 {
                return SimTime(ns: a.ns + Int64(rng.uniformInclusive(span / 1_000_000)) * 1_000_000).durationString
            }
            return SimTime(ns: a.ns + Int64(rng.uniformInclusive(span))).durationString
        case .uniformNumber(let a, let b):
            // Between two whole numbers: a whole number, each equally likely.
            if a == a.rounded(), b == b.rounded(), abs(a) < 1e15, abs(b) < 1e15 {
                return String(Int64(a) + Int64(rng.uniformInclusive(UInt64(Int64(b) - Int64(a)))))
            }
            let v = a + (b - a) * rng.unitDouble()
            return String((v * 1000).rounded() / 1000)
        case .choice(let vs): return vs[Int(rng.uniformInclusive(UInt64(vs.count - 1)))]
        }
    }
}

/// A dataset sweep: a base scenario and what varies per run. Each run is reproducible from the
/// sweep file, the seed and the run index alone.
public struct Sweep: Sendable {
    public struct CallPlan: Sendable {
        public var count: Distribution = .constant("1")
        public var from: [String] = []
        public var to: [String] = []
        public var firstAt: Distribution = .constant("1s")
        public var gap: Distribution = .constant("30s")
        public var hold: Distribution = .constant("30s")
    }

    public struct Fault: Sendable {
        public var command: String
        public var probability: Double
        public var at: Distribution
    }

    public var file: String
    public var name: String
    public var source: String
    public var base: Scenario
    public var calls: CallPlan?
    public var vary: [(key: String, dist: Distribution)]
    public var faults: [Fault]
    public var keepTimeline: Bool

    /// The most calls one sweep run may place (`calls.count`).
    public static let maxCalls = 10_000

    static let varyKeys: Set<String> = ["latency", "loss", "invite_timeout", "t1", "t2", "failback", "reroute_on", "transport",
                                        "failover_timer_register", "register_retry", "erlangs"]

    /// The scenario of run `index`, the parameters drawn, and the world seed.
    public func scenario(run index: Int, seed: UInt64) throws -> (Scenario, [(String, String)]) {
        var rng = RandomStreams(seed: seed).stream("sweep-run-\(index)")
        var sm = SplitMix64(state: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(index + 1)))
        let worldSeed = sm.next()
        var s = base
        s.name = name
        s.seed = worldSeed
        s.world.seed = worldSeed
        s.expectations = []
        s.until = nil
        if !keepTimeline { s.timeline = [] }
        var params: [(String, String)] = []
        for (key, dist) in vary {
            let v = dist.draw(&rng)
            params.append((key, v))
            try apply(key, v, to: &s)
        }
        var timeline = s.timeline
        if let c = calls {
            let raw = c.count.draw(&rng)
            // Checked at load: every value the distribution can give is a count in 0...maxCalls.
            let n = max(0, min(Sweep.maxCalls, Int(raw) ?? Int((Double(raw) ?? 1).rounded())))
            params.append(("calls", String(n)))
            var t = SimTime.parseDuration(c.firstAt.draw(&rng)) ?? .seconds(1)
            for k in 0..<n {
                let from = c.from[Int(rng.uniformInclusive(UInt64(c.from.count - 1)))]
                let to = c.to[Int(rng.uniformInclusive(UInt64(c.to.count - 1)))]
                let hold = c.hold.draw(&rng)
                let text = "dial \(from) \(to) hold \(hold)"
                timeline.append(.init(at: t, command: try CommandParser.parse(text), text: text, line: nil))
                if k < n - 1 { t += SimTime.parseDuration(c.gap.draw(&rng)) ?? .seconds(30) }
            }
        }
        for (i, f) in faults.enumerated() {
            let on = rng.unitDouble() < f.probability
            let at = f.at.draw(&rng)
            if on {
                params.append(("fault\(i + 1)", "\(at) \(f.command)"))
                timeline.append(.init(at: SimTime.parseDuration(at) ?? .zero, command: try CommandParser.parse(f.command), text: f.command, line: nil))
            }
        }
        // Stable by time: commands at one instant keep the order above.
        s.timeline = timeline.enumerated().sorted { $0.element.at < $1.element.at || ($0.element.at == $1.element.at && $0.offset < $1.offset) }.map(\.element)
        return (s, params)
    }

    func apply(_ key: String, _ v: String, to s: inout Scenario) throws {
        func cards(_ f: (inout CardConfig) -> Void) {
            for i in s.world.pbxs.indices where s.world.pbxs[i].card != nil { f(&s.world.pbxs[i].card!) }
        }
        // The same rules as in a scenario file: a value a scenario would refuse is refused here.
        func fail(_ message: String) -> ScenarioError { ScenarioError(file: file, line: nil, column: nil, key: "vary.\(key)", message: message) }
        func dur(_ v: String, positive: Bool = false) throws -> SimTime {
            guard let d = SimTime.parseDuration(v) else { throw fail("'\(v)' is not a duration") }
            guard d <= SimTime.maxDuration else { throw fail(SimTime.tooLong(v)) }
            if positive && d.ns <= 0 { throw fail("'\(v)': must be positive") }
            return d
        }
        switch key {
        case "latency": s.world.latency = try dur(v)
        case "loss":
            guard let p = Double(v.hasSuffix("%") ? String(v.dropLast()) : v), p.isFinite else { throw fail("'\(v)' is not a percentage") }
            guard (0...100).contains(p) else { throw fail("loss must be between 0 and 100 %, got \(v)") }
            s.world.loss = p / 100
        case _ where CardParameters.keys.contains(key):
            // The same parser as a scenario's v_sipgw section: the same values allowed.
            for i in s.world.pbxs.indices where s.world.pbxs[i].card != nil {
                do { try CardParameters.apply(key, v, to: &s.world.pbxs[i].card!) } catch { throw fail(error.message) }
            }
        case "erlangs":
            // Offered load of every traffic source of the base scenario: rate = A / mean hold.
            guard let a = Double(v), a > 0, a.isFinite else { throw fail("'\(v)' is not a positive load") }
            for i in s.world.traffic.indices {
                let rate = a / s.world.traffic[i].hold.mean.seconds
                guard rate >= TrafficConfig.minRate, rate <= TrafficConfig.maxRate else { throw fail(TrafficConfig.rateMessage(rate)) }
                s.world.traffic[i].rate = rate
            }
        default: break
        }
    }
}

public enum SweepLoader {
    /// Whether a YAML text is a sweep (it names a `base` scenario at the top level) rather than a scenario.
    public static func looksLikeSweep(_ text: String) -> Bool {
        text.split(separator: "\n").contains { $0.hasPrefix("base:") }
    }

    /// Reads a sweep file; `base` is resolved relative to the sweep file's directory.
    public static func load(path: String, text: String, readFile: (String) -> String?) throws -> Sweep {
        let root = try YNode.load(text, file: path)
        let top = try root.dict(allowed: ["name", "base", "calls", "vary", "faults", "keep_timeline", "description"])
        guard let b = top["base"] else { throw root.error("missing required key 'base'", key: "base") }
        let baseRel = try b.nonEmptyString()
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let basePath = baseRel.hasPrefix("/") ? baseRel : dir + "/" + baseRel
        guard let baseText = readFile(basePath) else { throw b.error("cannot read the base scenario \(basePath)") }
        let base = try ScenarioLoader.load(path: basePath, text: baseText)

        func dist(_ n: YNode, kind: String) throws -> Distribution {
            if case .scalar = n.node { return .constant(try n.string()) }
            let m = try n.dict(allowed: ["uniform", "choice"])
            if let u = m["uniform"] {
                let v = try u.sequence()
                guard v.count == 2 else { throw u.error("uniform takes [low, high]") }
                let a = try v[0].string(), c = try v[1].string()
                for t in [a, c] where kind != "number" && Double(t) == nil {
                    let why = SimTime.durationProblem(t)
                    if !why.isEmpty && !why.hasPrefix("expected") { throw u.error(why) }
                }
                if let x = SimTime.parseDuration(a), let y = SimTime.parseDuration(c), kind != "number" {
                    guard x <= y else { throw u.error("low must not exceed high") }
                    return .uniformDuration(x, y)
                }
                guard let x = Double(a), let y = Double(c), x.isFinite, y.isFinite, x <= y else {
                    throw u.error("expected two finite numbers or two durations, low first")
                }
                return .uniformNumber(x, y)
            }
            if let c = m["choice"] {
                let vs = try c.sequence().map { try $0.string() }
                guard !vs.isEmpty else { throw c.error("choice needs at least one value") }
                return .choice(vs)
            }
            throw n.error("expected a value, {uniform: [low, high]} or {choice: [...]}")
        }

        /// The values a distribution can give at its extremes: each choice, both ends of a range.
        func extremes(_ d: Distribution) -> [String] {
            switch d {
            case .constant(let v): return [v]
            case .choice(let vs): return vs
            case .uniformDuration(let a, let b): return [a.durationString, b.durationString]
            case .uniformNumber(let a, let b): return [Sweep.numberText(a), Sweep.numberText(b)]
            }
        }
        func checkDuration(_ d: Distribution, _ n: YNode) throws {
            for v in extremes(d) {
                guard let t = SimTime.parseDuration(v) else { throw n.error("'\(v)' is not a duration") }
                guard t <= SimTime.maxDuration else { throw n.error(SimTime.tooLong(v)) }
            }
        }
        var vary: [(String, Distribution)] = []
        let probe = Sweep(file: path, name: "", source: text, base: base, calls: nil, vary: [], faults: [], keepTimeline: false)
        if let v = top["vary"] {
            for (k, n) in try v.mapping(allowed: Sweep.varyKeys) {
                if k == "erlangs" && base.world.traffic.isEmpty { throw n.error("erlangs varies the base scenario's traffic, and it has none") }
                let d = try dist(n, kind: k == "loss" || k == "erlangs" ? "number" : "any")
                // Every value the sweep can draw must pass the scenario's own rules.
                for x in extremes(d) {
                    var s = base
                    do { try probe.apply(k, x, to: &s) } catch let e as ScenarioError { throw n.error(e.message) }
                }
                vary.append((k, d))
            }
        }
        var calls: Sweep.CallPlan?
        if let c = top["calls"] {
            let m = try c.dict(allowed: ["count", "from", "to", "first_at", "gap", "hold"])
            var plan = Sweep.CallPlan()
            if let x = m["count"] {
                plan.count = try dist(x, kind: "number")
                for v in extremes(plan.count) {
                    guard let d = Double(v), d.isFinite, d >= 0, d <= Double(Sweep.maxCalls) else {
                        throw x.error("a count of calls is 0 to \(Sweep.maxCalls) per run, got '\(v)'")
                    }
                }
            }
            guard let f = m["from"], let t = m["to"] else { throw c.error("calls needs 'from' and 'to'") }
            plan.from = try f.stringList()
            plan.to = try t.stringList()
            for who in plan.from {
                do { _ = try CommandParser.parse("dial \(who) 0") } catch { throw f.error("'\(who)' is not PBX/EXT") }
                let parts = who.split(separator: "/")
                let ok = base.world.pbxs.contains { p in p.extensions.contains { $0.number == String(parts.last!) } && (parts.count == 1 || p.name == String(parts[0])) }
                if !ok { throw f.error("no extension \(who) in the base scenario") }
            }
            if plan.from.isEmpty || plan.to.isEmpty { throw c.error("from and to must not be empty") }
            if let x = m["first_at"] { plan.firstAt = try dist(x, kind: "any"); try checkDuration(plan.firstAt, x) }
            if let x = m["gap"] { plan.gap = try dist(x, kind: "any"); try checkDuration(plan.gap, x) }
            if let x = m["hold"] { plan.hold = try dist(x, kind: "any"); try checkDuration(plan.hold, x) }
            calls = plan
        }
        var faults: [Sweep.Fault] = []
        for f in try top["faults"]?.sequence() ?? [] {
            let m = try f.dict(allowed: ["do", "probability", "at"])
            guard let d = m["do"] else { throw f.error("missing required key 'do'", key: "\(f.path).do") }
            let text = try d.nonEmptyString()
            do {
                let cmd = try CommandParser.parse(text)
                try ScenarioLoader.validate(cmd, world: base.world, node: d)
            } catch let e as CommandParser.ParseError { throw d.error(e.description) }
            let at = try m["at"].map { try dist($0, kind: "any") } ?? .constant("0s")
            if let n = m["at"] { try checkDuration(at, n) }
            faults.append(.init(command: text, probability: try m["probability"]?.double(min: 0, max: 1) ?? 1, at: at))
        }
        let name = try top["name"]?.nonEmptyString() ?? ScenarioLoader.basename(path)
        return Sweep(file: path, name: name, source: text, base: base, calls: calls, vary: vary, faults: faults,
                     keepTimeline: try top["keep_timeline"]?.bool() ?? false)
    }
}

extension Sweep {
    /// A number as a sweep writes it (whole numbers without a fraction).
    static func numberText(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }
}
