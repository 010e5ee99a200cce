import SimCore
import SIP
import Trace

extension World {
    /// Creates and starts a client transaction; returns its id.
    @discardableResult
    func startTransaction(_ request: SIPMessage, branch knownBranch: String? = nil, owner: TxnOwner, from localIP: String, to remoteIP: String,
                          port: Int, transport: Transport, timers: TimerPolicy, call: Int?, actor: String) -> Int {
        let stack = stack(at: localIP)
        let id = stack.newID()
        let branch = knownBranch ?? request.branch
        let machine = ClientTransaction(request: request, branch: branch ?? "", transport: transport, timers: timers)
        let t = Txn(machine: machine, owner: owner, localIP: localIP, remoteIP: remoteIP, remotePort: port,
                    callID: call, actor: actor, localHost: stack.host, remoteHost: network.index(of: remoteIP))
        stack.clients[id] = t
        if branch != nil { stack.clientByKey[t.key] = id }
        run(t, txn: id) { m, now, out in m.start(now: now, into: &out) }
        return id
    }

    /// Feeds an input to a transaction and performs the actions it appends.
    func txnInput(_ id: Int, _ input: (inout ClientTransaction, Int64, inout [TransactionAction]) -> Void) {
        guard let t = transactions[id] else { return }
        run(t, txn: id, input)
    }

    /// Feeds an input to a transaction's machine, collecting its actions in a list from
    /// `actionLists`, performs them and gives the list back.
    private func run(_ t: Txn, txn id: Int, _ input: (inout ClientTransaction, Int64, inout [TransactionAction]) -> Void) {
        var out = actionLists.take()
        input(&t.machine, sim.now.ns, &out)
        perform(out, t, txn: id)
        actionLists.giveBack(&out)
    }

    func txnTimerFired(_ id: Int, _ timer: SIPTimer) {
        guard let t = transactions[id] else { return }
        t.timers[timer] = nil
        step(.timerFired, t.actor, concat("Timer ", timer.rawValue, " (branch ", t.branch, ")"), call: t.callID,
             fields: [StepField("timer", timer.rawValue), StepField("branch", t.branch)])
        run(t, txn: id) { m, now, out in m.timerFired(timer, now: now, into: &out) }
    }

    /// Stops a transaction its owner no longer wants.
    func abandonTransaction(_ id: Int) {
        txnInput(id) { m, _, out in m.abandon(into: &out) }
    }

    /// Performs a transaction's actions. `t` is the transaction's record (a reference, looked up
    /// once); an action that ends it (the TU abandons it on a response) stops the rest.
    private func perform(_ actions: [TransactionAction], _ t: Txn, txn id: Int) {
        for a in actions {
            if t.removed { return }
            switch a {
            case .send(let msg, let re):
                network.sendSIP(msg, from: t.localIP, host: t.localHost, srcPort: 5060, to: t.remoteIP, host: t.remoteHost,
                                dstPort: t.remotePort, transport: t.transport, call: t.callID, retransmission: re, networkContext)
            case .startTimer(let timer, let at):
                if let old = t.timers[timer] { sim.cancel(old) }
                t.timers[timer] = sim.schedule(.txnTimer(txn: id, timer: timer), at: SimTime(ns: max(at, sim.now.ns)))
            case .cancelTimer(let timer):
                if let old = t.timers.removeValue(forKey: timer) { sim.cancel(old) }
            case .stateChanged(let from, let to):
                if to == "terminated" { t.terminated = true }
                step(.txnState, t.actor, concat(txnKindName(t), " ", t.branch, ": ", from, " -> ", to), call: t.callID,
                     fields: [StepField("transaction", txnKindName(t)), StepField("branch", t.branch), StepField("from", from), StepField("to", to)])
            case .deliver(let response):
                txnDelivered(id, t, response)
            case .timedOut(let timer):
                txnTimedOut(id, t, timer)
            case .transportFailed:
                txnTransportFailed(id, t)
            }
        }
        if !t.removed, t.terminated {
            t.removed = true
            t.timers.forEach { sim.cancel($0) }
            transactions[id] = nil
            let stack = stacks[SIPStack.stackIndex(of: id)]
            if stack.clientByKey[t.key] == id { stack.clientByKey[t.key] = nil }
        }
    }

    func txnKindName(_ t: Txn) -> String {
        switch t.machine {
        case .invite: return "INVITE client"
        case .nonInvite(let x): return "\(x.request.method ?? "") client"
        }
    }

    private func txnDelivered(_ id: Int, _ t: Txn, _ r: SIPMessage) {
        switch t.owner {
        case .callInvite(let c): withCall(c) { p, call, ctx in p.inviteResponse(call, txn: id, r, ctx) }
        case .callBye(let c): withCall(c) { p, call, ctx in p.byeFinished(call, ctx) }
        case .callCancel, .proxyCancel, .uasBye: break
        case .cancelledInvite(let c, let pi, _): pbxs[pi].cancelledInviteResponse(txn: id, call: c, r, callerContexts[pi])
        case .register(let p): pbxs[p].card?.registration.response(txn: id, r, registrationContext(p))
        case .proxyInvite(let s, let up): proxyResponse(server: s, upstream: up, r)
        }
    }

    private func txnTimedOut(_ id: Int, _ t: Txn, _ timer: SIPTimer) {
        switch t.owner {
        case .callInvite(let c): withCall(c) { p, call, ctx in p.inviteFailed(call, txn: id, timeout: true, ctx) }
        case .callBye(let c): withCall(c) { p, call, ctx in p.byeFinished(call, ctx) }
        case .callCancel, .cancelledInvite, .proxyCancel, .uasBye: break
        case .register(let p): pbxs[p].card?.registration.targetFailed(txn: id, reason: "Timer F (408)", registrationContext(p))
        case .proxyInvite(let s, let up): proxyDownstreamFailed(server: s, txn: t, upstream: up, code: 408)
        }
    }

    private func txnTransportFailed(_ id: Int, _ t: Txn) {
        switch t.owner {
        case .callInvite(let c): withCall(c) { p, call, ctx in p.inviteFailed(call, txn: id, timeout: false, ctx) }
        case .callBye(let c): withCall(c) { p, call, ctx in p.byeFinished(call, ctx) }
        case .callCancel, .cancelledInvite, .proxyCancel, .uasBye: break
        case .register(let p): pbxs[p].card?.registration.targetFailed(txn: id, reason: "transport error (503)", registrationContext(p))
        case .proxyInvite(let s, let up): proxyDownstreamFailed(server: s, txn: t, upstream: up, code: 503)
        }
    }
}

/// The pending engine events of one transaction's timers: one slot per RFC 3261 timer, so that
/// arming, cancelling and firing a timer neither hashes nor allocates.
struct TimerSlots {
    private var a, b, d, e, f, k, g, h, i, j: EventID?

    subscript(_ t: SIPTimer) -> EventID? {
        get {
            switch t {
            case .A: return a
            case .B: return b
            case .D: return d
            case .E: return e
            case .F: return f
            case .K: return k
            case .G: return g
            case .H: return h
            case .I: return i
            case .J: return j
            }
        }
        set {
            switch t {
            case .A: a = newValue
            case .B: b = newValue
            case .D: d = newValue
            case .E: e = newValue
            case .F: f = newValue
            case .K: k = newValue
            case .G: g = newValue
            case .H: h = newValue
            case .I: i = newValue
            case .J: j = newValue
            }
        }
    }

    mutating func removeValue(forKey t: SIPTimer) -> EventID? {
        let v = self[t]
        self[t] = nil
        return v
    }

    /// Every pending event, in the order of `SIPTimer.allCases` (field by field: `allCases` is
    /// an array built on every call, three a failover call).
    func forEach(_ body: (EventID) -> Void) {
        if let a { body(a) }; if let b { body(b) }; if let d { body(d) }; if let e { body(e) }; if let f { body(f) }
        if let k { body(k) }; if let g { body(g) }; if let h { body(h) }; if let i { body(i) }; if let j { body(j) }
    }
}
