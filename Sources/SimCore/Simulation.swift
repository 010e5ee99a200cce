/// The discrete-event engine: one clock, one queue, one increasing sequence number.
///
/// `Payload` is the model's own event type (an enum), so scheduling allocates nothing beyond the
/// heap slot. The engine knows nothing of SIP, routing or SQLite.
public struct Simulation<Payload> {
    @usableFromInline var _now: SimTime = .zero
    @inlinable public var now: SimTime { _now }
    @usableFromInline var _queue = EventQueue<Payload>()
    public var queue: EventQueue<Payload> { _queue }
    /// Number of events executed so far.
    @usableFromInline var _executed: UInt64 = 0
    @inlinable public var executed: UInt64 { _executed }

    public init() {}

    /// Schedules `payload` at an absolute time, which must not be in the past.
    @discardableResult
    @inlinable public mutating func schedule(_ payload: Payload, at time: SimTime, first: Bool = false) -> EventID {
        precondition(time >= now, "cannot schedule in the past: \(time) < \(now)")
        return _queue.push(payload, at: time, first: first)
    }

    /// Moves the clock back to `time` before anything has run (a warm-up phase before time zero).
    /// Events already scheduled stay where they are, so none may lie before `time`.
    @inlinable public mutating func rewindClock(to time: SimTime) {
        precondition(_executed == 0 && time <= _now, "the clock can be rewound only before the first event")
        _now = time
    }

    /// Schedules `payload` after a non-negative delay.
    @discardableResult
    @inlinable public mutating func schedule(_ payload: Payload, after delay: SimTime) -> EventID {
        precondition(delay.ns >= 0, "negative delay \(delay)")
        return _queue.push(payload, at: now + delay)
    }

    @inlinable public mutating func cancel(_ id: EventID) { _queue.cancel(id) }

    /// Time of the next event, if any.
    @inlinable public mutating func nextEventTime() -> SimTime? { _queue.peekTime() }

    /// Pops the next event and advances the clock to it.
    @inlinable public mutating func step() -> (time: SimTime, payload: Payload)? {
        guard let e = _queue.pop() else { return nil }
        _now = e.time
        _executed &+= 1
        return (e.time, e.payload)
    }

    /// Pops the next event only if it is due at or before `limit`; otherwise advances the clock
    /// to `limit` (when `limit` is finite) and returns nil.
    @inlinable public mutating func step(until limit: SimTime) -> (time: SimTime, payload: Payload)? {
        if let t = _queue.peekTime(), t <= limit { return step() }
        if limit != .never && limit > _now { _now = limit }
        return nil
    }

    /// Whether the next event is a `first` (command) event.
    @inlinable public mutating func nextIsFirst() -> Bool { _queue.peekIsFirst }

    /// Pops the next event only if it is due strictly before `limit`; otherwise advances the
    /// clock to `limit` and returns nil. With this, "run until T" leaves every event at T pending,
    /// so a command issued at T runs before them, as the same command scheduled at T would.
    @inlinable public mutating func step(before limit: SimTime) -> (time: SimTime, payload: Payload)? {
        if let t = _queue.peekTime(), t < limit { return step() }
        if limit != .never && limit > _now { _now = limit }
        return nil
    }

    /// Runs events up to and including `limit`, handing each to `handler`, which may schedule more.
    @inlinable public mutating func run(until limit: SimTime = .never, _ handler: (inout Simulation<Payload>, Payload) -> Void) {
        while let e = step(until: limit) { handler(&self, e.payload) }
    }
}
