extension Array {
    /// An empty array with room for `capacity` elements: how the drivers of the sans-I/O cores
    /// (the SIP transactions, the call router) start an action list they then reuse, and how a
    /// per-call list that grows append by append starts, sized for its usual length so that
    /// appending does not regrow it (issue 11's profile).
    @inlinable @inline(__always)
    public init(reservingCapacity capacity: Int) {
        self.init()
        reserveCapacity(capacity)
    }
}
