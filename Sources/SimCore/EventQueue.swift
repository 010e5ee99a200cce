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
/// makes every run deterministic.
///
/// Three tiers, each event in exactly one:
/// - **near**: a binary heap on `ContiguousArray` (hand-written: measured faster than a min-max
///   heap for the hold model) holding every event before `horizon`;
/// - **ring**: `bucketCount` buckets of `2^bucketShift` ns (4.2 ms by default, 68.7 s in all),
///   unsorted lists of the events from `horizon` on, their nodes from one pool;
/// - **far**: a second binary heap for events past the ring.
///
/// When the near heap holds no live event, the earliest non-empty bucket moves into it (and the
/// far events that the ring now covers move into the ring). A timer cancelled while it waits in a
/// bucket (Timer B, 32 s, cancelled when the failover timer moves the call on after 4 s) is
/// dropped there at no cost, instead of riding the heap to its top; and the near heap holds
/// about one bucket of events, whatever the number of pending events (issue 11's profile: with one heap
/// seven entries in ten were cancelled timers). The order is exactly the one heap's: the
/// tiers split by time, and within the near heap `(time, seq)` decides.
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

    /// The near heap: every event whose bucket is before `horizon`.
    @usableFromInline var heap: ContiguousArray<Entry> = []
    /// The ring: bucket `b` (for `horizon <= b < horizon + bucketCount`) is the list of nodes
    /// starting at `ring[b & mask]` (-1: empty), linked through `Node.next`.
    @usableFromInline var ring: ContiguousArray<Int32>
    /// The ring's entries, in nodes from one pool (a list per bucket grown from nothing
    /// allocated and copied about twice a failover call): a free node is on the free list from
    /// `freeNode` and keeps its last entry until reused. The models' events hold no references;
    /// a payload that does (live mode's blocklist expiry names its address) stays alive until
    /// its node is reused, at most as many as the ring ever held at once.
    @usableFromInline var nodes: ContiguousArray<Node> = []
    @usableFromInline struct Node {
        @usableFromInline var entry: Entry
        @usableFromInline var next: Int32
        @inlinable init(entry: Entry, next: Int32) { self.entry = entry; self.next = next }
    }
    @usableFromInline var freeNode: Int32 = -1
    /// One bit per ring bucket that holds any entry (live or cancelled).
    @usableFromInline var occupied: ContiguousArray<UInt64>
    /// Events from bucket `horizon + bucketCount` on.
    @usableFromInline var far: ContiguousArray<Entry> = []
    /// The first bucket not yet moved into the near heap.
    @usableFromInline var horizon: Int64 = 0
    @usableFromInline let shift: Int64
    @usableFromInline let mask: Int
    @usableFromInline var nextSeq: UInt64 = 0
    /// The current generation of each slot. An entry whose generation is older was cancelled
    /// (lazy deletion: it stays where it is until it reaches the top of a heap or its bucket is
    /// emptied, where it is dropped and its slot freed). No hashing on the hot path: every
    /// operation indexes an array.
    @usableFromInline var generations: ContiguousArray<UInt32> = []
    @usableFromInline var freeSlots: ContiguousArray<UInt32> = []
    @usableFromInline var liveCount = 0

    /// - Parameters:
    ///   - bucketShift: a bucket spans `2^bucketShift` ns (22: 4.2 ms). The near heap holds about
    ///     a bucket's events: at 200 erlangs of failover calls about 8, against 130 with the
    ///     67 ms buckets used before (issue 11: 1.5 % fewer instructions a call, the hold model
    ///     about 1.5 times as fast).
    ///   - bucketCount: buckets in the ring, a power of two and a multiple of 64 (16,384: with
    ///     4.2 ms buckets the ring covers 68.7 s, past Timer B's 32 s).
    public init(bucketShift: Int = 22, bucketCount: Int = 16384) {
        precondition(bucketShift >= 0 && bucketShift < 62, "bucketShift out of range")
        precondition(bucketCount >= 64 && bucketCount & (bucketCount - 1) == 0, "bucketCount must be a power of two, at least 64")
        shift = Int64(bucketShift)
        mask = bucketCount - 1
        ring = ContiguousArray(repeating: -1, count: bucketCount)
        occupied = ContiguousArray(repeating: 0, count: bucketCount / 64)
    }

    /// Number of live (not cancelled) events.
    @inlinable public var count: Int { liveCount }
    @inlinable public var isEmpty: Bool { liveCount == 0 }

    /// Sequence numbers of ordinary events carry this bit, so that at one instant every
    /// `first` event (scenario commands) runs before every ordinary one, each class FIFO.
    @usableFromInline static var ordinaryBit: UInt64 { 1 << 63 }

    @inlinable func bucket(_ t: SimTime) -> Int64 { t.ns >> shift }

    /// Schedules an event. `first` events sort before ordinary events of the same instant (used
    /// for scenario and REPL commands, so that a command typed at time T and the same command
    /// replayed from a file at T run at the same point).
    /// - Complexity: O(1) into the ring; O(log n) into a heap
    @discardableResult @inlinable
    public mutating func push(_ payload: Payload, at time: SimTime, first: Bool = false) -> EventID {
        let seq = first ? nextSeq : (nextSeq | EventQueue.ordinaryBit)
        nextSeq &+= 1
        let slot: UInt32
        if let s = freeSlots.popLast() { slot = s } else { slot = UInt32(generations.count); generations.append(0) }
        let generation = generations[Int(slot)]
        place(Entry(time: time, seq: seq, slot: slot, generation: generation, payload: payload))
        liveCount += 1
        return EventID(slot: slot, generation: generation)
    }

    /// Puts an entry in its tier.
    @inlinable mutating func place(_ e: Entry) {
        let b = bucket(e.time)
        if b < horizon {
            heap.append(e)
            EventQueue.siftUp(&heap, heap.count - 1)
        } else if b - horizon <= Int64(mask) {
            let i = Int(truncatingIfNeeded: b) & mask
            let n: Int32
            if freeNode >= 0 {
                n = freeNode
                freeNode = nodes[Int(n)].next
                nodes[Int(n)] = Node(entry: e, next: ring[i])
            } else {
                n = Int32(nodes.count)
                nodes.append(Node(entry: e, next: ring[i]))
            }
            ring[i] = n
            occupied[i >> 6] |= 1 << UInt64(i & 63)
        } else {
            far.append(e)
            EventQueue.siftUp(&far, far.count - 1)
        }
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
        settle()
        return heap.first?.time
    }

    /// Whether the earliest live event is a `first` (command) event.
    @inlinable public var peekIsFirst: Bool {
        mutating get {
            settle()
            return heap.first.map { $0.seq & EventQueue.ordinaryBit == 0 } ?? false
        }
    }

    /// Removes and returns the earliest live event.
    /// - Complexity: O(log n) amortised, n the events of the next few buckets
    @inlinable public mutating func pop() -> (time: SimTime, id: EventID, payload: Payload)? {
        settle()
        guard let top = heap.first else { return nil }
        EventQueue.removeTop(&heap)
        // The event ran: a later cancel of its id finds a newer generation; the slot is free.
        generations[Int(top.slot)] &+= 1
        freeSlots.append(top.slot)
        liveCount -= 1
        return (top.time, EventID(slot: top.slot, generation: top.generation), top.payload)
    }

    @inlinable func isLive(_ e: Entry) -> Bool { generations[Int(e.slot)] == e.generation }

    /// Leaves the earliest live event at the top of the near heap, if there is one.
    @inlinable mutating func settle() {
        while let top = heap.first, !isLive(top) {
            freeSlots.append(top.slot)
            EventQueue.removeTop(&heap)
        }
        if heap.isEmpty && liveCount > 0 { refill() }
    }

    /// The near heap has no live event: moves the earliest bucket holding one into it.
    @inlinable mutating func refill() {
        while heap.isEmpty {
            guard let i = firstOccupied() else {
                // The ring is empty: move it on to the earliest far event.
                while let top = far.first, !isLive(top) {
                    freeSlots.append(top.slot)
                    EventQueue.removeTop(&far)
                }
                guard let top = far.first else { return }
                horizon = bucket(top.time)
                pullFar()
                continue
            }
            // The bucket of slot i: the first at or after `horizon` with that slot.
            let b = horizon + Int64((i - (Int(truncatingIfNeeded: horizon) & mask)) & mask)
            var n = ring[i]
            ring[i] = -1
            occupied[i >> 6] &= ~(1 << UInt64(i & 63))
            horizon = b + 1
            while n >= 0 {
                let e = nodes[Int(n)].entry
                let after = nodes[Int(n)].next
                nodes[Int(n)].next = freeNode
                freeNode = n
                n = after
                if isLive(e) {
                    heap.append(e)
                    EventQueue.siftUp(&heap, heap.count - 1)
                } else {
                    freeSlots.append(e.slot)
                }
            }
            pullFar()
        }
    }

    /// Moves the far events that the ring now covers into it.
    @inlinable mutating func pullFar() {
        while let top = far.first, bucket(top.time) - horizon <= Int64(mask) {
            EventQueue.removeTop(&far)
            if isLive(top) { place(top) } else { freeSlots.append(top.slot) }
        }
    }

    /// The ring slot of the earliest occupied bucket, searching from `horizon`'s slot round.
    @inlinable func firstOccupied() -> Int? {
        let words = occupied.count
        let start = Int(truncatingIfNeeded: horizon) & mask
        var w = start >> 6
        // The first word: only the bits at or after the start.
        var bits = occupied[w] & (~0 << UInt64(start & 63))
        for _ in 0...words {
            if bits != 0 { return (w << 6) | bits.trailingZeroBitCount }
            w = (w + 1) % words
            bits = occupied[w]
        }
        return nil
    }

    @inlinable static func removeTop(_ h: inout ContiguousArray<Entry>) {
        let last = h.removeLast()
        if !h.isEmpty {
            h[0] = last
            siftDown(&h, 0)
        }
    }

    @inlinable static func siftUp(_ heap: inout ContiguousArray<Entry>, _ i0: Int) {
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
    @inlinable static func siftDown(_ heap: inout ContiguousArray<Entry>, _ i0: Int) {
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

    /// Debug invariant: both heaps ordered, every entry in its tier, the occupancy bits exact,
    /// the live count right.
    public func checkInvariants() -> Bool {
        for h in [heap, far] {
            for i in 1..<max(1, h.count) where h[i].precedes(h[(i - 1) >> 1]) { return false }
        }
        if heap.contains(where: { bucket($0.time) >= horizon }) { return false }
        if far.contains(where: { bucket($0.time) - horizon <= Int64(mask) }) { return false }
        var inRing: [Entry] = []
        for (i, head) in ring.enumerated() {
            if (occupied[i >> 6] >> UInt64(i & 63)) & 1 != (head < 0 ? 0 : 1) { return false }
            var n = head
            while n >= 0 {
                let e = nodes[Int(n)].entry
                let b = bucket(e.time)
                if b < horizon || b - horizon > Int64(mask) || Int(truncatingIfNeeded: b) & mask != i { return false }
                inRing.append(e)
                n = nodes[Int(n)].next
            }
        }
        // Every node is in one bucket's list or free (and empty).
        var free = 0, n = freeNode
        while n >= 0 { free += 1; n = nodes[Int(n)].next }
        if inRing.count + free != nodes.count { return false }
        let live = heap.filter(isLive).count + far.filter(isLive).count + inRing.filter(isLive).count
        return live == liveCount
    }
}
