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
    public var allHeld: Bool { expectations.allSatisfy(\.held) }
}

/// Builds the world of a scenario, plays its timeline and checks its expectations.
public enum ScenarioRunner {
    /// Creates the world with the scenario's timeline scheduled and registration started.
    public static func makeWorld(_ s: Scenario, seed: UInt64? = nil, sink: TraceSink) -> World {
        var conf = s.world
        if let seed { conf.seed = seed }
        let world = World(config: conf, sink: sink)
        for t in s.timeline { world.schedule(t.command, at: t.at) }
        world.start()
        return world
    }

    public static func run(_ s: Scenario, seed: UInt64? = nil, sink: TraceSink, keepAll: Bool = false) -> RunResult {
        let world = makeWorld(s, seed: seed, sink: sink)
        let wanted = Set(s.expectations.map(\.call))
        var calls: [Int: CallSummary] = [:]
        var outcomes: [String: Int] = [:]
        world.onCallEnded = { r in
            outcomes[r.outcome, default: 0] += 1
            if keepAll || wanted.contains(r.callID) { calls[r.callID] = summary(r) }
        }
        if let until = s.until {
            // An explicit end: run to that instant even past quiet points (registration refreshes,
            // retries), and stop there even with calls in progress.
            world.run(until: until)
        } else {
            world.runUntilQuiet()
        }
        let stopped = !world.isQuiet
        let result = s.check(calls: calls)
        return RunResult(calls: calls, callCount: world.callCount, outcomes: outcomes, endTime: world.now, expectations: result,
                         commandErrors: world.commandErrors, stoppedAtLimit: stopped)
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

    public static func summary(_ r: CallRecord) -> CallSummary {
        CallSummary(outcome: r.outcome, route: r.route, answeredBy: r.answeredBy, sipTargets: r.sipTargets,
                    sipAttempts: r.sipAttempts, rerouted: r.rerouted, setupDelay: r.setupDelayNs.map { SimTime(ns: $0) })
    }
}
