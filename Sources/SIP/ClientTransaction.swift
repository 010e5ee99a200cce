/// A client transaction of either kind (RFC 3261 §17.1): what a driver keeps per transaction, so
/// that it feeds inputs without caring which machine it holds. The simulated world and live mode
/// both keep these.
public enum ClientTransaction: ClientTransactionInputs, Sendable {
    case invite(InviteClientTransaction)
    case nonInvite(NonInviteClientTransaction)

    /// An INVITE transaction for an INVITE, else a non-INVITE one.
    public init(request: SIPMessage, transport: Transport, timers: TimerPolicy) {
        self.init(request: request, branch: request.branch ?? "", transport: transport, timers: timers)
    }

    /// The same, with the request's top Via branch already known (parsed once by the driver).
    public init(request: SIPMessage, branch: String, transport: Transport, timers: TimerPolicy) {
        self = request.method == "INVITE"
            ? .invite(InviteClientTransaction(request: request, branch: branch, transport: transport, timers: timers))
            : .nonInvite(NonInviteClientTransaction(request: request, branch: branch, transport: transport, timers: timers))
    }

    /// The key a response is matched by (§17.1.3): the top Via branch and the CSeq method, which
    /// tells a CANCEL from the INVITE whose branch it shares.
    public static func key(branch: String, method: String) -> String {
        method == "CANCEL" ? "CANCEL " + branch : branch
    }

    public var request: SIPMessage {
        switch self { case .invite(let x): return x.request; case .nonInvite(let x): return x.request }
    }
    public var branch: String {
        switch self { case .invite(let x): return x.branch; case .nonInvite(let x): return x.branch }
    }
    public var transport: Transport {
        switch self { case .invite(let x): return x.transport; case .nonInvite(let x): return x.transport }
    }
    public var method: String { request.method ?? "" }
    public var key: String { ClientTransaction.key(branch: branch, method: method) }
    public var isTerminated: Bool {
        switch self { case .invite(let x): return x.state == .terminated; case .nonInvite(let x): return x.state == .terminated }
    }

    // Each input moves the machine out of the enum (`consume self`) and back, so that the
    // request it holds is neither copied nor retained per input, and appends its actions to the
    // driver's list, so that it allocates nothing (issue 11's profile).
    public mutating func start(now: Int64, into out: inout [TransactionAction]) {
        switch consume self {
        case .invite(var x): x.start(now: now, into: &out); self = .invite(x)
        case .nonInvite(var x): x.start(now: now, into: &out); self = .nonInvite(x)
        }
    }
    public mutating func receive(_ response: SIPMessage, now: Int64, into out: inout [TransactionAction]) {
        switch consume self {
        case .invite(var x): x.receive(response, now: now, into: &out); self = .invite(x)
        case .nonInvite(var x): x.receive(response, now: now, into: &out); self = .nonInvite(x)
        }
    }
    public mutating func timerFired(_ timer: SIPTimer, now: Int64, into out: inout [TransactionAction]) {
        switch consume self {
        case .invite(var x): x.timerFired(timer, now: now, into: &out); self = .invite(x)
        case .nonInvite(var x): x.timerFired(timer, now: now, into: &out); self = .nonInvite(x)
        }
    }
    public mutating func transportError(now: Int64, into out: inout [TransactionAction]) {
        switch consume self {
        case .invite(var x): x.transportError(now: now, into: &out); self = .invite(x)
        case .nonInvite(var x): x.transportError(now: now, into: &out); self = .nonInvite(x)
        }
    }
    public mutating func abandon(into out: inout [TransactionAction]) {
        switch consume self {
        case .invite(var x): x.abandon(into: &out); self = .invite(x)
        case .nonInvite(var x): x.abandon(into: &out); self = .nonInvite(x)
        }
    }
}

/// The inputs of a client transaction (RFC 3261 §17.1), each appending its actions to the
/// driver's list, which the driver reuses so that an input allocates nothing (issue 11).
public protocol ClientTransactionInputs {
    mutating func start(now: Int64, into out: inout [TransactionAction])
    mutating func receive(_ response: SIPMessage, now: Int64, into out: inout [TransactionAction])
    mutating func timerFired(_ timer: SIPTimer, now: Int64, into out: inout [TransactionAction])
    mutating func transportError(now: Int64, into out: inout [TransactionAction])
    mutating func abandon(into out: inout [TransactionAction])
}

extension ClientTransactionInputs {
    // The same inputs returning a new list, for tests and one-off callers.
    public mutating func start(now: Int64) -> [TransactionAction] { [TransactionAction].collecting(capacity: TransactionAction.listCapacity) { start(now: now, into: &$0) } }
    public mutating func receive(_ response: SIPMessage, now: Int64) -> [TransactionAction] { [TransactionAction].collecting(capacity: TransactionAction.listCapacity) { receive(response, now: now, into: &$0) } }
    public mutating func timerFired(_ timer: SIPTimer, now: Int64) -> [TransactionAction] { [TransactionAction].collecting(capacity: TransactionAction.listCapacity) { timerFired(timer, now: now, into: &$0) } }
    public mutating func transportError(now: Int64) -> [TransactionAction] { [TransactionAction].collecting(capacity: TransactionAction.listCapacity) { transportError(now: now, into: &$0) } }
    public mutating func abandon() -> [TransactionAction] { [TransactionAction].collecting(capacity: TransactionAction.listCapacity) { abandon(into: &$0) } }
}
