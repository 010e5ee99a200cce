import SimCore
import SIP
import Trace

/// A server transaction (or a UAS's 2xx retransmission) of a PBX or a carrier SIP server.
enum ServerMachine {
    case invite(InviteServerTransaction)
    case nonInvite(NonInviteServerTransaction)
    case twoXX(TwoXXRetransmission)
}

/// Who a server transaction works for, told when Timer H gives up.
enum ServerOwner {
    /// The UAS leg of a receiving PBX (by leg key).
    case pbxLeg(pbx: Int, leg: Int)
    /// A carrier SIP server (proxy or registrar).
    case server
}

/// What matches a request to its server transaction in the receiving node's stack (RFC 3261
/// §17.2.3): the top Via branch and the method (an ACK's is INVITE's). A value, not a built string.
struct ServerKey: Hashable {
    var branch: String
    var method: String
}

struct ServerTxnRecord {
    var machine: ServerMachine
    var owner: ServerOwner
    /// The key in `serverByKey` (nil for a 2xx retransmission, matched by its dialog instead).
    var key: ServerKey?
    var localIP: String
    var localPort: Int
    var replyTo: (ip: String, port: Int)
    var transport: Transport
    var callID: Int?
    var actor: String
    var timers = TimerSlots()
}

extension World {
    /// The key that matches a request to its server transaction (RFC 3261 §17.2.3): the host it
    /// arrived at, the top Via branch and the method, where an ACK matches its INVITE and a CANCEL
    /// has its own transaction beside the INVITE whose branch it shares.
    static func serverKey(branch: String, method: String) -> ServerKey {
        ServerKey(branch: branch, method: method == "ACK" ? "INVITE" : method)
    }

    /// Starts a server transaction for a request that arrived at `localIP:localPort` from `replyTo`.
    func startServerTxn(_ request: SIPMessage, owner: ServerOwner, localIP: String, localPort: Int, replyTo: (ip: String, port: Int),
                        transport: Transport, timers: TimerPolicy, call: Int?, actor: String) -> Int {
        let stack = stack(at: localIP)
        let id = stack.newID()
        let machine: ServerMachine = request.method == "INVITE"
            ? .invite(InviteServerTransaction(request: request, transport: transport, timers: timers))
            : .nonInvite(NonInviteServerTransaction(request: request, transport: transport, timers: timers))
        let key = World.serverKey(branch: request.branch ?? "", method: request.method ?? "")
        stack.servers[id] = ServerTxnRecord(machine: machine, owner: owner, key: key, localIP: localIP, localPort: localPort,
                                            replyTo: replyTo, transport: transport, callID: call, actor: actor)
        stack.serverByKey[key] = id
        return id
    }

    /// The server transaction a request belongs to, if any (a retransmission, or the ACK of a non-2xx).
    func serverTxn(for request: SIPMessage, at ip: String) -> Int? {
        guard let b = request.branch, let m = request.method else { return nil }
        return stackIndex[StringKey(ip)].flatMap { stacks[$0].serverByKey[World.serverKey(branch: b, method: m)] }
    }

    /// Starts the UAS core's retransmission of a 2xx it has just sent (§13.3.1.4).
    func startTwoXX(_ response: SIPMessage, owner: ServerOwner, localIP: String, replyTo: (ip: String, port: Int),
                    transport: Transport, timers: TimerPolicy, call: Int?, actor: String) -> Int {
        let id = stack(at: localIP).newID()
        let r = TwoXXRetransmission(response: response, timers: timers)
        serverTransactions[id] = ServerTxnRecord(machine: .twoXX(r), owner: owner, key: nil, localIP: localIP, localPort: 5060,
                                         replyTo: replyTo, transport: transport, callID: call, actor: actor)
        performServer(r.start(now: sim.now.ns), id: id)
        return id
    }

    /// The TU's response on a server transaction.
    func serverRespond(_ id: Int, _ r: SIPMessage) {
        serverInput(id) { m, now in
            switch m {
            case .invite(var x): let a = x.respond(r, now: now); m = .invite(x); return a
            case .nonInvite(var x): let a = x.respond(r, now: now); m = .nonInvite(x); return a
            case .twoXX: return []
            }
        }
    }

    /// A request that matched a server transaction.
    func serverReceive(_ id: Int, _ req: SIPMessage) {
        serverInput(id) { m, now in
            switch m {
            case .invite(var x): let a = x.receive(req, now: now); m = .invite(x); return a
            case .nonInvite(var x): let a = x.receive(req, now: now); m = .nonInvite(x); return a
            case .twoXX: return []
            }
        }
    }

    /// The ACK for a 2xx reached the UAS: its retransmission stops.
    func serverAck2xx(_ id: Int) {
        serverInput(id) { m, _ in
            guard case .twoXX(var x) = m else { return [] }
            let a = x.ackReceived(); m = .twoXX(x); return a
        }
    }

    func serverTimerFired(_ id: Int, _ timer: SIPTimer) {
        guard var t = serverTransactions[id] else { return }
        t.timers[timer] = nil
        serverTransactions[id] = t
        serverInput(id) { m, now in
            switch m {
            case .invite(var x): let a = x.timerFired(timer, now: now); m = .invite(x); return a
            case .nonInvite(var x): let a = x.timerFired(timer, now: now); m = .nonInvite(x); return a
            case .twoXX(var x): let a = x.timerFired(timer, now: now); m = .twoXX(x); return a
            }
        }
    }

    private func serverInput(_ id: Int, _ input: (inout ServerMachine, Int64) -> [ServerAction]) {
        guard var t = serverTransactions[id] else { return }
        let actions = input(&t.machine, sim.now.ns)
        serverTransactions[id] = t
        performServer(actions, id: id)
    }

    private func serverKindName(_ t: ServerTxnRecord) -> (String, String) {
        switch t.machine {
        case .invite(let x): return ("INVITE server", x.branch)
        case .nonInvite(let x): return ("\(x.method) server", x.branch)
        case .twoXX: return ("2xx retransmission", "")
        }
    }

    private func performServer(_ actions: [ServerAction], id: Int) {
        var finished = false
        for a in actions {
            guard var t = serverTransactions[id] else { return }
            switch a {
            case .send(let msg, let re):
                sendSIP(msg, from: t.localIP, srcPort: t.localPort, to: t.replyTo.ip, dstPort: t.replyTo.port, transport: t.transport,
                        call: t.callID, retransmission: re)
            case .startTimer(let timer, let at):
                if let old = t.timers[timer] { sim.cancel(old) }
                t.timers[timer] = sim.schedule(.serverTimer(id: id, timer: timer), at: SimTime(ns: max(at, sim.now.ns)))
                serverTransactions[id] = t
            case .cancelTimer(let timer):
                if let old = t.timers.removeValue(forKey: timer) { sim.cancel(old); serverTransactions[id] = t }
            case .stateChanged(let from, let to):
                let (kind, branch) = serverKindName(t)
                step(.txnState, t.actor, "\(kind) \(branch): \(from) -> \(to)", call: t.callID,
                     fields: [StepField("transaction", kind), StepField("branch", branch), StepField("from", from), StepField("to", to)])
                if to == "terminated" { finished = true }
            case .timedOut(let timer):
                step(.timerFired, t.actor, "Timer \(timer.rawValue): no ACK within 64·T1 (\(SimTime(ns: 64 * timersOf(t).t1).durationString))", call: t.callID,
                     fields: [StepField("timer", timer.rawValue)])
                if case .twoXX = t.machine { finished = true; serverGaveUp2xx(t) }
            }
        }
        if finished, let t = serverTransactions.removeValue(forKey: id) {
            t.timers.forEach { sim.cancel($0) }
            let stack = stacks[SIPStack.stackIndex(of: id)]
            if let k = t.key, stack.serverByKey[k] == id { stack.serverByKey[k] = nil }
        }
        if case .twoXX(let x)? = serverTransactions[id]?.machine, x.acked { serverTransactions[id] = nil }
    }

    private func timersOf(_ t: ServerTxnRecord) -> TimerPolicy {
        switch t.machine {
        case .invite(let x): return x.timers
        case .nonInvite(let x): return x.timers
        case .twoXX(let x): return x.timers
        }
    }

    /// No ACK came for a 2xx within 64·T1: the UAS ends the session (§13.3.1.4).
    private func serverGaveUp2xx(_ t: ServerTxnRecord) {
        if case .pbxLeg(let p, let leg) = t.owner { pbxs[p].uas.noAck(leg: leg, uasContext(p)) }
    }
}
