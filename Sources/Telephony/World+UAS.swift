import SimCore
import SIP
import Trace

extension World {
    // MARK: - Receiving PBX (V-SIPGW as UAS)

    /// The SIP timers of a PBX: its card's, else RFC 3261's defaults.
    func pbxTimers(_ pi: Int) -> TimerPolicy { pbxs[pi].card?.config.timers ?? .rfcDefault }

    /// A request arriving at a PBX: INVITEs for its extensions (the UAS side of a call), their
    /// ACK and CANCEL, and BYE from either end of a dialog. Every request gets its RFC 3261 server
    /// transaction (§17.2): retransmissions get the last response again, a non-2xx final is
    /// retransmitted on Timer G until its ACK (Timer H bounds the wait, Timer I absorbs ACK copies),
    /// BYE and CANCEL keep their 200 for Timer J. A 2xx is retransmitted by the UAS core until the
    /// ACK (§13.3.1.4).
    func pbxReceiveRequest(_ pi: Int, _ req: SIPMessage, from p: Packet, transport: Transport) {
        let pbx = pbxs[pi]
        let actor = "\(pbx.name)/V-SIPGW"
        guard let method = req.method, let sipCall = req.callID else { return }
        // The call its steps belong to: the packet's trace correlation, not the caller's state.
        let call = p.traceCall
        let legKey = LegKey(pbx: pi, sipCallID: sipCall)
        let legID = legIndex[legKey]
        let replyTo = (ip: p.srcIP, port: p.srcPort)
        // A retransmission, or the ACK of a non-2xx final: the transaction answers or absorbs it.
        if let id = serverTxn(for: req, at: pbx.ip) {
            serverReceive(id, req)
            return
        }
        func newServerTxn(leg: Int?) -> Int {
            startServerTxn(req, owner: .pbxLeg(leg ?? 0), localIP: pbx.ip, localPort: p.dstPort, replyTo: replyTo,
                           transport: transport, timers: pbxTimers(pi), call: call, actor: actor)
        }
        switch method {
        case "INVITE":
            if let id = legID, let leg = legs[id] {
                // The same call through another proxy (a new branch after a failover upstream):
                // answer it as the leg stands.
                if let last = leg.lastResponse {
                    sendSIP(last, from: pbx.ip, to: replyTo.ip, dstPort: replyTo.port, transport: transport, call: call, retransmission: true)
                }
                legs[id]?.replyTo = replyTo
                return
            }
            let id = addLeg(IncomingLeg(callID: call, pbx: pi, ext: nil, invite: req, replyTo: replyTo, transport: transport, toTag: newTag()), key: legKey)
            legs[id]?.serverTxn = newServerTxn(leg: id)
            let user = SIPMessage.user(ofURI: req.requestURI ?? "") ?? ""
            func final(_ code: Int, _ why: String) {
                step(.callRejected, actor, "\(code) \(ReasonPhrase.for(code)): \(why)", call: call, fields: [StepField("code", code), StepField("reason", why)])
                legRespond(id, code: code)
            }
            guard let extNo = didMap(pbx: pi, user) else {
                final(404, "no extension for \(user)")
                return
            }
            step(.didMapped, actor, "Request-URI \(user) -> extension \(extNo)", call: call, fields: [StepField("number", user), StepField("extension", extNo)])
            guard let ext = pbx.extensions[extNo] else { final(404, "no extension \(extNo)"); return }
            legs[id]?.ext = extNo
            if ext.mode == .absent { final(404, "extension \(extNo) absent"); return }
            if !ext.isFree {
                step(.extensionBusy, "\(pbx.name)/\(extNo)", "busy", call: call, fields: [StepField("party", "\(pbx.name)/\(extNo)")])
                final(486, "extension \(extNo) busy")
                return
            }
            ext.activity = .ringing(call: call ?? 0)
            step(.extensionRinging, "\(pbx.name)/\(extNo)", "ringing", call: call, fields: [StepField("party", "\(pbx.name)/\(extNo)")])
            if ext.mode == .unanswered {
                legs[id]?.noAnswerEvent = sim.schedule(.legNoAnswer(leg: id), after: config.defaults.ringTimeout)
            } else {
                legs[id]?.answerEvent = sim.schedule(.answer(leg: id), after: ext.answerAfter.draw(&pbx.ringRNG))
            }
            legRespond(id, code: 180, extraHeaders: [("Contact", "<sip:\(user)@\(hostPort(pbx.ip, 5060))>")])
        case "ACK":
            // The ACK for our 2xx (a new transaction, end to end): the 2xx retransmission stops.
            if let id = legID, let t = legs[id]?.twoXX {
                serverAck2xx(t)
                legs[id]?.twoXX = nil
            }
        case "BYE":
            let id = newServerTxn(leg: legID)
            if var leg = legID.flatMap({ dropLeg($0) }) {
                // The caller hung up a call this PBX answered.
                serverRespond(id, req.response(200))
                if let t = leg.twoXX { serverAck2xx(t); leg.twoXX = nil }
                if let e = leg.ext, let x = pbx.extensions[e] {
                    x.activity = .idle
                    step(.callEnded, "\(pbx.name)/\(e)", "BYE received: far end released", call: call, fields: [StepField("side", "callee"), StepField("event", "bye-received")])
                }
            } else if let c = call.flatMap({ calls[$0] }), c.pbx == pi, c.answeredAt != nil, !c.recorded {
                // The called side hung up a call this PBX placed.
                serverRespond(id, req.response(200))
                step(.callEnded, "\(pbx.name)/\(c.callerExt)", "BYE received: the called side hung up", call: c.id, fields: [StepField("side", "caller"), StepField("event", "bye-received")])
                c.releasedBy = "callee"
                finish(c, outcome: .answered, keepOpen: false)
            } else {
                serverRespond(id, req.response(481, reason: "Call/Transaction Does Not Exist"))
            }
        case "CANCEL":
            let id = newServerTxn(leg: legID)
            serverRespond(id, req.response(200))
            if let lid = legID, let leg = legs[lid], !leg.done {
                if let a = leg.answerEvent { sim.cancel(a) }
                if let a = leg.noAnswerEvent { sim.cancel(a) }
                if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
                legRespond(lid, code: 487)
            }
        default:
            let id = newServerTxn(leg: legID)
            serverRespond(id, req.response(405, reason: "Method Not Allowed"))
        }
    }

    /// The UAS leg answers its INVITE with `code` through its server transaction. A final ends the
    /// leg (kept 32 s for late requests); a 2xx starts the UAS core's 2xx retransmission.
    func legRespond(_ key: Int, code: Int, extraHeaders: [(name: String, value: String)] = [], body: String = "") {
        guard var leg = legs[key], let txn = leg.serverTxn else { return }
        let r = leg.invite.response(code, toTag: leg.toTag, extraHeaders: extraHeaders, body: body)
        leg.lastResponse = r
        if code >= 200 { leg.done = true; leg.answerEvent = nil; leg.noAnswerEvent = nil }
        legs[key] = leg
        serverRespond(txn, r)
        if code >= 200 && code < 300 {
            let pbx = pbxs[leg.pbx]
            legs[key]?.twoXX = startTwoXX(r, owner: .pbxLeg(key), localIP: pbx.ip, replyTo: leg.replyTo, transport: leg.transport,
                                          timers: pbxTimers(leg.pbx), call: leg.callID, actor: "\(pbx.name)/V-SIPGW")
        }
        if code >= 300 { sim.schedule(.legCollect(leg: key), after: .seconds(32)) }
    }

    /// The called party of a public-network call answers: a subscriber line, or an extension
    /// behind a PBX's public trunk.
    func pstnAnswer(call id: Int) {
        guard let call = calls[id] else { return }
        if publicNetwork.holdsLine(id) {
            publicNetwork.lineAnswers(call: id, publicNetworkContext)
            return
        }
        guard let dp = call.destPBX, let extNo = pbxs[dp].callee[id]?.ext, let ext = pbxs[dp].extensions[extNo] else { return }
        ext.activity = .talking(call: id)
        call.answeredBy = "\(pbxs[dp].name)/\(extNo)"
        step(.extensionAnswered, "\(pbxs[dp].name)/\(extNo)", "answers", call: id, fields: [StepField("party", "\(pbxs[dp].name)/\(extNo)")])
        pstnSchedule(call, .connect, after: publicNetwork.delay(of: id))
    }

    /// The called party of a public-network call rang out the ring timeout.
    func pstnRingTimeout(call id: Int) {
        guard let call = calls[id] else { return }
        let dp = call.destPBX ?? call.pbx
        step(.callRejected, pbxs[dp].callee[id]?.ext.map { "\(pbxs[dp].name)/\($0)" } ?? "PSTN",
             "not answered within \(config.defaults.ringTimeout.durationString)", call: id,
             fields: [StepField("reason", "ring timeout"), StepField("timeout_ns", config.defaults.ringTimeout.ns)])
        end(call, outcome: .noAnswer, detail: "ring timeout")
    }

    /// A finished leg is forgotten, unless it is still talking or retransmitting its 2xx.
    func legCollect(_ key: Int) {
        if let leg = legs[key], leg.twoXX == nil, leg.lastResponse?.statusCode ?? 0 >= 300 { dropLeg(key) }
    }

    func legAnswer(_ key: Int) {
        guard let leg = legs[key], !leg.done, let extNo = leg.ext else { return }
        let pbx = pbxs[leg.pbx]
        pbx.extensions[extNo]?.activity = .talking(call: leg.callID ?? 0)
        let user = SIPMessage.user(ofURI: leg.invite.requestURI ?? "") ?? extNo
        let sdp = "v=0\r\no=pbxsim 2 2 IN \(sdpAddress(pbx.ip))\r\ns=pbxsim\r\nc=IN \(sdpAddress(pbx.ip))\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        if let id = leg.callID, let call = calls[id] { call.answeredBy = "\(pbx.name)/\(extNo)" }
        step(.extensionAnswered, "\(pbx.name)/\(extNo)", "answers: 200 OK", call: leg.callID, fields: [StepField("party", "\(pbx.name)/\(extNo)")])
        legRespond(key, code: 200, extraHeaders: [("Contact", "<sip:\(user)@\(hostPort(pbx.ip, 5060))>"), ("Content-Type", "application/sdp")], body: sdp)
    }

    func legNoAnswer(_ key: Int) {
        guard let leg = legs[key], !leg.done else { return }
        if let e = leg.ext { pbxs[leg.pbx].extensions[e]?.activity = .idle }
        step(.callRejected, "\(pbxs[leg.pbx].name)/V-SIPGW", "480: extension did not answer", call: leg.callID, fields: [StepField("code", 480), StepField("reason", "ring timeout")])
        legRespond(key, code: 480)
    }

    /// §13.3.1.4: the 2xx was retransmitted for 64·T1 and no ACK came. The dialog is confirmed
    /// but the session ends: the UAS sends BYE to the caller and the extension is free again.
    func uasNoAck(_ key: Int) {
        guard var leg = dropLeg(key) else { return }
        leg.twoXX = nil
        let pbx = pbxs[leg.pbx]
        let actor = "\(pbx.name)/V-SIPGW"
        if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
        step(.callEnded, leg.ext.map { "\(pbx.name)/\($0)" } ?? actor,
             "no ACK for the 200 OK within 64·T1: the called side hangs up with BYE (RFC 3261 §13.3.1.4)", call: leg.callID,
             fields: [StepField("side", "callee"), StepField("event", "no-ack")])
        sendUASBye(leg)
    }

    /// The called side's BYE (a non-INVITE client transaction with Timers E and F), to the
    /// caller's Contact over the transport its URI names.
    func sendUASBye(_ leg: IncomingLeg) {
        let pbx = pbxs[leg.pbx]
        let (ip, port, transport) = SIPMessage.target(ofURI: SIPMessage.uri(in: leg.invite.header("Contact") ?? ""))
        let bye = leg.invite.uasDialogRequest("BYE", toTag: leg.toTag, branch: newBranch(), cseq: 1, transport: transport,
                                              localHostPort: hostPort(pbx.ip, 5060))
        startTransaction(bye, owner: .uasBye, from: pbx.ip, to: ip, port: port, transport: transport,
                         timers: pbxTimers(leg.pbx), call: leg.callID, actor: "\(pbx.name)/V-SIPGW")
    }
}

/// A UAS leg's key on the wire: the PBX it reached and the SIP Call-ID.
struct LegKey: Hashable {
    var pbx: Int
    var sipCallID: String
}

extension World {
    /// Adds a UAS leg; its id (what its events and server transactions carry).
    func addLeg(_ leg: IncomingLeg, key: LegKey) -> Int {
        legCounter += 1
        var leg = leg
        leg.key = key
        legs[legCounter] = leg
        legIndex[key] = legCounter
        if let c = leg.callID { legsByCall[c, default: []].append(legCounter) }
        return legCounter
    }

    /// Removes a UAS leg from every index; the leg as it was.
    @discardableResult
    func dropLeg(_ id: Int) -> IncomingLeg? {
        guard let leg = legs.removeValue(forKey: id) else { return nil }
        if let k = leg.key, legIndex[k] == id { legIndex[k] = nil }
        if let c = leg.callID, var ids = legsByCall[c] {
            ids.removeAll { $0 == id }
            legsByCall[c] = ids.isEmpty ? nil : ids
        }
        return leg
    }
}
