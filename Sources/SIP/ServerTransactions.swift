/// What a server transaction, or the UAS core's 2xx retransmission, asks its driver to do. Like
/// the client transactions, they never touch a clock, a socket or a timer themselves.
public enum ServerAction: Sendable, Equatable {
    /// Put this response on the transport (a retransmission when `retransmission` is true).
    case send(SIPMessage, retransmission: Bool)
    case startTimer(SIPTimer, at: Int64)
    case cancelTimer(SIPTimer)
    /// Timer H fired: the ACK never came (the transaction, or the 2xx retransmission, gave up).
    case timedOut(SIPTimer)
    case stateChanged(from: String, to: String)
}

/// RFC 3261 §17.2.1 INVITE server transaction, sans-I/O. The TU's responses go through `respond`;
/// a retransmitted INVITE or the ACK of a non-2xx final through `receive`. A 2xx ends the
/// transaction at once (the UAS core retransmits it: `TwoXXRetransmission`); a 3xx-6xx final is
/// retransmitted on Timer G (T1 doubling to T2, UDP only) until the ACK, which Timer H (64·T1)
/// waits for; after the ACK, Timer I (T4 over UDP, 0 over TCP) absorbs ACK retransmissions.
public struct InviteServerTransaction: Sendable {
    public enum State: String, Sendable { case proceeding, completed, confirmed, terminated }

    public let branch: String
    public let transport: Transport
    public let timers: TimerPolicy
    public private(set) var state: State = .proceeding
    /// The last response sent: a retransmitted INVITE gets it again.
    public private(set) var lastResponse: SIPMessage?
    /// Current Timer G interval.
    public private(set) var intervalG: Int64

    public init(request: SIPMessage, transport: Transport, timers: TimerPolicy) {
        self.branch = request.branch ?? ""
        self.transport = transport
        self.timers = timers
        self.intervalG = timers.t1
    }

    private mutating func move(to s: State, _ out: inout [ServerAction]) {
        if s != state { out.append(.stateChanged(from: state.rawValue, to: s.rawValue)); state = s }
    }

    /// The TU sends a response. 1xx: sent, still proceeding. 2xx: sent, terminated. 3xx-6xx: sent,
    /// completed, Timer G (UDP) and Timer H armed.
    public mutating func respond(_ r: SIPMessage, now: Int64) -> [ServerAction] {
        guard state == .proceeding, let code = r.statusCode else { return [] }
        lastResponse = r
        var out: [ServerAction] = [.send(r, retransmission: false)]
        if code < 200 { return out }
        if code < 300 { move(to: .terminated, &out); return out }
        move(to: .completed, &out)
        if !transport.isReliable { out.append(.startTimer(.G, at: now + intervalG)) }
        out.append(.startTimer(.H, at: now + timers.timerH))
        return out
    }

    /// A request on this transaction: a retransmitted INVITE (answered with the last response) or
    /// the ACK of the non-2xx final (absorbed here, never passed up).
    public mutating func receive(_ request: SIPMessage, now: Int64) -> [ServerAction] {
        var out: [ServerAction] = []
        if request.method == "ACK" {
            guard state == .completed else { return [] } // confirmed: an ACK retransmission, absorbed
            out.append(.cancelTimer(.G))
            out.append(.cancelTimer(.H))
            move(to: .confirmed, &out)
            out.append(.startTimer(.I, at: now + timers.timerI(reliable: transport.isReliable)))
            return out
        }
        if state == .proceeding || state == .completed, let r = lastResponse {
            out.append(.send(r, retransmission: true))
        }
        return out
    }

    public mutating func timerFired(_ timer: SIPTimer, now: Int64) -> [ServerAction] {
        var out: [ServerAction] = []
        switch (timer, state) {
        case (.G, .completed):
            if let r = lastResponse { out.append(.send(r, retransmission: true)) }
            intervalG = min(2 * intervalG, timers.t2)
            out.append(.startTimer(.G, at: now + intervalG))
        case (.H, .completed):
            out.append(.cancelTimer(.G))
            move(to: .terminated, &out)
            out.append(.timedOut(.H))
        case (.I, .confirmed):
            move(to: .terminated, &out)
        default:
            break // stale
        }
        return out
    }
}

/// RFC 3261 §17.2.2 non-INVITE server transaction, sans-I/O (BYE, CANCEL, REGISTER at a server).
/// A retransmitted request gets the last response again; after the final, Timer J (64·T1 over
/// UDP, 0 over TCP) keeps the transaction to absorb retransmissions, then it ends.
public struct NonInviteServerTransaction: Sendable {
    public enum State: String, Sendable { case trying, proceeding, completed, terminated }

    public let branch: String
    public let method: String
    public let transport: Transport
    public let timers: TimerPolicy
    public private(set) var state: State = .trying
    public private(set) var lastResponse: SIPMessage?

    public init(request: SIPMessage, transport: Transport, timers: TimerPolicy) {
        self.branch = request.branch ?? ""
        self.method = request.method ?? ""
        self.transport = transport
        self.timers = timers
    }

    private mutating func move(to s: State, _ out: inout [ServerAction]) {
        if s != state { out.append(.stateChanged(from: state.rawValue, to: s.rawValue)); state = s }
    }

    public mutating func respond(_ r: SIPMessage, now: Int64) -> [ServerAction] {
        guard state == .trying || state == .proceeding, let code = r.statusCode else { return [] }
        lastResponse = r
        var out: [ServerAction] = [.send(r, retransmission: false)]
        if code < 200 { move(to: .proceeding, &out); return out }
        move(to: .completed, &out)
        out.append(.startTimer(.J, at: now + timers.timerJ(reliable: transport.isReliable)))
        return out
    }

    /// A retransmission of the request: the last response again (none while trying).
    public mutating func receive(_ request: SIPMessage, now: Int64) -> [ServerAction] {
        guard state == .proceeding || state == .completed, let r = lastResponse else { return [] }
        return [.send(r, retransmission: true)]
    }

    public mutating func timerFired(_ timer: SIPTimer, now: Int64) -> [ServerAction] {
        guard timer == .J, state == .completed else { return [] }
        var out: [ServerAction] = []
        move(to: .terminated, &out)
        return out
    }
}

/// RFC 3261 §13.3.1.4: the UAS core retransmits its 2xx to an INVITE, end to end, at T1 doubling
/// to T2, until the ACK arrives; after 64·T1 without an ACK it gives up (`timedOut(.H)`), and the
/// UAS then ends the session with BYE. Timer G is the retransmission interval, Timer H the give-up.
public struct TwoXXRetransmission: Sendable {
    public let response: SIPMessage
    public let timers: TimerPolicy
    public private(set) var interval: Int64
    public private(set) var acked = false
    public private(set) var gaveUp = false

    public init(response: SIPMessage, timers: TimerPolicy) {
        self.response = response
        self.timers = timers
        self.interval = timers.t1
    }

    /// The 2xx has just been sent: arm both timers.
    public func start(now: Int64) -> [ServerAction] {
        [.startTimer(.G, at: now + interval), .startTimer(.H, at: now + timers.timerH)]
    }

    /// The ACK for the 2xx arrived: stop.
    public mutating func ackReceived() -> [ServerAction] {
        guard !acked, !gaveUp else { return [] }
        acked = true
        return [.cancelTimer(.G), .cancelTimer(.H)]
    }

    public mutating func timerFired(_ timer: SIPTimer, now: Int64) -> [ServerAction] {
        guard !acked, !gaveUp else { return [] }
        switch timer {
        case .G:
            interval = min(2 * interval, timers.t2)
            return [.send(response, retransmission: true), .startTimer(.G, at: now + interval)]
        case .H:
            gaveUp = true
            return [.cancelTimer(.G), .timedOut(.H)]
        default:
            return []
        }
    }
}
