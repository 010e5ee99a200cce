import SimCore
import SIP
import Trace

/// What the answering side of a PBX's V-SIPGW card may ask of whoever runs it (issue 9 item 2):
/// the PBX's SIP stack (server transactions, the 2xx retransmission, a client transaction for its
/// BYE), timers for its legs, the calls the same PBX placed (a BYE can end one of them), and the
/// trace.
protocol CardUASContext: AnyObject {
    func newTag() -> String
    func newBranch() -> String
    /// RFC 3261 §17.2.3: a retransmission or the ACK of a non-2xx goes to its server transaction.
    func matchServerTransaction(_ request: SIPMessage) -> Bool
    func startServerTransaction(_ request: SIPMessage, leg: Int, localPort: Int, replyTo: (ip: String, port: Int),
                                transport: Transport, call: Int?) -> Int
    func respond(_ txn: Int, _ response: SIPMessage)
    /// Starts the UAS core's retransmission of a 2xx until the ACK (§13.3.1.4); its id.
    func startTwoXX(_ response: SIPMessage, leg: Int, replyTo: (ip: String, port: Int), transport: Transport, call: Int?) -> Int
    /// The ACK for the 2xx came (or the dialog ended): its retransmission stops.
    func stopTwoXX(_ id: Int)
    func sendRetransmission(_ message: SIPMessage, to: (ip: String, port: Int), transport: Transport, call: Int?)
    /// The called side's BYE, a non-INVITE client transaction.
    func sendBye(_ bye: SIPMessage, to ip: String, port: Int, transport: Transport, call: Int?)
    func scheduleAnswer(leg: Int, after delay: SimTime) -> EventID
    func scheduleRingTimeout(leg: Int, after delay: SimTime) -> EventID
    func scheduleCollect(leg: Int, after delay: SimTime)
    func cancel(_ id: EventID)
    /// Whether `call` is a call this PBX placed, answered and still in progress.
    func isAnsweredCallPlacedHere(_ call: Int?) -> Bool
    /// The far end of such a call hung up (its BYE was answered): the caller's side ends it.
    func farEndHungUp(call: Int)
    /// The trace's name of the party that answered a call.
    func answered(call: Int?, by party: String)
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField])
}

/// The far end of a SIP call at a receiving PBX (UAS side).
struct IncomingLeg {
    var callID: Int?
    var ext: String?
    var invite: SIPMessage
    var replyTo: (ip: String, port: Int)
    var transport: Transport
    var toTag: String
    var lastResponse: SIPMessage?
    var answerEvent: EventID?
    var noAnswerEvent: EventID?
    var done = false
    /// Its INVITE server transaction.
    var serverTxn: Int?
    /// The UAS core's 2xx retransmission, until the ACK.
    var twoXX: Int?
    /// Its SIP Call-ID (its key on the wire at this PBX).
    var sipCallID: String
}

/// The answering side of a PBX's V-SIPGW card (a node): INVITEs for its extensions through the
/// DID map, ringing, answer after the extension's delay or 480 after the ring timeout, 486 when
/// busy, 404 when absent; CANCEL (487), BYE from either end, the ACK that stops a 2xx, the BYE it
/// sends itself when no ACK comes (§13.3.1.4) or its extension hangs up. It owns its legs (by id,
/// by Call-ID, by call) and works on its PBX's extensions.
final class CardUAS {
    /// Its PBX, which owns it (`PBXState.uas`): a strong reference here made a cycle that kept
    /// every PBX whose card answered a call, and its records, to the end of the process.
    unowned let pbx: PBXState
    private var legs: [Int: IncomingLeg] = [:]
    private var bySIPCallID: [String: Int] = [:]
    private var byCall: [Int: [Int]] = [:]
    private var counter = 0

    /// How long an unanswered extension rings before 480.
    let ringTimeout: SimTime

    init(pbx: PBXState, ringTimeout: SimTime) { self.pbx = pbx; self.ringTimeout = ringTimeout }

    private var actor: String { pbx.cardActor }

    private func add(_ leg: IncomingLeg) -> Int {
        counter += 1
        legs[counter] = leg
        bySIPCallID[leg.sipCallID] = counter
        if let c = leg.callID { byCall[c, default: []].append(counter) }
        return counter
    }

    @discardableResult
    private func drop(_ id: Int) -> IncomingLeg? {
        guard let leg = legs.removeValue(forKey: id) else { return nil }
        if bySIPCallID[leg.sipCallID] == id { bySIPCallID[leg.sipCallID] = nil }
        if let c = leg.callID, var ids = byCall[c] {
            ids.removeAll { $0 == id }
            byCall[c] = ids.isEmpty ? nil : ids
        }
        return leg
    }

    /// The legs in progress (for the status of a run).
    var legCount: Int { legs.count }

    /// A request arriving at the PBX: INVITEs for its extensions, their ACK and CANCEL, and BYE
    /// from either end of a dialog. Every request gets its RFC 3261 server transaction (§17.2):
    /// retransmissions get the last response again, a non-2xx final is retransmitted on Timer G
    /// until its ACK (Timer H bounds the wait, Timer I absorbs ACK copies), BYE and CANCEL keep
    /// their 200 for Timer J. `call` is the packet's trace correlation.
    func receive(_ req: SIPMessage, from replyTo: (ip: String, port: Int), localPort: Int, transport: Transport, call: Int?,
                 _ ctx: CardUASContext) {
        guard let method = req.method, let sipCall = req.callID else { return }
        let legID = bySIPCallID[sipCall]
        if ctx.matchServerTransaction(req) { return }
        func newServerTxn(leg: Int?) -> Int {
            ctx.startServerTransaction(req, leg: leg ?? 0, localPort: localPort, replyTo: replyTo, transport: transport, call: call)
        }
        switch method {
        case "INVITE":
            if let id = legID, let leg = legs[id] {
                // The same call through another proxy (a new branch after a failover upstream):
                // answer it as the leg stands.
                if let last = leg.lastResponse { ctx.sendRetransmission(last, to: replyTo, transport: transport, call: call) }
                legs[id]?.replyTo = replyTo
                return
            }
            let id = add(IncomingLeg(callID: call, ext: nil, invite: req, replyTo: replyTo, transport: transport, toTag: ctx.newTag(), sipCallID: sipCall))
            legs[id]?.serverTxn = newServerTxn(leg: id)
            ring(id, req, call: call, ctx)
        case "ACK":
            // The ACK for our 2xx (a new transaction, end to end): the 2xx retransmission stops.
            if let id = legID, let t = legs[id]?.twoXX {
                ctx.stopTwoXX(t)
                legs[id]?.twoXX = nil
            }
        case "BYE":
            let t = newServerTxn(leg: legID)
            if var leg = legID.flatMap({ drop($0) }) {
                // The caller hung up a call this PBX answered.
                ctx.respond(t, req.response(200))
                if let x = leg.twoXX { ctx.stopTwoXX(x); leg.twoXX = nil }
                if let e = leg.ext, let x = pbx.extensions[e] {
                    x.activity = .idle
                    ctx.record(.callEnded, "\(pbx.name)/\(e)", "BYE received: far end released", call: call,
                               [StepField("side", "callee"), StepField("event", "bye-received")])
                }
            } else if let c = call, ctx.isAnsweredCallPlacedHere(c) {
                // The called side hung up a call this PBX placed.
                ctx.respond(t, req.response(200))
                ctx.farEndHungUp(call: c)
            } else {
                ctx.respond(t, req.response(481, reason: "Call/Transaction Does Not Exist"))
            }
        case "CANCEL":
            let t = newServerTxn(leg: legID)
            ctx.respond(t, req.response(200))
            if let lid = legID, let leg = legs[lid], !leg.done {
                if let a = leg.answerEvent { ctx.cancel(a) }
                if let a = leg.noAnswerEvent { ctx.cancel(a) }
                if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
                respond(lid, code: 487, ctx)
            }
        default:
            let t = newServerTxn(leg: legID)
            ctx.respond(t, req.response(405, reason: "Method Not Allowed"))
        }
    }

    /// A new INVITE: the DID map, then the extension rings (or the call is refused).
    private func ring(_ id: Int, _ req: SIPMessage, call: Int?, _ ctx: CardUASContext) {
        let user = SIPMessage.user(ofURI: req.requestURI ?? "") ?? ""
        func final(_ code: Int, _ why: String) {
            ctx.record(.callRejected, actor, "\(ReasonPhrase.status(code)): \(why)", call: call, [StepField("code", code), StepField("reason", why)])
            respond(id, code: code, ctx)
        }
        guard let extNo = pbx.didMap(user) else {
            final(404, "no extension for \(user)")
            return
        }
        ctx.record(.didMapped, actor, "Request-URI \(user) -> extension \(extNo)", call: call, [StepField("number", user), StepField("extension", extNo), StepField("via", "request-uri")])
        guard let ext = pbx.extensions[extNo] else { final(404, "no extension \(extNo)"); return }
        legs[id]?.ext = extNo
        if ext.mode == .absent { final(404, "extension \(extNo) absent"); return }
        if !ext.isFree {
            ctx.record(.extensionBusy, "\(pbx.name)/\(extNo)", "busy", call: call, [StepField("party", "\(pbx.name)/\(extNo)")])
            final(486, "extension \(extNo) busy")
            return
        }
        ext.activity = .ringing(call: call ?? 0)
        ctx.record(.extensionRinging, "\(pbx.name)/\(extNo)", "ringing", call: call, [StepField("party", "\(pbx.name)/\(extNo)")])
        if ext.mode == .unanswered {
            legs[id]?.noAnswerEvent = ctx.scheduleRingTimeout(leg: id, after: ringTimeout)
        } else {
            legs[id]?.answerEvent = ctx.scheduleAnswer(leg: id, after: ext.answerAfter.draw(&pbx.ringRNG))
        }
        respond(id, code: 180, extraHeaders: [("Contact", "<sip:\(user)@\(hostPort(pbx.ip, 5060))>")], ctx)
    }

    /// The leg answers its INVITE with `code` through its server transaction. A final ends the
    /// leg (kept 32 s for late requests); a 2xx starts the UAS core's 2xx retransmission.
    private func respond(_ id: Int, code: Int, extraHeaders: [(name: String, value: String)] = [], body: String = "", _ ctx: CardUASContext) {
        guard var leg = legs[id], let txn = leg.serverTxn else { return }
        let r = leg.invite.response(code, toTag: leg.toTag, extraHeaders: extraHeaders, body: body)
        leg.lastResponse = r
        if code >= 200 { leg.done = true; leg.answerEvent = nil; leg.noAnswerEvent = nil }
        legs[id] = leg
        ctx.respond(txn, r)
        if code >= 200 && code < 300 {
            legs[id]?.twoXX = ctx.startTwoXX(r, leg: id, replyTo: leg.replyTo, transport: leg.transport, call: leg.callID)
        }
        if code >= 300 { ctx.scheduleCollect(leg: id, after: .seconds(32)) }
    }

    /// The extension answers: 200 with an SDP answer.
    func answer(leg id: Int, _ ctx: CardUASContext) {
        guard let leg = legs[id], !leg.done, let extNo = leg.ext else { return }
        pbx.extensions[extNo]?.activity = .talking(call: leg.callID ?? 0)
        let user = SIPMessage.user(ofURI: leg.invite.requestURI ?? "") ?? extNo
        let sdp = "v=0\r\no=pbxsim 2 2 IN \(sdpAddress(pbx.ip))\r\ns=pbxsim\r\nc=IN \(sdpAddress(pbx.ip))\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        ctx.answered(call: leg.callID, by: "\(pbx.name)/\(extNo)")
        ctx.record(.extensionAnswered, "\(pbx.name)/\(extNo)", "answers: 200 OK", call: leg.callID, [StepField("party", "\(pbx.name)/\(extNo)")])
        respond(id, code: 200, extraHeaders: [("Contact", "<sip:\(user)@\(hostPort(pbx.ip, 5060))>"), ("Content-Type", "application/sdp")], body: sdp, ctx)
    }

    /// The extension rang out its ring timeout: 480.
    func ringTimedOut(leg id: Int, _ ctx: CardUASContext) {
        guard let leg = legs[id], !leg.done else { return }
        if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
        ctx.record(.callRejected, actor, "480: extension did not answer", call: leg.callID, [StepField("code", 480), StepField("reason", "ring timeout")])
        respond(id, code: 480, ctx)
    }

    /// A finished leg is forgotten, unless it is still talking or retransmitting its 2xx.
    func collect(leg id: Int) {
        if let leg = legs[id], leg.twoXX == nil, leg.lastResponse?.statusCode ?? 0 >= 300 { drop(id) }
    }

    /// §13.3.1.4: the 2xx was retransmitted for 64·T1 and no ACK came. The dialog is confirmed
    /// but the session ends: the UAS sends BYE to the caller and the extension is free again.
    func noAck(leg id: Int, _ ctx: CardUASContext) {
        guard var leg = drop(id) else { return }
        leg.twoXX = nil
        if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
        ctx.record(.callEnded, leg.ext.map { "\(pbx.name)/\($0)" } ?? actor,
                   "no ACK for the 200 OK within 64·T1: the called side hangs up with BYE (RFC 3261 §13.3.1.4)", call: leg.callID,
                   [StepField("side", "callee"), StepField("event", "no-ack")])
        sendBye(leg, ctx)
    }

    /// The extension of an answered call hangs up (`hangup N callee`): BYE to the caller. False
    /// when this PBX holds no answered leg of the call.
    func hangUp(call: Int, _ ctx: CardUASContext) -> Bool {
        guard let id = byCall[call]?.first(where: { legs[$0]?.done == true }), let leg = drop(id) else { return false }
        if let t = leg.twoXX { ctx.stopTwoXX(t) }
        if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
        ctx.record(.callEnded, leg.ext.map { "\(pbx.name)/\($0)" } ?? pbx.name, "the called side hangs up: BYE", call: call,
                   [StepField("side", "callee"), StepField("event", "hangup")])
        sendBye(leg, ctx)
        return true
    }

    /// The called side's BYE (a non-INVITE client transaction with Timers E and F), to the
    /// caller's Contact over the transport its URI names.
    private func sendBye(_ leg: IncomingLeg, _ ctx: CardUASContext) {
        let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: leg.invite.header("Contact") ?? ""))
        let bye = leg.invite.uasDialogRequest("BYE", toTag: leg.toTag, branch: ctx.newBranch(), cseq: 1, transport: transport,
                                              localHostPort: hostPort(pbx.ip, 5060))
        ctx.sendBye(bye, to: ip, port: port, transport: transport, call: leg.callID)
    }
}
