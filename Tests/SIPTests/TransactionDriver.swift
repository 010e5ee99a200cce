@testable import SIP

/// A minimal manual-clock driver for the sans-I/O transactions: records sends and fires the
/// earliest timer, as the engine would.
struct Driver {
    var timers: [SIPTimer: Int64] = [:]
    var sends: [(at: Int64, message: SIPMessage, retransmission: Bool)] = []
    var delivered: [Int] = []
    var timedOutAt: Int64?
    var transportFailedAt: Int64?
    var states: [String] = []
    var now: Int64 = 0

    mutating func apply(_ actions: [TransactionAction]) {
        for a in actions {
            switch a {
            case .send(let m, let re): sends.append((now, m, re))
            case .startTimer(let t, let at): timers[t] = at
            case .cancelTimer(let t): timers[t] = nil
            case .deliver(let r): delivered.append(r.statusCode ?? 0)
            case .timedOut: timedOutAt = now
            case .transportFailed: transportFailedAt = now
            case .stateChanged(_, let to): states.append(to)
            }
        }
    }

    /// The earliest pending timer, if any, not later than `limit`.
    mutating func nextTimer(limit: Int64 = .max) -> SIPTimer? {
        guard let (t, at) = timers.min(by: { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue < $1.key.rawValue) }),
              at <= limit else { return nil }
        timers[t] = nil
        now = at
        return t
    }
}

let s = Int64(1_000_000_000)
let ms = Int64(1_000_000)

func sampleInvite(branch: String = "z9hG4bK-test1") -> SIPMessage {
    SIPMessage.invite(requestURI: "sip:0123451011@itsp.example", from: "sip:0987654321@itsp.example", fromTag: "abc",
                      to: "sip:0123451011@itsp.example", callID: "1-1@pbx1.example", cseq: 1, transport: .udp,
                      localHostPort: "198.51.100.1:5060", localIP: "198.51.100.1", contactUser: "0987654321",
                      branch: branch, sessionID: 1)
}

func sampleRegister() -> SIPMessage {
    SIPMessage.register(registrarURI: "sip:itsp.example", aor: "sip:0987654321@itsp.example", fromTag: "r1",
                        callID: "reg-1@pbx1.example", cseq: 1, transport: .udp, localHostPort: "198.51.100.1:5060",
                        contactUser: "0987654321", expires: 3600, branch: "z9hG4bK-reg1")
}
