import Routing
import Scenario
import SimCore
import SIP
import Telephony
import Trace

/// Live mode (issue 14, docs/live.md): one PBX's V-SIPGW card, driven on the wall clock over real
/// sockets by the same sans-I/O cores the simulation uses: `RegistrationCore` for REGISTER
/// failover and refresh, `CallRouter` and `FailoverSequence` for the INVITE failover order, the
/// per-target timeout and the reroute decision, `ResolutionProcedure` for RFC 3263, `TargetHealth`
/// for the Retry-After blocklist and fail-back, and the RFC 3261 client transactions with their
/// timers. This driver only owns the clock, the socket, the timer heap and the trace; it records
/// the same step kinds and typed fields as the simulated card, into the same tables.
public final class LiveCard {
    public struct Options {
        /// Where the card's socket is bound.
        public var local: Endpoint
        public var resolver: LiveResolver
        /// Longest a run may last, wall time (nil: until the timeline is done and every call ended).
        public var maxDurationNs: Int64?
        /// `--yes`: addresses that are neither loopback nor private may be used.
        public var allowPublic: Bool
        public init(local: Endpoint, resolver: LiveResolver, maxDurationNs: Int64? = nil, allowPublic: Bool = false) {
            self.local = local; self.resolver = resolver; self.maxDurationNs = maxDurationNs; self.allowPublic = allowPublic
        }
    }

    enum Timer {
        case txn(Int, SIPTimer)
        case callFailover(call: Int, attempt: Int)
        case registerFailover(attempt: Int)
        case registerCycle
        case timeline(Int)
        case hangup(call: Int)
        case noAnswer(call: Int)
        case blocklistExpiry(String)
        case dnsTimeout(job: Int, attempt: Int)
    }

    enum Owner { case callInvite(Int), cancelledInvite(Int), callCancel(Int), callBye(Int), register }

    final class Txn {
        var machine: ClientTransaction
        var owner: Owner
        let remote: Endpoint
        let transport: Transport
        let callID: Int?
        var timers: [SIPTimer: EventID] = [:]
        init(machine: ClientTransaction, owner: Owner, remote: Endpoint, transport: Transport, callID: Int?) {
            self.machine = machine; self.owner = owner; self.remote = remote; self.transport = transport; self.callID = callID
        }
        var branch: String { machine.branch }
        var method: String { machine.method }
    }

    let scenario: Scenario
    let pbx: PBXConfig
    let card: CardConfig
    let transport: SocketTransport
    let options: Options
    let sink: TraceSink
    let clock = MonotonicClock()
    let streams: RandomStreams
    let actor: String
    var timers = EventQueue<Timer>()
    var txns: [Int: Txn] = [:]
    var txnByKey: [String: Int] = [:]
    var txnCounter = 0
    var calls: [Int: LiveCall] = [:]
    var callBySIPID: [String: Int] = [:]
    var callCount = 0
    var idCounter: UInt64 = 0
    var health: TargetHealth
    /// The card's stub resolver: the node the simulated PBX runs (RFC 3263 jobs, TTL cache).
    let stub = StubResolver()
    lazy var resolverContext = LiveResolverContext(self)
    var cardState: CardState = .ins
    /// The card's registration: the same node the simulated card runs.
    let registration: CardRegistration
    lazy var registrationContext = LiveRegistrationContext(self)
    /// The context of the calls' trunk nodes.
    lazy var trunkContext = LiveTrunkContext(self)
    // Run
    var timelineDone = 0
    var stopping = false
    /// Warnings for the user (the CLI prints them).
    public internal(set) var warnings: [String] = []
    /// Calls as recorded, in order of their end.
    public internal(set) var finished: [CallRecord] = []

    /// Prepares the card of `pbxName` (default: the first PBX with a card). Throws a `LiveError`
    /// that names the scenario file and line for anything live mode cannot do.
    public init(scenario: Scenario, pbxName: String?, options: Options, sink: TraceSink) throws {
        let check = try LiveCard.validate(scenario, pbxName: pbxName)
        self.scenario = scenario
        self.pbx = check.pbx
        self.card = check.card
        self.options = options
        self.sink = sink
        self.streams = RandomStreams(seed: scenario.seed)
        self.actor = "\(check.pbx.name)/V-SIPGW"
        health = TargetHealth(failback: check.card.healthFailback)
        let named = LiveCard.namedAddresses(scenario, card: check.card)
        let outside = named.filter { !AddressScope.of($0).isLocal }
        if !outside.isEmpty && !options.allowPublic {
            throw LiveError("\(scenario.file): live mode would send to \(outside.joined(separator: ", ")), which \(outside.count == 1 ? "is" : "are") neither loopback nor private; start with --yes if you mean it")
        }
        transport = try SocketTransport(local: options.local)
        transport.allowPublic = options.allowPublic
        for ip in named { transport.learn(ip) }
        registration = CardRegistration(config: check.card, actor: "\(check.pbx.name)/V-SIPGW",
                                        callID: "reg-live-\(String(UInt64(clock.now) & 0xFFFFFF, radix: 16))@\(options.local.ip)",
                                        fromTag: "rl\(String(UInt64(clock.now) & 0xFFFF, radix: 16))")
    }

    var now: Int64 { clock.now }
    /// Where the card's socket is bound.
    public var localEndpoint: Endpoint { transport.local }
    var localHostPort: String { transport.local.description }

    // MARK: - Trace

    func step(_ kind: StepKind, _ detail: String, call: Int? = nil, fields: [StepField] = []) {
        step(kind, by: actor, detail, call: call, fields: fields)
    }

    func step(_ kind: StepKind, by who: String, _ detail: String, call: Int? = nil, fields: [StepField] = []) {
        sink.record(.step(Step(atNs: now, callID: call, actor: who, kind: kind, detail: detail, fields: fields)))
    }

    func newBranch() -> String { idCounter += 1; return branchCookie + "live\(String(idCounter, radix: 16))x\(String(UInt64(now) & 0xFFFFF, radix: 16))" }
    func newTag() -> String { idCounter += 1; return "lt\(String(idCounter, radix: 16))" }

    // MARK: - The loop

    /// Runs until the timeline is done and every call has ended (or `stop()` says so), then
    /// unregisters. `shouldStop` is polled between events (Ctrl-C).
    public func run(shouldStop: () -> Bool) {
        step(.registration, "live: card bound to \(transport.local) (\(card.transport.rawValue)), DNS from the \(options.resolver.label) resolver",
             fields: [StepField("event", "live-start"), StepField("local", transport.local.description), StepField("resolver", options.resolver.label)])
        for (i, t) in scenario.timeline.enumerated() { _ = timers.push(.timeline(i), at: t.at) }
        if card.registrar != nil { registration.scheduleCycle(at: 0, registrationContext) }
        var interrupted = false
        while true {
            fireDueTimers()
            if shouldStop() { interrupted = true; break }
            if let max = options.maxDurationNs, now >= max { warnings.append("stopped at --max-duration with work pending"); break }
            if timelineDone == scenario.timeline.count && calls.isEmpty && !registration.firstAnswerPending { break }
            let wait = timers.peekTime().map { max(0, $0.ns - now) } ?? 50_000_000
            let ms = Int32(min(50, (wait + 999_999) / 1_000_000))
            for e in transport.poll(timeoutMs: ms) { handle(e) }
        }
        shutdown(interrupted: interrupted)
    }

    func fireDueTimers() {
        while let t = timers.peekTime(), t.ns <= now, let (at, _, timer) = timers.pop() {
            fire(timer, at: at.ns)
        }
    }

    func fire(_ timer: Timer, at: Int64) {
        switch timer {
        case .txn(let id, let t): txnTimerFired(id, t, at: at)
        case .callFailover(let c, let attempt): callFailoverTimer(c, attempt, at: at)
        case .registerFailover(let attempt): registration.timerFired(.failover(attempt: attempt), registrationContext)
        case .registerCycle: if !stopping { registration.timerFired(.cycle, registrationContext) }
        case .timeline(let i): runTimeline(i)
        case .hangup(let c): hangup(c, reason: "hold time over")
        case .noAnswer(let c): noAnswer(c)
        case .dnsTimeout(let job, let attempt): stub.timeout(job: job, attempt: attempt, resolverContext)
        case .blocklistExpiry(let ip):
            if health.unblockIfExpired(ip, now: now) { step(.blocklistExpired, "\(ip) eligible again", fields: [StepField("ip", ip)]) }
        }
    }

    func runTimeline(_ i: Int) {
        timelineDone += 1
        let t = scenario.timeline[i]
        switch t.command {
        case .dial(let caller, let number, let hold): dial(caller, number: number, hold: hold)
        case .hangup(let c, _):
            for id in calls.keys.sorted() where c == nil || c == id { hangup(id, reason: "hangup command") }
        default: break // refused by validate()
        }
    }

    /// Ctrl-C or the end: hang up what is in progress, unregister (Expires: 0), wait briefly for
    /// the answers, and record the calls.
    func shutdown(interrupted: Bool) {
        stopping = true
        for id in calls.keys.sorted() { hangup(id, reason: interrupted ? "interrupted" : "run over") }
        registration.unregister(registrationContext)
        let deadline = now + 2_000_000_000
        while now < deadline, (!calls.isEmpty || registration.unregistering) {
            fireDueTimers()
            for e in transport.poll(timeoutMs: 20) { handle(e) }
        }
        for id in calls.keys.sorted() { if let c = calls[id] { end(c, outcome: .inProgress, detail: "still in progress when live mode stopped") } }
        if registration.unregistering { warnings.append("no answer to the unregistering REGISTER within 2 s") }
    }

    // MARK: - Transport

    func send(_ msg: SIPMessage, to remote: Endpoint, transport tr: Transport, call: Int?, retransmission: Bool) -> String? {
        let text = msg.encoded()
        let err = transport.send(Array(text.utf8), to: remote, transport: tr)
        sink.record(.sipMessage(SIPMessageRecord(atNs: now, callID: call, src: localHostPort, dst: remote.description, method: msg.method,
                                                 statusCode: msg.statusCode, branch: msg.branch ?? "", sipCallID: msg.callID ?? "",
                                                 delivered: err == nil, retransmission: retransmission, transport: tr.rawValue, raw: text)))
        if let err {
            step(.transportError, "\(msg.method ?? "response") to \(remote): \(err)", call: call,
                 fields: [StepField("peer", remote.description), StepField("transport", tr.rawValue), StepField("cause", "send-refused"), StepField("reason", err)])
        }
        return err
    }

    func handle(_ e: TransportEvent) {
        switch e {
        case .unreachable(let remote, let tr, let reason):
            // Every transaction toward that address learns of it (RFC 3261 §18.4).
            for id in txns.keys.sorted() {
                guard let t = txns[id], t.remote == remote, t.transport == tr else { continue }
                let cause = tr == .udp ? "icmp-port-unreachable" : reason.contains("closed") ? "connection-closed" : "connection-refused"
                step(.transportError, "\(t.method) to \(remote): \(reason)", call: t.callID,
                     fields: [StepField("peer", remote.description), StepField("transport", tr.rawValue), StepField("cause", cause)])
                txnInput(id) { m, now in m.transportError(now: now) }
            }
        case .received(let bytes, let from, let tr):
            let text = String(decoding: bytes, as: UTF8.self)
            guard let msg = try? SIPMessage.parse(text) else {
                step(.packetDropped, by: "network", "unparsable datagram from \(from) dropped",
                     fields: [StepField("src", from.description), StepField("dst", localHostPort), StepField("cause", "unparsable")])
                return
            }
            let call = msg.callID.flatMap { callBySIPID[$0] }
            sink.record(.sipMessage(SIPMessageRecord(atNs: now, callID: call, src: from.description, dst: localHostPort, method: msg.method,
                                                     statusCode: msg.statusCode, branch: msg.branch ?? "", sipCallID: msg.callID ?? "",
                                                     delivered: true, retransmission: false, transport: tr.rawValue, raw: text)))
            if msg.statusCode != nil { response(msg, from: from) } else { request(msg, from: from, transport: tr) }
        }
    }

    func response(_ r: SIPMessage, from: Endpoint) {
        let method = r.cseq?.method ?? ""
        if let b = r.branch, let id = txnByKey[ClientTransaction.key(branch: b, method: method)] {
            txnInput(id) { m, now in m.receive(r, now: now) }
            return
        }
        // A 2xx copy for an answered call (its INVITE transaction is over): the same ACK again.
        if let code = r.statusCode, (200..<300).contains(code), method == "INVITE", let cid = r.callID, let id = callBySIPID[cid],
           let c = calls[id], let ack = c.ack {
            step(.sipResponse, "200 OK again (retransmitted 2xx): the ACK again", call: id, fields: [StepField("code", 200), StepField("copy", 1)])
            _ = send(ack.message, to: ack.remote, transport: ack.transport, call: id, retransmission: true)
        }
    }

    /// A request from a server: a BYE ends the call (the far end hung up); OPTIONS is answered;
    /// anything else gets 501 (live mode places calls, it does not take them).
    func request(_ req: SIPMessage, from: Endpoint, transport tr: Transport) {
        guard let method = req.method, method != "ACK" else { return }
        let reply: SIPMessage
        switch method {
        case "BYE":
            reply = req.response(200)
            if let cid = req.callID, let id = callBySIPID[cid], let c = calls[id] {
                _ = send(reply, to: from, transport: tr, call: id, retransmission: false)
                c.releasedBy = "callee"
                end(c, outcome: .answered, detail: "the far end hung up (BYE)")
                return
            }
        case "OPTIONS": reply = req.response(200)
        case "INVITE": reply = req.response(480, reason: "Temporarily Unavailable (live mode takes no calls)", toTag: newTag())
        default: reply = req.response(method == "CANCEL" ? 481 : 501)
        }
        _ = send(reply, to: from, transport: tr, call: req.callID.flatMap { callBySIPID[$0] }, retransmission: false)
    }

    // MARK: - Transactions

    @discardableResult
    func startTransaction(_ request: SIPMessage, owner: Owner, to remote: Endpoint, transport tr: Transport, call: Int?) -> Int {
        txnCounter += 1
        let id = txnCounter
        let t = Txn(machine: ClientTransaction(request: request, transport: tr, timers: card.timers), owner: owner, remote: remote,
                    transport: tr, callID: call)
        txns[id] = t
        txnByKey[t.machine.key] = id
        txnInput(id) { m, now in m.start(now: now) }
        return id
    }

    func txnInput(_ id: Int, at: Int64? = nil, _ input: (inout ClientTransaction, Int64) -> [TransactionAction]) {
        guard let t = txns[id] else { return }
        let actions = input(&t.machine, at ?? now)
        for a in actions {
            guard txns[id] != nil else { break }
            switch a {
            case .send(let msg, let re):
                if send(msg, to: t.remote, transport: t.transport, call: t.callID, retransmission: re) != nil, !re {
                    // The kernel or the safety rule refused the first send: a transport error (§8.1.3.1).
                    txnInput(id) { m, now in m.transportError(now: now) }
                }
            case .startTimer(let timer, let at):
                if let old = t.timers[timer] { timers.cancel(old) }
                t.timers[timer] = timers.push(.txn(id, timer), at: SimTime(ns: at))
            case .cancelTimer(let timer):
                if let old = t.timers.removeValue(forKey: timer) { timers.cancel(old) }
            case .stateChanged(let from, let to):
                step(.txnState, "\(t.method) client \(t.branch): \(from) -> \(to)", call: t.callID,
                     fields: [StepField("transaction", "\(t.method) client"), StepField("branch", t.branch), StepField("from", from), StepField("to", to)])
            case .deliver(let r): delivered(id, t, r)
            case .timedOut(let timer): failed(id, t, reason: "Timer \(timer.rawValue) (408)", timeout: true)
            case .transportFailed: failed(id, t, reason: "transport error (503)", timeout: false)
            }
        }
        if let t = txns[id], t.machine.isTerminated {
            for (_, ev) in t.timers { timers.cancel(ev) }
            txns[id] = nil
            if txnByKey[t.machine.key] == id { txnByKey[t.machine.key] = nil }
        }
    }

    func txnTimerFired(_ id: Int, _ timer: SIPTimer, at: Int64) {
        guard let t = txns[id] else { return }
        t.timers[timer] = nil
        step(.timerFired, "Timer \(timer.rawValue) (branch \(t.branch))", call: t.callID,
             fields: [StepField("timer", timer.rawValue), StepField("branch", t.branch)])
        // The core sees the instant the timer was due, so retransmissions keep the RFC schedule
        // (0.5, 1.5, 3.5 s...) however late the loop woke up.
        txnInput(id, at: at) { m, now in m.timerFired(timer, now: now) }
    }

    func abandon(_ id: Int) {
        txnInput(id) { m, _ in m.abandon() }
    }

    func delivered(_ id: Int, _ t: Txn, _ r: SIPMessage) {
        switch t.owner {
        case .callInvite(let c): callResponse(c, txn: id, r)
        case .cancelledInvite(let c): cancelledInviteResponse(c, txn: id, r)
        case .callBye(let c): if let call = calls[c], (r.statusCode ?? 0) >= 200 { end(call, outcome: .answered, detail: "BYE answered \(r.statusCode ?? 0)") }
        case .callCancel: break
        case .register: registration.response(txn: id, r, registrationContext)
        }
    }

    func failed(_ id: Int, _ t: Txn, reason: String, timeout: Bool) {
        switch t.owner {
        case .callInvite(let c): callTransactionFailed(c, txn: id, timeout: timeout)
        case .cancelledInvite(let c): if let call = calls[c] { end(call, outcome: .abandoned, detail: "INVITE ended after CANCEL: \(reason)", reason: .callerHungUp) }
        case .callBye(let c): if let call = calls[c] { end(call, outcome: .answered, detail: "BYE got no answer: \(reason)") }
        case .callCancel: break
        case .register: registration.targetFailed(txn: id, reason: reason, registrationContext)
        }
    }
}
