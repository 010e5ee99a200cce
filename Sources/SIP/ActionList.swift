extension Array {
    /// An empty array with room for `capacity` elements: how a per-call list that grows append
    /// by append starts, sized for its usual length so that appending does not regrow it
    /// (issue 11's profile).
    @inlinable @inline(__always)
    public init(reservingCapacity capacity: Int) {
        self.init()
        reserveCapacity(capacity)
    }

    /// The elements `input` appends to a new list with room for `capacity`: how a sans-I/O
    /// core's returning form of an input (for tests and one-off callers) wraps the form that
    /// appends to a driver's list.
    @inlinable @inline(__always)
    public static func collecting(capacity: Int, _ input: (inout Array) -> Void) -> Array {
        var out = Array(reservingCapacity: capacity)
        input(&out)
        return out
    }
}

/// The emptied action lists a driver of a sans-I/O core (the SIP transactions, the call router)
/// keeps and reuses, input after input, so that an input allocates no list (issue 11). One list
/// per nesting depth: an action being performed may feed the same kind of core again before its
/// own list is done, and that input takes another list.
public struct ActionListPool<Element> {
    @usableFromInline var spare: [[Element]] = []
    /// Room each new list starts with: what one input usually appends.
    @usableFromInline let capacity: Int

    public init(capacity: Int) { self.capacity = capacity }

    /// An empty list, a kept one if any.
    @inlinable public mutating func take() -> [Element] {
        spare.popLast() ?? Array(reservingCapacity: capacity)
    }

    /// Keeps `list`'s buffer for a later `take`, emptied, and leaves `list` empty without one (so
    /// that the kept buffer has one owner and appending to it later does not copy it). Emptied
    /// from the end: `removeAll(keepingCapacity:)` goes through `replaceSubrange`, about 200
    /// instructions for the usual two or three actions.
    @inlinable public mutating func giveBack(_ list: inout [Element]) {
        while !list.isEmpty { list.removeLast() }
        spare.append(list)
        list = []
    }
}
