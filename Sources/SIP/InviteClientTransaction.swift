/// What a client transaction asks its driver to do. The transaction never touches a clock, a
/// socket or a timer itself.
public enum TransactionAction: Sendable, Equatable {
    /// Put this message on the transport (a retransmission when `retransmission` is true).
    case send(SIPMessage, retransmission: Bool)
    /// Arm (or re-arm) a timer to fire at an absolute time in nanoseconds.
    case startTimer(SIPTimer, at: Int64)
    case cancelTimer(SIPTimer)
    /// Pass a response up to the transaction user.
    case deliver(SIPMessage)
    /// The transaction timed out (Timer B or F): RFC 3261 §8.1.3.1 treats this as a 408.
    case timedOut(SIPTimer)
    /// A fatal transport error: treated as a 503 (§8.1.3.1).
    case transportFailed
    /// The state machine moved to another state.
    case stateChanged(from: String, to: String)
}

extension TransactionAction {
    /// What one input of a client transaction appends at most (five): the room a driver's list
    /// starts with.
    public static let listCapacity = 5
}

/// RFC 3261 §17.1.1 client INVITE transaction, sans-I/O.
///
/// Inputs are named for what happened (`start`, `receive`, `timerFired`, `transportError`,
/// `abandon`); each appends the actions to perform, in order, to the driver's list (or returns
/// them in a new one).
public struct InviteClientTransaction: ClientTransactionInputs, Sendable {
    public enum State: String, Sendable { case idle, calling, proceeding, completed, terminated }

    public let request: SIPMessage
    public let transport: Transport
    public let timers: TimerPolicy
    public private(set) var state: State = .idle
    /// Current Timer A interval.
    public private(set) var intervalA: Int64
    /// Number of times the INVITE was sent (first send included).
    public private(set) var sends = 0
    private var ack: SIPMessage?

    public init(request: SIPMessage, transport: Transport, timers: TimerPolicy) {
        self.init(request: request, branch: request.branch ?? "", transport: transport, timers: timers)
    }

    /// The same, with the request's top Via branch already known (parsed once by the driver).
    public init(request: SIPMessage, branch: String, transport: Transport, timers: TimerPolicy) {
        precondition(request.method == "INVITE", "an INVITE transaction needs an INVITE")
        self.request = request
        self.branch = branch
        self.transport = transport
        self.timers = timers
        self.intervalA = timers.t1
    }

    /// The top Via branch of the request, parsed once.
    public let branch: String

    private mutating func move(to s: State, _ out: inout [TransactionAction]) {
        if s != state { out.append(.stateChanged(from: state.rawValue, to: s.rawValue)); state = s }
    }

    /// Sends the INVITE; over UDP arms Timer A at T1; arms Timer B at 64·T1.
    public mutating func start(now: Int64, into out: inout [TransactionAction]) {
        precondition(state == .idle, "start in state \(state)")
        move(to: .calling, &out)
        out.append(.send(request, retransmission: false))
        sends = 1
        if !transport.isReliable { out.append(.startTimer(.A, at: now + intervalA)) }
        out.append(.startTimer(.B, at: now + timers.timerB))
    }

    public mutating func timerFired(_ timer: SIPTimer, now: Int64, into out: inout [TransactionAction]) {
        switch (timer, state) {
        case (.A, .calling):
            out.append(.send(request, retransmission: true))
            sends += 1
            intervalA *= 2 // not capped by T2 for INVITE
            out.append(.startTimer(.A, at: now + intervalA))
        case (.B, .calling):
            out.append(.cancelTimer(.A))
            move(to: .terminated, &out)
            out.append(.timedOut(.B))
        case (.D, .completed):
            move(to: .terminated, &out)
        default:
            break // a stale timer (the state moved on): ignore
        }
    }

    public mutating func receive(_ response: SIPMessage, now: Int64, into out: inout [TransactionAction]) {
        guard let code = response.statusCode else { return }
        switch state {
        case .calling, .proceeding:
            if code < 200 {
                if state == .calling {
                    out.append(.cancelTimer(.A))
                    out.append(.cancelTimer(.B))
                    move(to: .proceeding, &out)
                }
                out.append(.deliver(response))
            } else if code < 300 {
                out.append(.cancelTimer(.A))
                out.append(.cancelTimer(.B))
                move(to: .terminated, &out)
                out.append(.deliver(response)) // the TU sends the ACK for a 2xx
            } else {
                out.append(.cancelTimer(.A))
                out.append(.cancelTimer(.B))
                let a = request.ackForNon2xx(response)
                ack = a
                move(to: .completed, &out)
                out.append(.send(a, retransmission: false))
                out.append(.deliver(response))
                out.append(.startTimer(.D, at: now + timers.timerD(reliable: transport.isReliable)))
            }
        case .completed:
            if code >= 300, let a = ack { out.append(.send(a, retransmission: true)) }
        case .idle, .terminated:
            break
        }
    }

    /// The transport reported a fatal error for this transaction (ICMP unreachable, refused TCP).
    public mutating func transportError(now: Int64, into out: inout [TransactionAction]) {
        guard state == .calling || state == .proceeding else { return }
        out.append(.cancelTimer(.A))
        out.append(.cancelTimer(.B))
        move(to: .terminated, &out)
        out.append(.transportFailed)
    }

    /// The transaction user gives up on this transaction before a final response (per-target
    /// failover timeout): stop retransmitting and forget it. A transaction that already has its
    /// final response (`completed`) is the TU's no more: it stays until Timer D, absorbing and
    /// re-ACKing retransmitted finals (§17.1.1.2), so abandoning it does nothing.
    public mutating func abandon(into out: inout [TransactionAction]) {
        guard state == .calling || state == .proceeding || state == .idle else { return }
        out.append(.cancelTimer(.A))
        out.append(.cancelTimer(.B))
        move(to: .terminated, &out)
    }

    /// RFC 3261 §9.1: a CANCEL may be sent only once a provisional response has arrived.
    public var mayCancel: Bool { state == .proceeding }
}
