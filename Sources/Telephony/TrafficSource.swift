import SIP
import SimCore
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// What a traffic source may ask of whoever runs it (issue 9 item 2).
public protocol TrafficContext: AnyObject {
    var now: SimTime { get }
    /// Schedules the source's next arrival.
    func scheduleArrival(_ source: TrafficSource, at time: SimTime)
    /// An extension of the caller range dials `number` and will hang up after `hold` once answered.
    func dial(_ source: TrafficSource, caller: String, number: String, hold: SimTime)
    /// The source has generated its last arrival.
    func finished(_ source: TrafficSource)
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, _ fields: @autoclosure () -> [StepField])
}

/// A generator of calls (a node): Poisson arrivals at `rate`, a caller drawn uniformly among the
/// idle extensions of its range, a destination uniformly among its numbers, and a holding time,
/// each from its own random stream so that changing one draw never shifts another. It owns its
/// streams, its count and the idle pool of its callers (which the PBX updates as extensions
/// become busy or idle).
public final class TrafficSource {
    public let id: Int
    public let config: TrafficConfig
    let pbx: Int
    var arrivals: Xoshiro256
    var holds: Xoshiro256
    var callers: Xoshiro256
    var destinations: Xoshiro256
    public private(set) var generated = 0
    public private(set) var done = false
    /// The destination ranges as integers (parsed once at load), with their digit counts.
    private let ranges: [(first: Int, size: UInt64, digits: Int)]
    private let totalNumbers: UInt64
    /// The idle extensions of the caller range.
    let idle: IdlePool

    public init(id: Int, config: TrafficConfig, pbx: Int, streams: RandomStreams, idle: IdlePool) {
        self.id = id; self.config = config; self.pbx = pbx; self.idle = idle
        arrivals = streams.stream("traffic-\(id)-arrivals")
        holds = streams.stream("traffic-\(id)-holds")
        callers = streams.stream("traffic-\(id)-callers")
        destinations = streams.stream("traffic-\(id)-destinations")
        ranges = config.destinations.map { r in
            let first = Int(r.first)!, last = Int(r.last)!
            return (first, UInt64(last - first + 1), r.first.count)
        }
        totalNumbers = ranges.reduce(0) { $0 + $1.size }
    }

    /// Draws the first arrival (from `startAt`) and schedules it, unless the limits allow none.
    public func start(_ ctx: TrafficContext) {
        let first = config.startAt + SimTime.fromSeconds(arrivals.exponential(mean: 1 / config.rate))
        if !scheduleNext(at: first, ctx) { done = true; ctx.finished(self) }
    }

    /// An arrival: the call it places (or a note that every caller is busy) and the next arrival.
    public func arrive(_ ctx: TrafficContext) {
        generated += 1
        let number = drawDestination()
        let hold = drawHold()
        // Someone already on the phone does not dial: the k-th idle extension, in range order.
        let idleCount = idle.idleCount
        var caller: String?
        if idleCount > 0 { caller = config.callers[idle.kthIdle(Int(callers.uniformInclusive(UInt64(idleCount - 1))))] }
        let interarrival = SimTime.fromSeconds(arrivals.exponential(mean: 1 / config.rate))
        if let caller {
            ctx.dial(self, caller: caller, number: number, hold: hold)
        } else {
            let n = generated
            ctx.record(.command, "arrival \(n) at \(config.pbx): every caller of the range is busy, no call placed",
                       [StepField("command", "traffic-arrival"), StepField("arrival", n), StepField("error", "every caller busy")])
        }
        if !scheduleNext(at: ctx.now + interarrival, ctx) {
            done = true
            ctx.finished(self)
        }
    }

    /// Schedules an arrival at `t` unless the count or duration limit is reached.
    private func scheduleNext(at t: SimTime, _ ctx: TrafficContext) -> Bool {
        if let n = config.calls, generated >= n { return false }
        if let d = config.duration, t > config.startAt + d { return false }
        ctx.scheduleArrival(self, at: t)
        return true
    }

    /// Uniformly among all numbers of the list and ranges, zero-padded to its range's width.
    private func drawDestination() -> String {
        var pick = destinations.uniformInclusive(max(totalNumbers, 1) - 1)
        for r in ranges {
            if pick < r.size {
                return zeroPaddedDecimal(r.first + Int(pick), width: r.digits)
            }
            pick -= r.size
        }
        return ""
    }

    private func drawHold() -> SimTime {
        switch config.hold {
        case .fixed(let d): return d
        case .exponential(let m): return SimTime.fromSeconds(holds.exponential(mean: m.seconds))
        case .lognormal(let m, let sigma):
            // Box-Muller from two uniforms; mu chosen so that the mean is m.
            let u1 = max(holds.unitDouble(), 0x1.0p-53), u2 = holds.unitDouble()
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            return SimTime.fromSeconds(exp(log(m.seconds) - sigma * sigma / 2 + sigma * z))
        }
    }
}
