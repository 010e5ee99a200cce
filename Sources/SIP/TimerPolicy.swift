/// The RFC 3261 timers (§17, Table 4), in nanoseconds. Everything derives from T1, T2 and T4.
public struct TimerPolicy: Sendable, Equatable {
    public var t1: Int64
    public var t2: Int64
    public var t4: Int64

    public static let nsPerSecond: Int64 = 1_000_000_000
    /// T1 = 500 ms, T2 = 4 s, T4 = 5 s.
    public static let rfcDefault = TimerPolicy(t1: 500_000_000, t2: 4 * nsPerSecond, t4: 5 * nsPerSecond)

    public init(t1: Int64, t2: Int64, t4: Int64) {
        self.t1 = t1; self.t2 = t2; self.t4 = t4
    }

    /// INVITE transaction timeout, 64·T1.
    public var timerB: Int64 { 64 * t1 }
    /// Non-INVITE transaction timeout, 64·T1.
    public var timerF: Int64 { 64 * t1 }
    /// Wait for response retransmissions after a non-2xx to INVITE: 32 s over UDP, 0 over TCP.
    public func timerD(reliable: Bool) -> Int64 { reliable ? 0 : max(32 * TimerPolicy.nsPerSecond, 64 * t1) }
    /// Wait for response retransmissions after a final response to a non-INVITE: T4 / 0.
    public func timerK(reliable: Bool) -> Int64 { reliable ? 0 : t4 }
    /// Server INVITE transaction: wait for the ACK of a non-2xx final, 64·T1 (any transport).
    public var timerH: Int64 { 64 * t1 }
    /// Server INVITE transaction: absorb ACK retransmissions after the ACK, T4 over UDP, 0 over TCP.
    public func timerI(reliable: Bool) -> Int64 { reliable ? 0 : t4 }
    /// Server non-INVITE transaction: absorb request retransmissions after the final, 64·T1 / 0.
    public func timerJ(reliable: Bool) -> Int64 { reliable ? 0 : 64 * t1 }
}

/// The transaction timers, named as the RFC names them (Table 4): A, B, D, E, F, K of the client
/// transactions, G, H, I, J of the server transactions. The UAS core's 2xx retransmission
/// (§13.3.1.4) reuses G (the interval) and H (the 64·T1 give-up) for its own two timers.
public enum SIPTimer: String, Sendable, Hashable, CaseIterable {
    case A, B, D, E, F, K, G, H, I, J
}
