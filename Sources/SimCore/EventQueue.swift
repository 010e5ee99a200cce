/// Identifies a scheduled event; used to cancel it. A slot of the queue and the generation of
/// the event in it: cancelling an event that already ran (or was cancelled) finds a newer
/// generation and does nothing.
public struct EventID: Hashable, Sendable {
    public let slot: UInt32
    public let generation: UInt32
    @inlinable public init(slot: UInt32, generation: UInt32) { self.slot = slot; self.generation = generation }
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
        @usableFromInline var slot: UInt32
        @usableFromInline var generation: UInt32
        @usableFromInline var payload: Payload
        @inlinable init(time: SimTime, seq: UInt64, slot: UInt32, generation: UInt32, payload: Payload) {
            self.time = time; self.seq = seq; self.slot = slot; self.generation = generation; self.payload = payload
        }
        @inlinable func precedes(_ o: Entry) -> Bool {
            time.ns < o.time.ns || (time.ns == o.time.ns && seq < o.seq)
        }
    }

    @usableFromInline var heap: ContiguousArray<Entry> = []
    @usableFromInline var nextSeq: UInt64 = 0
    /// The current generation of each slot. An entry whose generation is older was cancelled
    /// (lazy deletion: it stays in the heap until it reaches the top, where it is dropped and its
    /// slot freed). No hashing on the hot path: every operation indexes an array.
    @usableFromInline var generations: ContiguousArray<UInt32> = []
    @usableFromInline var freeSlots: ContiguousArray<UInt32> = []
    @usableFromInline var liveCount = 0

    public init() {}

    /// Number of live (not cancelled) events.
    @inlinable public var count: Int { liveCount }
    @inlinable public var isEmpty: Bool { liveCount == 0 }

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
        let slot: UInt32
        if let s = freeSlots.popLast() { slot = s } else { slot = UInt32(generations.count); generations.append(0) }
        let generation = generations[Int(slot)]
        heap.append(Entry(time: time, seq: seq, slot: slot, generation: generation, payload: payload))
        siftUp(heap.count - 1)
        liveCount += 1
        return EventID(slot: slot, generation: generation)
    }

    /// Marks an event cancelled; it will never be returned by `pop`. Cancelling an event that
    /// already ran or was already cancelled is a no-op.
    /// - Complexity: O(1)
    @inlinable public mutating func cancel(_ id: EventID) {
        let i = Int(id.slot)
        guard i < generations.count, generations[i] == id.generation else { return }
        generations[i] &+= 1
        liveCount -= 1
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
        // The event ran: a later cancel of its id finds a newer generation; the slot is free.
        generations[Int(top.slot)] &+= 1
        freeSlots.append(top.slot)
        liveCount -= 1
        return (top.time, EventID(slot: top.slot, generation: top.generation), top.payload)
    }

    @inlinable mutating func dropCancelledTop() {
        while let top = heap.first, generations[Int(top.slot)] != top.generation {
            freeSlots.append(top.slot)
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
        heap.withUnsafeMutableBufferPointer { h in
            var i = i0
            let e = h[i]
            while i > 0 {
                let p = (i - 1) >> 1
                if e.precedes(h[p]) { h[i] = h[p]; i = p } else { break }
            }
            h[i] = e
        }
    }

    /// Sifts down with unchecked buffer access (no bounds or uniqueness checks per step: the
    /// hot loop of every event).
    @inlinable mutating func siftDown(_ i0: Int) {
        heap.withUnsafeMutableBufferPointer { h in
            var i = i0
            let n = h.count
            let e = h[i]
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var c = l
                if l + 1 < n && h[l + 1].precedes(h[l]) { c = l + 1 }
                if h[c].precedes(e) { h[i] = h[c]; i = c } else { break }
            }
            h[i] = e
        }
    }

    /// Debug invariant: every parent precedes its children.
    public func checkInvariants() -> Bool {
        for i in 1..<max(1, heap.count) where heap[i].precedes(heap[(i - 1) >> 1]) { return false }
        return true
    }
}
