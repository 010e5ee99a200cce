import SimCore
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// A running traffic source: Poisson arrivals, its own random streams per draw.
struct TrafficSource {
    let config: TrafficConfig
    let pbx: Int
    var arrivals: Xoshiro256
    var holds: Xoshiro256
    var callers: Xoshiro256
    var destinations: Xoshiro256
    var generated = 0
    var done = false
    let totalNumbers: UInt64
    /// The idle extensions of the caller range.
    let idle: IdlePool
}

extension World {
    /// Schedules the first arrival of every traffic source.
    func startTraffic() {
        for (k, t) in config.traffic.enumerated() {
            guard let pi = pbxs.firstIndex(where: { $0.name == t.pbx }) else { continue }
            let total = t.destinations.reduce(UInt64(0)) { $0 + UInt64(Int($1.last)! - Int($1.first)! + 1) }
            let pool = IdlePool(count: t.callers.count)
            for (i, number) in t.callers.enumerated() {
                guard let e = pbxs[pi].extensions[number] else { continue }
                e.pools.append((pool, i))
                if e.activity != .idle { pool.set(i, idle: false) }
            }
            var src = TrafficSource(config: t, pbx: pi, arrivals: streams.stream("traffic-\(k)-arrivals"),
                                    holds: streams.stream("traffic-\(k)-holds"), callers: streams.stream("traffic-\(k)-callers"),
                                    destinations: streams.stream("traffic-\(k)-destinations"), totalNumbers: total, idle: pool)
            pendingScenarioEvents += 1
            let first = t.startAt + SimTime.fromSeconds(src.arrivals.exponential(mean: 1 / t.rate))
            traffic.append(src)
            if !scheduleArrival(k, at: first) { traffic[k].done = true; pendingScenarioEvents -= 1 }
        }
    }

    /// Schedules the next arrival unless the source's limit is reached; false when it is done.
    func scheduleArrival(_ k: Int, at t: SimTime) -> Bool {
        let c = traffic[k].config
        if let n = c.calls, traffic[k].generated >= n { return false }
        if let d = c.duration, t > c.startAt + d { return false }
        sim.schedule(.traffic(source: k), at: t)
        return true
    }

    func trafficArrival(_ k: Int) {
        var src = traffic[k]
        src.generated += 1
        let c = src.config
        let p = pbxs[src.pbx]
        // The caller: drawn uniformly among the range's idle extensions (someone already on the
        // phone does not dial), the k-th idle one in range order.
        let idleCount = src.idle.idleCount
        // The destination: uniformly among all numbers of the list and ranges.
        var pick = src.destinations.uniformInclusive(max(src.totalNumbers, 1) - 1)
        var number = ""
        for r in c.destinations {
            let size = UInt64(Int(r.last)! - Int(r.first)! + 1)
            if pick < size {
                let v = String(Int(r.first)! + Int(pick))
                number = String(repeating: "0", count: max(0, r.first.count - v.count)) + v
                break
            }
            pick -= size
        }
        let hold: SimTime
        switch c.hold {
        case .fixed(let d): hold = d
        case .exponential(let m): hold = SimTime.fromSeconds(src.holds.exponential(mean: m.seconds))
        case .lognormal(let m, let sigma):
            // Box-Muller from two uniforms; mu chosen so that the mean is m.
            let u1 = max(src.holds.unitDouble(), 0x1.0p-53), u2 = src.holds.unitDouble()
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            hold = SimTime.fromSeconds(exp(log(m.seconds) - sigma * sigma / 2 + sigma * z))
        }
        var caller: String?
        if idleCount > 0 { caller = c.callers[src.idle.kthIdle(Int(src.callers.uniformInclusive(UInt64(idleCount - 1))))] }
        let interarrival = SimTime.fromSeconds(src.arrivals.exponential(mean: 1 / c.rate))
        traffic[k] = src
        if let caller {
            dial(ExtensionRef(pbx: p.name, number: caller), number: number, hold: hold)
        } else {
            step(.command, "traffic", "arrival \(src.generated) at \(p.name): every caller of the range is busy, no call placed",
                 fields: [StepField("command", "traffic-arrival"), StepField("arrival", src.generated), StepField("error", "every caller busy")])
        }
        if !scheduleArrival(k, at: sim.now + interarrival) {
            traffic[k].done = true
            pendingScenarioEvents -= 1
        }
    }

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
