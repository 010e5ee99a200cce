import SimCore
import Telephony
import Trace

/// What a finished run reports.
public struct RunResult: Sendable {
    /// Summaries of the calls that expectations refer to (all calls when `keepAll`).
    public var calls: [Int: CallSummary]
    public var callCount: Int
    public var outcomes: [String: Int]
    public var endTime: SimTime
    public var expectations: [ExpectationResult]
    public var commandErrors: [String]
    public var stoppedAtLimit: Bool
    public var summaries: [PBXSummary] = []
    /// The run ended because `shouldStop` said so (a signal).
    public var interrupted = false
    /// The run reached the simulated-time ceiling (`SimTime.maxDuration`) with work still pending.
    public var hitTimeLimit = false
    /// The trace's fingerprint (`TraceFingerprint`).
    public var fingerprint = ""
    public var allHeld: Bool { expectations.allSatisfy(\.held) }
    /// The run's `run.status`: `interrupted` (a signal), `passed` (every expectation held and the
    /// run ended before the simulated-time ceiling) or `failed`.
    public var status: String { interrupted ? "interrupted" : (allHeld && !hitTimeLimit ? "passed" : "failed") }
}

/// Builds the world of a scenario, plays its timeline and checks its expectations.
public enum ScenarioRunner {
    /// Creates the world with the scenario's timeline scheduled and registration started.
    public static func makeWorld(_ s: Scenario, seed: UInt64? = nil, sink: TraceSink, traceLevel: TraceLevel = .full) -> World {
        var conf = s.world
        if let seed { conf.seed = seed }
        let world = World(config: conf, sink: sink)
        world.traceLevel = traceLevel
        for t in s.timeline { world.schedule(t.command, at: t.at) }
        world.start()
        return world
    }

    public static func run(_ s: Scenario, seed: UInt64? = nil, sink: TraceSink, keepAll: Bool = false,
                           traceLevel: TraceLevel = .full, shouldStop: () -> Bool = { false },
                           progress: ((_ now: SimTime, _ calls: Int) -> Void)? = nil) -> RunResult {
        let fp = FingerprintSink()
        let collector = TraceCollector()
        let world = makeWorld(s, seed: seed, sink: FanOutTraceSink(s.traceExpectations.isEmpty ? [sink, fp] : [sink, fp, collector]), traceLevel: traceLevel)
        let wanted = Set(s.expectations.map(\.call))
        var calls: [Int: CallSummary] = [:]
        var outcomes: [String: Int] = [:]
        world.onCallEnded = { r in
            outcomes[r.outcome.rawValue, default: 0] += 1
            if keepAll || wanted.contains(r.callID) { calls[r.callID] = summary(r) }
        }
        var interrupted = false
        var events = 0
        let stop = { () -> Bool in
            if shouldStop() { interrupted = true }
            events &+= 1
            if let progress, events & 0x3fff == 0 { progress(world.now, world.callCount) }
            return interrupted
        }
        if let until = s.until {
            // An explicit end: run to that instant even past quiet points (registration refreshes,
            // retries), and stop there even with calls in progress.
            world.run(until: until, shouldStop: stop)
        } else {
            // To the quiet point, but never past the longest simulated time a run lasts.
            world.runUntilQuiet(limit: SimTime.maxDuration, shouldStop: stop)
        }
        let stopped = !world.isQuiet
        let hitTimeLimit = stopped && s.until == nil && !interrupted
        // Calls still in progress get a row with what is known so far.
        world.recordCallsInProgress()
        let summaries = world.summaries()
        var result = s.check(calls: calls) + s.check(summaries: summaries) + s.check(trace: collector, level: traceLevel)
        if let f = s.fingerprint {
            result.append(ExpectationResult(call: 0, field: "fingerprint", expected: f.value, actual: fp.fingerprint.text,
                                            held: f.value == fp.fingerprint.text, line: f.line))
        }
        var r = RunResult(calls: calls, callCount: world.callCount, outcomes: outcomes, endTime: world.now, expectations: result,
                          commandErrors: world.commandErrors, stoppedAtLimit: stopped)
        r.summaries = summaries
        r.interrupted = interrupted
        r.hitTimeLimit = hitTimeLimit
        r.fingerprint = fp.fingerprint.text
        return r
    }

    /// Hosts with their roles, for the trace's `host` table.
    public static func hostRoles(_ w: WorldConfig) -> [(name: String, ip: String, role: String)] {
        w.hosts.map { h in
            if let p = w.pbxs.first(where: { $0.host == h.name }) { return (h.name, h.ip, "pbx \(p.name)") }
            if let s = w.sipServers.first(where: { $0.host == h.name }) { return (h.name, h.ip, "sip-server \(s.domain)") }
            if w.dns?.server == h.name { return (h.name, h.ip, "dns") }
            return (h.name, h.ip, "host")
        }
    }

    /// Each PBX's configuration as JSON (the `pbx_config` table): what a model knows at dial time.
    public static func pbxConfigJSON(_ w: WorldConfig) -> [(String, String)] {
        w.pbxs.map { p in
            var o = JSONObject()
            o.add("pbx", p.name)
            o.add("host", p.host)
            o.add("ip", w.hosts.first { $0.name == p.host }?.ip)
            o.add("telephone_company", p.telco.isEmpty ? nil : p.telco)
            o.add("area_code", w.telcos.first { $0.name == p.telco }?.areaCode)
            o.add("extensions", p.extensions.count)
            o.add("trunk_channels", p.trunkGroups.reduce(0) { $0 + $1.channels })
            if let c = p.card {
                var k = JSONObject()
                k.add("sip_server", c.sipServer.description)
                k.add("sip_server_failover", c.sipServerFailover)
                k.add("registrar", c.registrar?.description)
                k.add("registrar_failover", c.registrarFailover)
                k.add("transport", c.transport.rawValue.lowercased())
                k.add("t1_ms", Int(c.timers.t1 / 1_000_000))
                k.add("t2_ms", Int(c.timers.t2 / 1_000_000))
                k.add("invite_timeout_ms", c.inviteTimeout.map { Int($0.ns / 1_000_000) })
                k.add("failover_timer_register_ms", c.failoverTimerRegister.map { Int($0.ns / 1_000_000) })
                k.add("register_expires_s", c.registerExpires)
                k.add("register_refresh_percent", c.registerRefreshPercent)
                k.add("register_retry", c.registerRetry.description)
                k.add("reroute_on", c.reroutePolicy.rawValue)
                let fb: String
                switch c.failback {
                case .newRequests: fb = "new-requests"
                case .duration(let d): fb = "duration \(d.durationString)"
                case .registration: fb = "registration"
                case .dnsTTL: fb = "dns-ttl"
                }
                k.add("failback", fb)
                k.add("calls_follow_registration", c.callsFollowRegistration)
                o.addRaw("v_sipgw", k.text)
            } else {
                o.addRaw("v_sipgw", "null")
            }
            return (p.name, o.text)
        }
    }

    public static func summary(_ r: CallRecord) -> CallSummary {
        var c = CallSummary(outcome: r.outcome.rawValue, route: r.route?.rawValue, answeredBy: r.answeredBy, sipTargets: r.sipTargets,
                            sipAttempts: r.sipAttempts, rerouted: r.rerouted, setupDelay: r.setupDelayNs.map { SimTime(ns: $0) })
        c.carrier = r.carrier
        c.trunkGroup = r.trunkGroup
        c.releasedBy = r.releasedBy
        c.endCause = r.endCause
        return c
    }
}
