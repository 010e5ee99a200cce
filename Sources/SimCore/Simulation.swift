/// The discrete-event engine: one clock, one queue, one increasing sequence number.
///
/// `Payload` is the model's own event type (an enum), so scheduling allocates nothing beyond the
/// heap slot. The engine knows nothing of SIP, routing or SQLite.
public struct Simulation<Payload> {
    public private(set) var now: SimTime = .zero
    public private(set) var queue = EventQueue<Payload>()
    /// Number of events executed so far.
    public private(set) var executed: UInt64 = 0

    public init() {}

    /// Schedules `payload` at an absolute time, which must not be in the past.
    @discardableResult
    public mutating func schedule(_ payload: Payload, at time: SimTime) -> EventID {
        precondition(time >= now, "cannot schedule in the past: \(time) < \(now)")
        return queue.push(payload, at: time)
    }

    /// Schedules `payload` after a non-negative delay.
    @discardableResult
    public mutating func schedule(_ payload: Payload, after delay: SimTime) -> EventID {
        precondition(delay.ns >= 0, "negative delay \(delay)")
        return queue.push(payload, at: now + delay)
    }

    public mutating func cancel(_ id: EventID) { queue.cancel(id) }

    /// Time of the next event, if any.
    public mutating func nextEventTime() -> SimTime? { queue.peekTime() }

    /// Pops the next event and advances the clock to it.
    public mutating func step() -> (time: SimTime, payload: Payload)? {
        guard let e = queue.pop() else { return nil }
        now = e.time
        executed &+= 1
        return (e.time, e.payload)
    }

    /// Pops the next event only if it is due at or before `limit`; otherwise advances the clock
    /// to `limit` (when `limit` is finite) and returns nil.
    public mutating func step(until limit: SimTime) -> (time: SimTime, payload: Payload)? {
        if let t = queue.peekTime(), t <= limit { return step() }
        if limit != .never && limit > now { now = limit }
        return nil
    }

    /// Runs events up to and including `limit`, handing each to `handler`, which may schedule more.
    public mutating func run(until limit: SimTime = .never, _ handler: (inout Simulation<Payload>, Payload) -> Void) {
        while let e = step(until: limit) { handler(&self, e.payload) }
    }
}
