import SimCore
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// The world as the context of its traffic sources (`TrafficSource`).
final class WorldTrafficContext: TrafficContext {
    unowned(unsafe) let world: World
    init(world: World) { self.world = world }
    var now: SimTime { world.sim.now }
    func scheduleArrival(_ source: TrafficSource, at time: SimTime) {
        world.sim.schedule(.traffic(source: source.id), at: time)
    }
    func dial(_ source: TrafficSource, caller: String, number: String, hold: SimTime) {
        world.dial(ExtensionRef(pbx: world.pbxs[source.pbx].name, number: caller), number: number, hold: hold)
    }
    func finished(_ source: TrafficSource) { world.pendingScenarioEvents -= 1 }
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, "traffic", detail(), fields: fields())
    }
}

extension World {
    /// Starts every traffic source (its first arrival), with its callers' idle pool.
    func startTraffic() {
        for (k, t) in config.traffic.enumerated() {
            guard let pi = pbxs.firstIndex(where: { $0.name == t.pbx }) else { continue }
            let pool = IdlePool(count: t.callers.count)
            for (i, number) in t.callers.enumerated() {
                guard let e = pbxs[pi].extensions[number] else { continue }
                e.pools.append((pool, i))
                if e.activity != .idle { pool.set(i, idle: false) }
            }
            let src = TrafficSource(id: k, config: t, pbx: pi, streams: streams, idle: pool)
            pendingScenarioEvents += 1
            traffic.append(src)
            src.start(trafficContext)
        }
    }

    func trafficArrival(_ k: Int) { traffic[k].arrive(trafficContext) }

    /// The run summary per PBX, plus `(all)`.
    public func summaries() -> [PBXSummary] {
        var out: [PBXSummary] = []
        var all = PBXStats()
        var allMean = 0.0, allPeak = 0, allChannels = 0
        for p in pbxs {
            let s = p.stats
            out.append(PBXSummary(pbx: p.name, offered: s.offered, answeredSIP: s.answeredSIP, answeredPublic: s.answeredPublic,
                                  answeredInternal: s.answeredInternal, rerouted: s.rerouted, blocked: s.blocked, busy: s.busy,
                                  noAnswer: s.noAnswer, failed: s.failed, rejected: s.rejected, abandoned: s.abandoned,
                                  pddMean: s.pdd.mean, pddP50: s.pdd.quantile(0.5), pddP95: s.pdd.quantile(0.95),
                                  pddP99: s.pdd.quantile(0.99), pddMax: s.pdd.count > 0 ? SimTime(ns: s.pdd.maxNs) : nil,
                                  trunkMean: p.meanOccupancy(until: sim.now), trunkPeak: p.trunkPeak, trunkChannels: p.trunkChannels))
            all.offered += s.offered; all.answeredSIP += s.answeredSIP; all.answeredPublic += s.answeredPublic
            all.answeredInternal += s.answeredInternal; all.rerouted += s.rerouted; all.blocked += s.blocked; all.busy += s.busy
            all.noAnswer += s.noAnswer; all.failed += s.failed; all.rejected += s.rejected; all.abandoned += s.abandoned
            all.pdd.merge(s.pdd)
            allMean += p.meanOccupancy(until: sim.now); allPeak += p.trunkPeak; allChannels += p.trunkChannels
        }
        out.append(PBXSummary(pbx: "(all)", offered: all.offered, answeredSIP: all.answeredSIP, answeredPublic: all.answeredPublic,
                              answeredInternal: all.answeredInternal, rerouted: all.rerouted, blocked: all.blocked, busy: all.busy,
                              noAnswer: all.noAnswer, failed: all.failed, rejected: all.rejected, abandoned: all.abandoned,
                              pddMean: all.pdd.mean, pddP50: all.pdd.quantile(0.5), pddP95: all.pdd.quantile(0.95),
                              pddP99: all.pdd.quantile(0.99), pddMax: all.pdd.count > 0 ? SimTime(ns: all.pdd.maxNs) : nil,
                              trunkMean: allMean, trunkPeak: allPeak, trunkChannels: allChannels))
        return out
    }
}
