/// RFC 3261 §17.1.2 client non-INVITE transaction (REGISTER, BYE, OPTIONS), sans-I/O.
public struct NonInviteClientTransaction: ClientTransactionInputs, Sendable {
    public enum State: String, Sendable { case idle, trying, proceeding, completed, terminated }

    public let request: SIPMessage
    public let transport: Transport
    public let timers: TimerPolicy
    public private(set) var state: State = .idle
    public private(set) var intervalE: Int64
    public private(set) var sends = 0

    public init(request: SIPMessage, transport: Transport, timers: TimerPolicy) {
        self.init(request: request, branch: request.branch ?? "", transport: transport, timers: timers)
    }

    /// The same, with the request's top Via branch already known (parsed once by the driver).
    public init(request: SIPMessage, branch: String, transport: Transport, timers: TimerPolicy) {
        precondition(request.method != "INVITE" && request.method != "ACK", "not a non-INVITE request")
        self.request = request
        self.branch = branch
        self.transport = transport
        self.timers = timers
        self.intervalE = timers.t1
    }

    /// The top Via branch of the request, parsed once.
    public let branch: String

    private mutating func move(to s: State, _ out: inout [TransactionAction]) {
        if s != state { out.append(.stateChanged(from: state.rawValue, to: s.rawValue)); state = s }
    }

    /// Sends the request; over UDP arms Timer E at T1; arms Timer F at 64·T1.
    public mutating func start(now: Int64, into out: inout [TransactionAction]) {
        precondition(state == .idle, "start in state \(state)")
        move(to: .trying, &out)
        out.append(.send(request, retransmission: false))
        sends = 1
        if !transport.isReliable { out.append(.startTimer(.E, at: now + intervalE)) }
        out.append(.startTimer(.F, at: now + timers.timerF))
    }

    public mutating func timerFired(_ timer: SIPTimer, now: Int64, into out: inout [TransactionAction]) {
        switch (timer, state) {
        case (.E, .trying):
            out.append(.send(request, retransmission: true))
            sends += 1
            intervalE = min(2 * intervalE, timers.t2)
            out.append(.startTimer(.E, at: now + intervalE))
        case (.E, .proceeding):
            out.append(.send(request, retransmission: true))
            sends += 1
            intervalE = timers.t2
            out.append(.startTimer(.E, at: now + intervalE))
        case (.F, .trying), (.F, .proceeding):
            out.append(.cancelTimer(.E))
            move(to: .terminated, &out)
            out.append(.timedOut(.F))
        case (.K, .completed):
            move(to: .terminated, &out)
        default:
            break
        }
    }

    public mutating func receive(_ response: SIPMessage, now: Int64, into out: inout [TransactionAction]) {
        guard let code = response.statusCode else { return }
        switch state {
        case .trying, .proceeding:
            if code < 200 {
                move(to: .proceeding, &out)
                out.append(.deliver(response))
            } else {
                out.append(.cancelTimer(.E))
                out.append(.cancelTimer(.F))
                move(to: .completed, &out)
                out.append(.deliver(response))
                out.append(.startTimer(.K, at: now + timers.timerK(reliable: transport.isReliable)))
            }
        case .idle, .completed, .terminated:
            break
        }
    }

    public mutating func transportError(now: Int64, into out: inout [TransactionAction]) {
        guard state == .trying || state == .proceeding else { return }
        out.append(.cancelTimer(.E))
        out.append(.cancelTimer(.F))
        move(to: .terminated, &out)
        out.append(.transportFailed)
    }

    public mutating func abandon(into out: inout [TransactionAction]) {
        guard state != .terminated else { return }
        out.append(.cancelTimer(.E))
        out.append(.cancelTimer(.F))
        out.append(.cancelTimer(.K))
        move(to: .terminated, &out)
    }
}
