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
        // A retransmission gets the last response again; the ACK of a non-2xx we answered or
        // relayed is absorbed by the server transaction, hop by hop (§17.2.1; the downstream
        // client transaction ACKed on its own). Any other ACK (for a 2xx) goes end to end, never here.
        if let id = serverTxn(for: req, at: s.ip) {
            serverReceive(id, req)
            return
        }
        if method == "ACK" { return }
        if let st = s.serverTxns[key] {
            // A retransmitted INVITE after its transaction ended with a 2xx: the 2xx again.
            if let last = st.lastResponse {
                sendSIP(last, from: s.ip, srcPort: st.localPort, to: st.replyTo.ip, dstPort: st.replyTo.port, transport: transport, call: call, retransmission: true)
            }
            return
        }
        let txn = startServerTxn(req, owner: .server(si), localIP: s.ip, localPort: p.dstPort, replyTo: replyTo, transport: transport,
                                 timers: .rfcDefault, call: call, actor: actor)
        var st = ServerTxn(lastResponse: nil, replyTo: replyTo, localPort: p.dstPort, downstream: nil, transport: transport, callID: call)
        st.txn = txn
        s.serverTxns[key] = st
        sim.schedule(.serverTxnExpiry(server: si, branch: key), after: .seconds(64))
        func reply(_ r: SIPMessage) {
            st.lastResponse = r
            s.serverTxns[key] = st
            serverRespond(txn, r)
        }
        if let mode = s.respond, method != "CANCEL" {
            if mode.isSilent {
                step(.proxy, actor, "\(method): read, no answer (silent, fault injected)", call: call, fields: [StepField("action", "fault"), StepField("method", method), StepField("code", 0)])
                return
            }
            if mode.code == 200 {
                // A UAS that answers: a Contact for the ACK and BYE, which come to it end to end.
                step(.proxy, actor, "\(method): answers 200 as a UAS (fault injected)", call: call, fields: [StepField("action", "fault"), StepField("method", method), StepField("code", 200)])
                reply(req.response(200, toTag: newTag(), extraHeaders: [("Contact", "<sip:\(hostPort(s.ip, p.dstPort))>")]))
                return
            }
            if mode.code == 100 {
                step(.proxy, actor, "\(method): answers 100 Trying only (fault injected)", call: call, fields: [StepField("action", "fault"), StepField("method", method), StepField("code", 100)])
                reply(req.response(100))
            } else {
                var extra: [(name: String, value: String)] = []
                if let ra = mode.retryAfter { extra.append(("Retry-After", String(ra.ns / 1_000_000_000))) }
                step(.proxy, actor, "\(method): answers \(mode.code) (fault injected)", call: call, fields: [StepField("action", "fault"), StepField("method", method), StepField("code", mode.code)])
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
            step(.registration, actor, "binding \(aorUser)@\(domain) -> \(contact) for \(expires)s", call: nil,
                 fields: [StepField("event", "binding"), StepField("aor", "\(aorUser)@\(domain)"), StepField("contact", contact), StepField("expires_s", expires)])
            reply(req.response(200, toTag: newTag(), extraHeaders: [("Contact", "<\(contact)>;expires=\(expires)"),
                                                                    ("Expires", String(expires))]))
        case "INVITE":
            reply(req.response(100))
            let user = SIPMessage.user(ofURI: req.requestURI ?? "") ?? ""
            let domain = s.config.domain
            guard let b = location[domain]?[user], b.expires > sim.now else {
                if s.config.pstnGateway, let c = call.flatMap({ calls[$0] }), let ti = telcoFor(nationalNumber: user) {
                    // Terminate on the public network through the number's telephone company.
                    step(.proxy, actor, "INVITE for \(user): not registered; terminated on the public network via \(telcos[ti].name)", call: call,
                         fields: [StepField("action", "gateway"), StepField("user", user), StepField("telco", telcos[ti].name)])
                    c.gateway = GatewayLeg(server: si, key: key)
                    c.sentDigits = user
                    c.pstnDelay = telcos[ti].switchingDelay
                    pstnSchedule(c, .arriveTelco(telco: ti, toll: true), after: telcos[ti].switchingDelay)
                    return
                }
                // Name the PBX whose number it is, so that a 404 from a missing registration is plain.
                if let owner = pbxs.first(where: { $0.card?.config.numbers.contains(user) == true }) {
                    step(.proxy, actor, "INVITE for \(user): \(owner.name) is not registered with \(domain): 404", call: call,
                         fields: [StepField("action", "not-registered"), StepField("user", user), StepField("pbx", owner.name), StepField("code", 404)])
                } else {
                    step(.proxy, actor, "INVITE for \(user): no registration for it in \(domain): 404", call: call,
                         fields: [StepField("action", "not-registered"), StepField("user", user), StepField("code", 404)])
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
            step(.proxy, actor, "INVITE for \(user)@\(domain) forwarded to \(b.contact)", call: call,
                 fields: [StepField("action", "forward"), StepField("user", user), StepField("contact", b.contact)])
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
            step(.proxy, actor, "BYE: releases the public-network leg", call: call, fields: [StepField("action", "gateway-release")])
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
        if let t = st.txn { serverRespond(t, up) }
    }

    /// A proxy forwards a 2xx to INVITE statelessly (RFC 3261 §16.7 step 10, §17.1.1.2): a copy
    /// that arrives after its client transaction ended goes upstream like the first, by the Via.
    func proxyForward2xx(_ si: Int, _ r: SIPMessage) {
        let s = sipServers[si]
        var up = r
        up.popVia()
        guard let next = up.topViaSentBy else { return }
        let call = r.callID.flatMap { sipCallToCall[$0] }
        step(.proxy, network.name(ofIP: s.ip), "2xx copy forwarded statelessly to \(hostPort(next.ip, next.port))", call: call,
              fields: [StepField("action", "forward-2xx-copy"), StepField("target", hostPort(next.ip, next.port))])
        sendSIP(up, from: s.ip, to: next.ip, dstPort: next.port, transport: next.transport, call: call, retransmission: true)
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
        step(.proxy, network.name(ofIP: s.ip), "downstream \(t.remoteIP) failed: \(code) upstream", call: st.callID,
             fields: [StepField("action", "downstream-failed"), StepField("downstream", t.remoteIP), StepField("code", code)])
        if let t = st.txn { serverRespond(t, up) }
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
        if let t = st.txn { serverRespond(t, r) }
    }
}
