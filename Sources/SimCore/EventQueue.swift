/// Identifies a scheduled event; used to cancel it.
public struct EventID: Hashable, Sendable {
    public let seq: UInt64
    @inlinable public init(seq: UInt64) { self.seq = seq }
}

/// A priority queue of events ordered by `(time, insertion sequence)`.
///
/// Events scheduled for the same instant come out in the order they were scheduled (FIFO), which
/// makes every run deterministic. A hand-written binary heap on `ContiguousArray`: measured faster
/// than a min-max heap for the hold model (see docs/architecture.md).
public struct EventQueue<Payload> {
    @usableFromInline struct Entry {
        @usableFromInline var time: SimTime
        @usableFromInline var seq: UInt64
        @usableFromInline var payload: Payload
        @inlinable init(time: SimTime, seq: UInt64, payload: Payload) { self.time = time; self.seq = seq; self.payload = payload }
        @inlinable func precedes(_ o: Entry) -> Bool {
            time.ns < o.time.ns || (time.ns == o.time.ns && seq < o.seq)
        }
    }

    @usableFromInline var heap: ContiguousArray<Entry> = []
    @usableFromInline var nextSeq: UInt64 = 0
    /// Sequence numbers of cancelled events still in the heap (lazy deletion: a cancelled entry
    /// stays in the heap until it reaches the top, where it is dropped).
    @usableFromInline var cancelled: Set<UInt64> = []
    /// Sequence numbers of events scheduled and not yet run or cancelled, so that cancelling an
    /// event that already ran is an O(1) no-op.
    @usableFromInline var live: Set<UInt64> = []

    public init() {}

    /// Number of live (not cancelled) events.
    @inlinable public var count: Int { live.count }
    @inlinable public var isEmpty: Bool { live.isEmpty }

    /// - Complexity: O(log n)
    /// Sequence numbers of ordinary events carry this bit, so that at one instant every
    /// `first` event (scenario commands) runs before every ordinary one, each class FIFO.
    @usableFromInline static var ordinaryBit: UInt64 { 1 << 63 }

    /// Schedules an event. `first` events sort before ordinary events of the same instant (used
    /// for scenario and REPL commands, so that a command typed at time T and the same command
    /// replayed from a file at T run at the same point).
    @discardableResult @inlinable
    public mutating func push(_ payload: Payload, at time: SimTime, first: Bool = false) -> EventID {
        let seq = first ? nextSeq : (nextSeq | EventQueue.ordinaryBit)
        nextSeq &+= 1
        heap.append(Entry(time: time, seq: seq, payload: payload))
        siftUp(heap.count - 1)
        live.insert(seq)
        return EventID(seq: seq)
    }

    /// Marks an event cancelled; it will never be returned by `pop`. Cancelling an event that
    /// already ran or was already cancelled is a no-op.
    /// - Complexity: O(1)
    @inlinable public mutating func cancel(_ id: EventID) {
        if live.remove(id.seq) != nil { cancelled.insert(id.seq) }
    }

    /// The time of the earliest live event.
    @inlinable public mutating func peekTime() -> SimTime? {
        dropCancelledTop()
        return heap.first?.time
    }

    /// Whether the earliest live event is a `first` (command) event.
    @inlinable public var peekIsFirst: Bool {
        mutating get {
            dropCancelledTop()
            return heap.first.map { $0.seq & EventQueue.ordinaryBit == 0 } ?? false
        }
    }

    /// Removes and returns the earliest live event.
    /// - Complexity: O(log n)
    @inlinable public mutating func pop() -> (time: SimTime, id: EventID, payload: Payload)? {
        dropCancelledTop()
        guard let top = heap.first else { return nil }
        removeTop()
        live.remove(top.seq)
        return (top.time, EventID(seq: top.seq), top.payload)
    }

    @inlinable mutating func dropCancelledTop() {
        while let top = heap.first, !cancelled.isEmpty, cancelled.contains(top.seq) {
            cancelled.remove(top.seq)
            removeTop()
        }
    }

    @inlinable mutating func removeTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    @inlinable mutating func siftUp(_ i0: Int) {
        var i = i0
        let e = heap[i]
        while i > 0 {
            let p = (i - 1) >> 1
            if e.precedes(heap[p]) { heap[i] = heap[p]; i = p } else { break }
        }
        heap[i] = e
    }

    @inlinable mutating func siftDown(_ i0: Int) {
        var i = i0
        let n = heap.count
        let e = heap[i]
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            var c = l
            if l + 1 < n && heap[l + 1].precedes(heap[l]) { c = l + 1 }
            if heap[c].precedes(e) { heap[i] = heap[c]; i = c } else { break }
        }
        heap[i] = e
    }

    /// Debug invariant: every parent precedes its children.
    public func checkInvariants() -> Bool {
        for i in 1..<max(1, heap.count) where heap[i].precedes(heap[(i - 1) >> 1]) { return false }
        return true
    }
}
