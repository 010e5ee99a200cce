extension Array {
    /// An empty array with room for `capacity` elements: how the sans-I/O cores (the SIP
    /// transactions, the call router) start the action list an input returns, sized for what one
    /// input usually returns so that appending does not regrow it. Growing from empty took about
    /// 30 array allocations a failover call (issue 11's profile).
    @inlinable @inline(__always)
    public init(reservingCapacity capacity: Int) {
        self.init()
        reserveCapacity(capacity)
    }
}
