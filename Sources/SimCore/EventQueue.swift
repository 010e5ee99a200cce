/// Identifies a scheduled event; used to cancel it.
public struct EventID: Hashable, Sendable {
    public let seq: UInt64
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
        @inlinable func precedes(_ o: Entry) -> Bool {
            time.ns < o.time.ns || (time.ns == o.time.ns && seq < o.seq)
        }
    }

    @usableFromInline var heap: ContiguousArray<Entry> = []
    @usableFromInline var nextSeq: UInt64 = 0
    /// Sequence numbers of cancelled events still in the heap (lazy deletion).
    @usableFromInline var cancelled: Set<UInt64> = []

    public init() {}

    /// Number of live (not cancelled) events.
    public var count: Int { heap.count - cancelled.count }
    public var isEmpty: Bool { count == 0 }

    /// - Complexity: O(log n)
    @discardableResult
    public mutating func push(_ payload: Payload, at time: SimTime) -> EventID {
        let seq = nextSeq
        nextSeq &+= 1
        heap.append(Entry(time: time, seq: seq, payload: payload))
        siftUp(heap.count - 1)
        return EventID(seq: seq)
    }

    /// Marks an event cancelled; it will never be returned by `pop`. Cancelling an event that
    /// already ran or was already cancelled is a no-op.
    public mutating func cancel(_ id: EventID) {
        if id.seq < nextSeq && contains(seq: id.seq) { cancelled.insert(id.seq) }
    }

    func contains(seq: UInt64) -> Bool {
        // Cancel is rare compared to push/pop; a linear scan keeps the hot path free of a side table.
        heap.contains { $0.seq == seq }
    }

    /// The time of the earliest live event.
    public mutating func peekTime() -> SimTime? {
        dropCancelledTop()
        return heap.first?.time
    }

    /// Removes and returns the earliest live event.
    /// - Complexity: O(log n)
    public mutating func pop() -> (time: SimTime, id: EventID, payload: Payload)? {
        dropCancelledTop()
        guard let top = heap.first else { return nil }
        removeTop()
        return (top.time, EventID(seq: top.seq), top.payload)
    }

    @usableFromInline mutating func dropCancelledTop() {
        while let top = heap.first, !cancelled.isEmpty, cancelled.contains(top.seq) {
            cancelled.remove(top.seq)
            removeTop()
        }
    }

    @usableFromInline mutating func removeTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    @usableFromInline mutating func siftUp(_ i0: Int) {
        var i = i0
        let e = heap[i]
        while i > 0 {
            let p = (i - 1) >> 1
            if e.precedes(heap[p]) { heap[i] = heap[p]; i = p } else { break }
        }
        heap[i] = e
    }

    @usableFromInline mutating func siftDown(_ i0: Int) {
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
