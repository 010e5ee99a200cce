import SimCore
import SIP
import Trace

extension World {
    // MARK: - Carrier SIP server: registrar and stateful proxy

    func serverReceive(_ si: Int, _ req: SIPMessage, from p: Packet, transport: Transport) {
        let s = sipServers[si]
        let actor = network.name(ofIP: s.ip)
        let call = req.callID.flatMap { sipCallToCall[$0] }
        let replyTo = (ip: p.srcIP, port: p.srcPort)
        guard let method = req.method, let branch = req.branch else { return }
        let key = method == "CANCEL" ? "CANCEL " + branch : branch
        if method == "ACK" {
            // ACK for a non-2xx we relayed: hop by hop, absorbed here (the downstream transaction
            // ACKed on its own).
            return
        }
        if let st = s.serverTxns[key] {
            // A retransmission: answer with the last response, if any.
            if let last = st.lastResponse {
                sendSIP(last, from: s.ip, srcPort: st.localPort, to: st.replyTo.ip, dstPort: st.replyTo.port, transport: transport, call: call, retransmission: true)
            }
            return
        }
        var st = ServerTxn(lastResponse: nil, replyTo: replyTo, localPort: p.dstPort, downstream: nil, transport: transport, callID: call)
        s.serverTxns[key] = st
        sim.schedule(.serverTxnExpiry(server: si, branch: key), after: .seconds(64))
        func reply(_ r: SIPMessage) {
            st.lastResponse = r
            s.serverTxns[key] = st
            sendSIP(r, from: s.ip, srcPort: p.dstPort, to: replyTo.ip, dstPort: replyTo.port, transport: transport, call: call, retransmission: false)
        }
        if let mode = s.respond, method != "CANCEL" {
            if mode.code == 100 {
                step(.proxy, actor, "\(method): answers 100 Trying only (fault injected)", call: call)
                reply(req.response(100))
            } else {
                var extra: [(name: String, value: String)] = []
                if let ra = mode.retryAfter { extra.append(("Retry-After", String(ra.ns / 1_000_000_000))) }
                step(.proxy, actor, "\(method): answers \(mode.code) (fault injected)", call: call)
                reply(req.response(mode.code, toTag: newTag(), extraHeaders: extra))
            }
            return
        }
        switch method {
        case "REGISTER":
            let aorUser = SIPMessage.user(ofURI: SIPMessage.uri(in: req.header("To") ?? "")) ?? ""
            let contact = SIPMessage.uri(in: req.header("Contact") ?? "")
            let expires = Int(req.header("Expires") ?? "3600") ?? 3600
            let (cip, cport) = splitHostPort(SIPMessage.hostport(ofURI: contact))
            let domain = s.config.domain
            if expires == 0 {
                location[domain]?[aorUser] = nil
            } else {
                location[domain, default: [:]][aorUser] = Binding(contact: contact, ip: cip, port: cport,
                                                                   expires: sim.now + .seconds(Int64(expires)))
            }
            step(.registration, actor, "binding \(aorUser)@\(domain) -> \(contact) for \(expires)s", call: nil)
            reply(req.response(200, toTag: newTag(), extraHeaders: [("Contact", "<\(contact)>;expires=\(expires)"),
                                                                    ("Expires", String(expires))]))
        case "INVITE":
            reply(req.response(100))
            let user = SIPMessage.user(ofURI: req.requestURI ?? "") ?? ""
            let domain = s.config.domain
            guard let b = location[domain]?[user], b.expires > sim.now else {
                if s.config.pstnGateway, let c = call.flatMap({ calls[$0] }), let ti = telcoFor(nationalNumber: user) {
                    // Terminate on the public network through the number's telephone company.
                    step(.proxy, actor, "INVITE for \(user): not registered; terminated on the public network via \(telcos[ti].name)", call: call)
                    c.gateway = GatewayLeg(server: si, key: key)
                    c.sentDigits = user
                    c.pstnDelay = telcos[ti].switchingDelay
                    pstnSchedule(c, .arriveTelco(telco: ti, toll: true), after: telcos[ti].switchingDelay)
                    return
                }
                // Name the PBX whose number it is, so that a 404 from a missing registration is plain.
                if let owner = pbxs.first(where: { $0.card?.config.numbers.contains(user) == true }) {
                    step(.proxy, actor, "INVITE for \(user): \(owner.name) is not registered with \(domain): 404", call: call)
                } else {
                    step(.proxy, actor, "INVITE for \(user): no registration for it in \(domain): 404", call: call)
                }
                reply(req.response(404, toTag: newTag()))
                return
            }
            var fwd = req
            fwd.startLine = .request(method: "INVITE", uri: b.contact)
            let mf = Int(req.header("Max-Forwards") ?? "70") ?? 70
            if mf <= 1 { reply(req.response(483, reason: "Too Many Hops", toTag: newTag())); return }
            fwd.setHeader("Max-Forwards", String(mf - 1))
            let down = newBranch()
            fwd.pushVia(SIPMessage.via(transport: .udp, sentBy: hostPort(s.ip, 5060), branch: down))
            step(.proxy, actor, "INVITE for \(user)@\(domain) forwarded to \(b.contact)", call: call)
            let id = startTransaction(fwd, owner: .proxyInvite(server: si, upstreamBranch: branch), from: s.ip, to: b.ip,
                                      port: b.port, transport: .udp, timers: .rfcDefault, call: call, actor: actor)
            st = s.serverTxns[key] ?? st
            st.downstream = id
            s.serverTxns[key] = st
        case "CANCEL":
            reply(req.response(200))
            if let inv = s.serverTxns[branch], let down = inv.downstream, let t = transactions[down],
               case .invite(let x) = t.machine, x.state == .proceeding {
                var c = x.request
                c.startLine = .request(method: "CANCEL", uri: x.request.requestURI ?? "")
                c.setHeader("CSeq", "\(x.request.cseq?.number ?? 1) CANCEL")
                c.body = ""
                c.removeHeaders("Content-Type")
                startTransaction(c, owner: .proxyCancel, from: s.ip, to: t.remoteIP, port: t.remotePort,
                                 transport: .udp, timers: .rfcDefault, call: call, actor: actor)
            }
        case "BYE" where call.flatMap({ calls[$0] })?.gatewayAnswered == true:
            // The caller hangs up a call this server terminated on the public network.
            step(.proxy, actor, "BYE: releases the public-network leg", call: call)
            reply(req.response(200))
        default:
            // BYE and others within a dialog go end to end (no Record-Route); answer 481 here.
            reply(req.response(481, toTag: newTag()))
        }
    }

    /// A response from downstream for a proxied INVITE: relay it upstream without our Via.
    func proxyResponse(server si: Int, upstream: String, _ r: SIPMessage) {
        let s = sipServers[si]
        guard var st = s.serverTxns[upstream] else { return }
        var up = r
        up.popVia()
        if r.statusCode == 100 { return } // hop by hop: we already sent our own 100
        st.lastResponse = up
        s.serverTxns[upstream] = st
        sendSIP(up, from: s.ip, srcPort: st.localPort, to: st.replyTo.ip, dstPort: st.replyTo.port, transport: st.transport, call: st.callID, retransmission: false)
    }

    func proxyDownstreamFailed(server si: Int, upstream: String, code: Int) {
        let s = sipServers[si]
        guard var st = s.serverTxns[upstream], let down = st.downstream, let t = transactions[down] else { return }
        guard case .invite(let x) = t.machine else { return }
        let r = x.request.response(code, toTag: newTag())
        var up = r
        up.popVia()
        st.lastResponse = up
        s.serverTxns[upstream] = st
        step(.proxy, network.name(ofIP: s.ip), "downstream \(t.remoteIP) failed: \(code) upstream", call: st.callID)
        sendSIP(up, from: s.ip, srcPort: st.localPort, to: st.replyTo.ip, dstPort: st.replyTo.port, transport: st.transport, call: st.callID, retransmission: false)
    }

    // MARK: - Receiving PBX (V-SIPGW as UAS)

    func pbxReceiveRequest(_ pi: Int, _ req: SIPMessage, from p: Packet, transport: Transport) {
        let pbx = pbxs[pi]
        let actor = "\(pbx.name)/V-SIPGW"
        guard let method = req.method, let sipCall = req.callID else { return }
        let call = sipCallToCall[sipCall]
        let legKey = "\(pi):\(sipCall)"
        let replyTo = (ip: p.srcIP, port: p.srcPort)
        func send(_ r: SIPMessage) {
            sendSIP(r, from: pbx.ip, to: replyTo.ip, dstPort: replyTo.port, transport: transport, call: call, retransmission: false)
        }
        switch method {
        case "INVITE":
            if var leg = legs[legKey] {
                if let last = leg.lastResponse {
                    sendSIP(last, from: pbx.ip, to: leg.replyTo.ip, dstPort: leg.replyTo.port, transport: leg.transport,
                            call: call, retransmission: true)
                }
                leg.replyTo = replyTo
                legs[legKey] = leg
                return
            }
            var leg = IncomingLeg(callID: call, pbx: pi, ext: nil, invite: req, replyTo: replyTo, transport: transport, toTag: newTag())
            let user = SIPMessage.user(ofURI: req.requestURI ?? "") ?? ""
            func final(_ code: Int, _ why: String) {
                let r = req.response(code, toTag: leg.toTag)
                leg.lastResponse = r
                leg.done = true
                legs[legKey] = leg
                step(.callRejected, actor, "\(code) \(ReasonPhrase.for(code)): \(why)", call: call)
                send(r)
                sim.schedule(.legNoAnswer(leg: "gc:" + legKey), after: .seconds(32))
            }
            guard let extNo = didMap(pbx: pi, user) else {
                final(404, "no extension for \(user)")
                return
            }
            step(.didMapped, actor, "Request-URI \(user) -> extension \(extNo)", call: call)
            guard let ext = pbx.extensions[extNo] else { final(404, "no extension \(extNo)"); return }
            leg.ext = extNo
            if ext.mode == .absent { final(404, "extension \(extNo) absent"); return }
            if !ext.isFree {
                step(.extensionBusy, "\(pbx.name)/\(extNo)", "busy", call: call)
                final(486, "extension \(extNo) busy")
                return
            }
            ext.activity = .ringing(call: call ?? 0)
            step(.extensionRinging, "\(pbx.name)/\(extNo)", "ringing", call: call)
            let ringing = req.response(180, toTag: leg.toTag, extraHeaders: [("Contact", "<sip:\(user)@\(hostPort(pbx.ip, 5060))>")])
            leg.lastResponse = ringing
            if ext.mode == .unanswered {
                leg.noAnswerEvent = sim.schedule(.legNoAnswer(leg: legKey), after: config.defaults.ringTimeout)
            } else {
                leg.answerEvent = sim.schedule(.answer(leg: legKey), after: ext.answerAfter.draw(&pbx.ringRNG))
            }
            legs[legKey] = leg
            send(ringing)
        case "ACK":
            return
        case "BYE":
            send(req.response(200))
            if let leg = legs.removeValue(forKey: legKey), let e = leg.ext, let x = pbx.extensions[e] {
                x.activity = .idle
                step(.callEnded, "\(pbx.name)/\(e)", "BYE received: far end released", call: call)
            }
        case "CANCEL":
            send(req.response(200))
            if var leg = legs[legKey], !leg.done {
                if let a = leg.answerEvent { sim.cancel(a) }
                if let a = leg.noAnswerEvent { sim.cancel(a) }
                leg.done = true
                if let e = leg.ext { pbx.extensions[e]?.activity = .idle }
                let r = leg.invite.response(487, toTag: leg.toTag)
                leg.lastResponse = r
                legs[legKey] = leg
                sendSIP(r, from: pbx.ip, to: leg.replyTo.ip, dstPort: leg.replyTo.port, transport: leg.transport, call: call, retransmission: false)
                sim.schedule(.legNoAnswer(leg: "gc:" + legKey), after: .seconds(32))
            }
        default:
            send(req.response(405, reason: "Method Not Allowed"))
        }
    }

    func legAnswer(_ key: String) {
        if key.hasPrefix("pstn:") {
            guard let id = Int(key.dropFirst(5)), let call = calls[id] else { return }
            if let sub = call.destSubscriber {
                call.answeredBy = "\(telcos[sub.telco].name)/\(sub.number)"
                step(.extensionAnswered, call.answeredBy!, "answers", call: id)
                pstnSchedule(call, .connect, after: call.pstnDelay)
                return
            }
            guard let dp = call.destPBX, let extNo = call.destExt, let ext = pbxs[dp].extensions[extNo] else { return }
            ext.activity = .talking(call: id)
            call.answeredBy = "\(pbxs[dp].name)/\(extNo)"
            step(.extensionAnswered, "\(pbxs[dp].name)/\(extNo)", "answers", call: id)
            pstnSchedule(call, .connect, after: call.pstnDelay)
            return
        }
        guard var leg = legs[key], !leg.done, let extNo = leg.ext else { return }
        let pbx = pbxs[leg.pbx]
        leg.answerEvent = nil
        leg.done = true
        pbx.extensions[extNo]?.activity = .talking(call: leg.callID ?? 0)
        let user = SIPMessage.user(ofURI: leg.invite.requestURI ?? "") ?? extNo
        let sdp = "v=0\r\no=pbxsim 2 2 IN \(sdpAddress(pbx.ip))\r\ns=pbxsim\r\nc=IN \(sdpAddress(pbx.ip))\r\nt=0 0\r\nm=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        let ok = leg.invite.response(200, toTag: leg.toTag, extraHeaders: [("Contact", "<sip:\(user)@\(hostPort(pbx.ip, 5060))>"),
                                                                            ("Content-Type", "application/sdp")], body: sdp)
        leg.lastResponse = ok
        legs[key] = leg
        if let id = leg.callID, let call = calls[id] { call.answeredBy = "\(pbx.name)/\(extNo)" }
        step(.extensionAnswered, "\(pbx.name)/\(extNo)", "answers: 200 OK", call: leg.callID)
        sendSIP(ok, from: pbx.ip, to: leg.replyTo.ip, dstPort: leg.replyTo.port, transport: leg.transport, call: leg.callID, retransmission: false)
    }

    func legNoAnswer(_ key: String) {
        if key.hasPrefix("gc:") { legs[String(key.dropFirst(3))] = nil; return }
        if key.hasPrefix("pstn:") {
            guard let id = Int(key.dropFirst(5)), let call = calls[id] else { return }
            step(.callRejected, call.destExt.map { "\(pbxs[call.destPBX ?? call.pbx].name)/\($0)" } ?? "PSTN",
                 "not answered within \(config.defaults.ringTimeout.durationString)", call: id)
            end(call, outcome: "no-answer", detail: "ring timeout")
            return
        }
        guard var leg = legs[key], !leg.done else { return }
        leg.done = true
        if let e = leg.ext { pbxs[leg.pbx].extensions[e]?.activity = .idle }
        let r = leg.invite.response(480, toTag: leg.toTag)
        leg.lastResponse = r
        legs[key] = leg
        step(.callRejected, "\(pbxs[leg.pbx].name)/V-SIPGW", "480: extension did not answer", call: leg.callID)
        sendSIP(r, from: pbxs[leg.pbx].ip, to: leg.replyTo.ip, dstPort: leg.replyTo.port, transport: leg.transport, call: leg.callID, retransmission: false)
        sim.schedule(.legNoAnswer(leg: "gc:" + key), after: .seconds(32))
    }
}

extension World {
    /// Sends a response for a gateway leg upstream (180 on ALERTING, 200 on CONNECT, a final
    /// error when the public network failed), as the SIP server's answer to the INVITE.
    func gatewayRespond(_ call: Call, _ g: GatewayLeg, _ code: Int) {
        let s = sipServers[g.server]
        guard var st = s.serverTxns[g.key], let invite = call.lastInvite else { return }
        var extra: [(name: String, value: String)] = []
        var body = ""
        if code < 300 {
            extra.append(("Contact", "<sip:\(call.sentDigits ?? "gw")@\(hostPort(s.ip, 5060))>"))
        }
        if code == 200 {
            call.gatewayAnswered = true
            extra.append(("Content-Type", "application/sdp"))
            body = "v=0\r\no=pbxsim 3 3 IN \(sdpAddress(s.ip))\r\ns=pbxsim\r\nc=IN \(sdpAddress(s.ip))\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        }
        // The response to the INVITE as this server received it (its Via is the caller's).
        var req = invite
        if let via = st.lastResponse?.header("Via") { req.setHeader("Via", via) }
        let r = req.response(code, toTag: call.gatewayTag ?? { let t = newTag(); call.gatewayTag = t; return t }(), extraHeaders: extra, body: body)
        st.lastResponse = r
        s.serverTxns[g.key] = st
        sendSIP(r, from: s.ip, srcPort: st.localPort, to: st.replyTo.ip, dstPort: st.replyTo.port, transport: st.transport, call: call.id, retransmission: false)
    }
}
