import SimCore
import SIP
import Trace

/// What a carrier SIP server may ask of whoever runs it (issue 9 item 2): its SIP transaction
/// layer, the engine's clock and identifiers, the public network behind a gateway server, and the
/// trace. The node decides every answer itself; the context only carries it out.
public protocol CarrierContext: AnyObject {
    var now: SimTime { get }
    func newTag() -> String
    func newBranch() -> String

    // The server's SIP stack.
    /// RFC 3261 §17.2.3: when the request matches one of the server's transactions (a
    /// retransmission, the ACK of a non-2xx), that transaction takes it and the answer is true.
    func matchServerTransaction(_ request: SIPMessage, server: CarrierServer) -> Bool
    /// Starts a server transaction for a new request; its id.
    func startServerTransaction(_ request: SIPMessage, server: CarrierServer, localPort: Int,
                                replyTo: (ip: String, port: Int), transport: Transport, call: Int?) -> Int
    /// The server's response on its server transaction.
    func respond(_ txn: Int, _ response: SIPMessage)
    /// Sends a message outside any transaction (a 2xx again, a 2xx copy forwarded statelessly).
    func sendRetransmission(_ message: SIPMessage, server: CarrierServer, fromPort: Int, to ip: String, port: Int,
                            transport: Transport, call: Int?)
    /// Starts the proxy's INVITE client transaction toward a binding; its id.
    func forward(_ invite: SIPMessage, server: CarrierServer, to ip: String, port: Int, upstream: String, call: Int?) -> Int
    /// Sends a CANCEL for the proxy's INVITE client transaction when it is proceeding (§16.10).
    func cancelDownstream(_ txn: Int, server: CarrierServer, call: Int?)
    /// Forgets upstream record `record` after `delay` (the driver calls `expire(record:)` then).
    func expire(record: Int, server: CarrierServer, after delay: SimTime)

    // The public network behind a gateway server.
    /// The telephone company that serves a national number, when the call can go there.
    func publicNetworkCarrier(for number: String, call: Int?) -> String?
    /// Hands the call to the public network toward `number`; its progress comes back through
    /// `publicNetworkResponse`.
    func handToPublicNetwork(call: Int, number: String, server: CarrierServer)
    /// The PBX whose card registers a number, for a plain 404 text.
    func pbxOwning(number: String) -> String?

    func record(_ kind: StepKind, _ actor: CarrierServer, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField])
}

/// One location-service binding (RFC 3261 §10).
struct Binding { var contact: String; var ip: String; var port: Int; var expires: SimTime }

/// The location service of a domain: the bindings its registrars write and its proxies read. The
/// SIP servers of one domain share it, as a carrier's servers share one database.
public final class LocationService {
    public let domain: String
    private(set) var bindings: [String: Binding] = [:]
    public init(domain: String) { self.domain = domain }
    func bind(_ user: String, _ b: Binding?) { bindings[user] = b }
    /// The binding of a user that has not expired at `now`.
    func lookup(_ user: String, now: SimTime) -> Binding? {
        guard let b = bindings[user], b.expires > now else { return nil }
        return b
    }
    /// The contact bound to a user at `now`, if any.
    public func contact(of user: String, now: SimTime) -> String? { lookup(user, now: now)?.contact }
}

/// A transaction a SIP server holds toward its upstream client: what it last answered, so that a
/// retransmitted request gets the same answer.
struct ServerTxn {
    var lastResponse: SIPMessage?
    var replyTo: (ip: String, port: Int)
    /// The port the request arrived on: responses leave from it (the same connection over TCP/TLS).
    var localPort: Int
    var downstream: Int?
    var transport: Transport
    var callID: Int?
    /// Its RFC 3261 server transaction (which sends the responses and runs Timers G, H, I, J).
    var txn: Int?
}

/// A call a gateway server handed to the public network: the INVITE it answers, and its dialog.
struct PublicNetworkLeg {
    var key: String
    var invite: SIPMessage
    var number: String
    var tag: String?
    var answered = false
}

/// A carrier's SIP server (issue 9 item 2): registrar, stateful proxy, gateway to the public
/// network, and the fault modes a scenario injects. It owns its upstream transactions, its
/// response mode and the calls it terminated on the public network; it shares its domain's
/// location service. Everything it sends goes through its context.
public final class CarrierServer {
    /// Its index among the site's SIP servers.
    public let id: Int
    public let config: SIPServerConfig
    public let ip: String
    /// The host name (the actor of its steps).
    public let name: String
    /// How it answers new requests (`respond HOST ...`); nil = normally.
    public var respond: RespondMode?
    public let location: LocationService
    var upstream: [String: ServerTxn] = [:]
    /// The keys of the upstream records by their ids (what the expiry event carries).
    private var upstreamKeys: [Int: String] = [:]
    private var recordCounter = 0
    /// Calls it terminated on the public network, by call id.
    var publicLegs: [Int: PublicNetworkLeg] = [:]

    public init(id: Int, config: SIPServerConfig, ip: String, name: String, location: LocationService) {
        self.id = id; self.config = config; self.ip = ip; self.name = name; self.location = location; self.respond = config.respond
    }

    /// A request arrived at the server on `localPort` from `from`; `call` is the packet's trace
    /// correlation (the call its steps belong to), nothing the server decides on.
    public func receive(_ req: SIPMessage, from: (ip: String, port: Int), localPort: Int, transport: Transport, call: Int?, _ ctx: CarrierContext) {
        guard let method = req.method, let branch = req.branch else { return }
        let key = method == "CANCEL" ? "CANCEL " + branch : branch
        // A retransmission gets the last response again; the ACK of a non-2xx we answered or
        // relayed is absorbed by the server transaction, hop by hop (§17.2.1; the downstream
        // client transaction ACKed on its own). Any other ACK (for a 2xx) goes end to end, never here.
        if ctx.matchServerTransaction(req, server: self) { return }
        if method == "ACK" { return }
        if let st = upstream[key] {
            // A retransmitted INVITE after its transaction ended with a 2xx: the 2xx again.
            if let last = st.lastResponse {
                ctx.sendRetransmission(last, server: self, fromPort: st.localPort, to: st.replyTo.ip, port: st.replyTo.port,
                                       transport: transport, call: call)
            }
            return
        }
        let txn = ctx.startServerTransaction(req, server: self, localPort: localPort, replyTo: from, transport: transport, call: call)
        upstream[key] = ServerTxn(lastResponse: nil, replyTo: from, localPort: localPort, downstream: nil, transport: transport,
                                  callID: call, txn: txn)
        recordCounter += 1
        upstreamKeys[recordCounter] = key
        ctx.expire(record: recordCounter, server: self, after: .seconds(64))
        func reply(_ r: SIPMessage) {
            upstream[key]?.lastResponse = r
            ctx.respond(txn, r)
        }
        if let mode = respond, method != "CANCEL" {
            injectedFault(mode, req, method: method, localPort: localPort, call: call, reply: reply, ctx)
            return
        }
        switch method {
        case "REGISTER":
            register(req, call: call, reply: reply, ctx)
        case "INVITE":
            reply(req.response(100))
            invite(req, key: key, branch: branch, call: call, reply: reply, ctx)
        case "CANCEL":
            reply(req.response(200))
            if let down = upstream[branch]?.downstream { ctx.cancelDownstream(down, server: self, call: call) }
        case "BYE" where call.flatMap({ publicLegs[$0] })?.answered == true:
            // The caller hangs up a call this server terminated on the public network.
            ctx.record(.proxy, self, "BYE: releases the public-network leg", call: call, [StepField("action", "gateway-release")])
            reply(req.response(200))
        default:
            // BYE and others within a dialog go end to end (no Record-Route); answer 481 here.
            reply(req.response(481, toTag: ctx.newTag()))
        }
    }

    /// `respond` / `sip_servers[].respond`: silent, 100 only, 200 as a UAS, or a final response.
    private func injectedFault(_ mode: RespondMode, _ req: SIPMessage, method: String, localPort: Int, call: Int?,
                               reply: (SIPMessage) -> Void, _ ctx: CarrierContext) {
        if mode.isSilent {
            ctx.record(.proxy, self, "\(method): read, no answer (silent, fault injected)", call: call,
                       [StepField("action", "fault"), StepField("method", method), StepField("code", 0)])
            return
        }
        if mode.code == 200 {
            // A UAS that answers: a Contact for the ACK and BYE, which come to it end to end.
            ctx.record(.proxy, self, "\(method): answers 200 as a UAS (fault injected)", call: call,
                       [StepField("action", "fault"), StepField("method", method), StepField("code", 200)])
            reply(req.response(200, toTag: ctx.newTag(), extraHeaders: [("Contact", "<sip:\(hostPort(ip, localPort))>")]))
            return
        }
        if mode.code == 100 {
            ctx.record(.proxy, self, "\(method): answers 100 Trying only (fault injected)", call: call,
                       [StepField("action", "fault"), StepField("method", method), StepField("code", 100)])
            reply(req.response(100))
        } else {
            var extra: [(name: String, value: String)] = []
            if let ra = mode.retryAfter { extra.append(("Retry-After", String(ra.ns / 1_000_000_000))) }
            ctx.record(.proxy, self, "\(method): answers \(mode.code) (fault injected)", call: call,
                       [StepField("action", "fault"), StepField("method", method), StepField("code", mode.code)])
            reply(req.response(mode.code, toTag: ctx.newTag(), extraHeaders: extra))
        }
    }

    /// Registrar (§10.3): binds or removes the address of record's contact.
    private func register(_ req: SIPMessage, call: Int?, reply: (SIPMessage) -> Void, _ ctx: CarrierContext) {
        let aorUser = SIPMessage.user(ofURI: SIPMessage.uri(in: req.header("To") ?? "")) ?? ""
        let contact = SIPMessage.uri(in: req.header("Contact") ?? "")
        let expires = Int(req.header("Expires") ?? "3600") ?? 3600
        let (cip, cport) = splitHostPort(SIPMessage.hostport(ofURI: contact))
        let domain = config.domain
        location.bind(aorUser, expires == 0 ? nil : Binding(contact: contact, ip: cip, port: cport, expires: ctx.now + .seconds(Int64(expires))))
        ctx.record(.registration, self, "binding \(aorUser)@\(domain) -> \(contact) for \(expires)s", call: nil,
                   [StepField("event", "binding"), StepField("aor", "\(aorUser)@\(domain)"), StepField("contact", contact), StepField("expires_s", expires)])
        reply(req.response(200, toTag: ctx.newTag(), extraHeaders: [("Contact", "<\(contact)>;expires=\(expires)"), ("Expires", String(expires))]))
    }

    /// Stateful proxy (§16): forwards to the registered contact, else terminates on the public
    /// network (a gateway server), else 404.
    private func invite(_ req: SIPMessage, key: String, branch: String, call: Int?, reply: (SIPMessage) -> Void, _ ctx: CarrierContext) {
        let user = SIPMessage.user(ofURI: req.requestURI ?? "") ?? ""
        let domain = config.domain
        guard let b = location.lookup(user, now: ctx.now) else {
            if config.pstnGateway, let c = call, let telco = ctx.publicNetworkCarrier(for: user, call: c) {
                ctx.record(.proxy, self, "INVITE for \(user): not registered; terminated on the public network via \(telco)", call: call,
                           [StepField("action", "gateway"), StepField("user", user), StepField("telco", telco)])
                publicLegs[c] = PublicNetworkLeg(key: key, invite: req, number: user)
                ctx.handToPublicNetwork(call: c, number: user, server: self)
                return
            }
            // Name the PBX whose number it is, so that a 404 from a missing registration is plain.
            if let owner = ctx.pbxOwning(number: user) {
                ctx.record(.proxy, self, "INVITE for \(user): \(owner) is not registered with \(domain): 404", call: call,
                           [StepField("action", "not-registered"), StepField("user", user), StepField("pbx", owner), StepField("code", 404)])
            } else {
                ctx.record(.proxy, self, "INVITE for \(user): no registration for it in \(domain): 404", call: call,
                           [StepField("action", "not-registered"), StepField("user", user), StepField("code", 404)])
            }
            reply(req.response(404, toTag: ctx.newTag()))
            return
        }
        var fwd = req
        fwd.startLine = .request(method: "INVITE", uri: b.contact)
        let mf = Int(req.header("Max-Forwards") ?? "70") ?? 70
        if mf <= 1 { reply(req.response(483, reason: "Too Many Hops", toTag: ctx.newTag())); return }
        fwd.setHeader("Max-Forwards", String(mf - 1))
        fwd.pushVia(SIPMessage.via(transport: .udp, sentBy: hostPort(ip, 5060), branch: ctx.newBranch()))
        ctx.record(.proxy, self, "INVITE for \(user)@\(domain) forwarded to \(b.contact)", call: call,
                   [StepField("action", "forward"), StepField("user", user), StepField("contact", b.contact)])
        let id = ctx.forward(fwd, server: self, to: b.ip, port: b.port, upstream: branch, call: call)
        upstream[key]?.downstream = id
    }

    /// A response from downstream for a proxied INVITE: relayed upstream without our Via (a 100
    /// stays here: hop by hop, we sent our own).
    public func downstreamResponse(upstream key: String, _ r: SIPMessage, _ ctx: CarrierContext) {
        guard let st = upstream[key] else { return }
        var up = r
        up.popVia()
        if r.statusCode == 100 { return }
        upstream[key]?.lastResponse = up
        if let t = st.txn { ctx.respond(t, up) }
    }

    /// The proxy's INVITE downstream failed (Timer B: 408; transport error: 503): that code upstream.
    public func downstreamFailed(upstream key: String, request: SIPMessage, downstreamIP: String, code: Int, _ ctx: CarrierContext) {
        guard let st = upstream[key], st.downstream != nil else { return }
        var up = request.response(code, toTag: ctx.newTag())
        up.popVia()
        upstream[key]?.lastResponse = up
        ctx.record(.proxy, self, "downstream \(downstreamIP) failed: \(code) upstream", call: st.callID,
                   [StepField("action", "downstream-failed"), StepField("downstream", downstreamIP), StepField("code", code)])
        if let t = st.txn { ctx.respond(t, up) }
    }

    /// A copy of a 2xx to INVITE that arrived after its client transaction ended goes upstream
    /// like the first, statelessly, by the Via (RFC 3261 §16.7 step 10, §17.1.1.2).
    public func forward2xxCopy(_ r: SIPMessage, call: Int?, _ ctx: CarrierContext) {
        var up = r
        up.popVia()
        guard let next = up.topViaSentBy else { return }
        ctx.record(.proxy, self, "2xx copy forwarded statelessly to \(hostPort(next.ip, next.port))", call: call,
                   [StepField("action", "forward-2xx-copy"), StepField("target", hostPort(next.ip, next.port))])
        ctx.sendRetransmission(up, server: self, fromPort: 5060, to: next.ip, port: next.port, transport: next.transport, call: call)
    }

    /// The public network failed the call: the matching final response upstream; the caller's
    /// PBX decides what follows.
    public func publicNetworkFailed(call: Int, outcome: CallOutcome, reason: EndReason, _ ctx: CarrierContext) {
        let code: Int
        switch outcome {
        case .busy: code = 486
        case .noAnswer: code = 480
        case .blocked: code = 503
        case .rejected: code = 603
        default: code = 404
        }
        ctx.record(.proxy, self, "public network: \(outcome) (\(reason.detail)): \(code) upstream", call: call,
                   [StepField("action", "gateway-final"), StepField("outcome", outcome.rawValue), StepField("code", code)])
        publicNetworkProgress(call: call, code: code, ctx)
        publicLegs[call] = nil
    }

    /// The call ended at the caller's PBX: its public-network leg is forgotten.
    public func callEnded(_ call: Int) { publicLegs[call] = nil }

    /// Its answer to the INVITE of a call it terminated on the public network: 180 on ALERTING,
    /// 200 with SDP on CONNECT, a final code when the public network failed the call.
    public func publicNetworkProgress(call: Int, code: Int, _ ctx: CarrierContext) {
        guard var leg = publicLegs[call], let st = upstream[leg.key] else { return }
        var extra: [(name: String, value: String)] = []
        var body = ""
        if code < 300 {
            extra.append(("Contact", "<sip:\(leg.number)@\(hostPort(ip, 5060))>"))
        }
        if code == 200 {
            leg.answered = true
            extra.append(("Content-Type", "application/sdp"))
            body = "v=0\r\no=pbxsim 3 3 IN \(sdpAddress(ip))\r\ns=pbxsim\r\nc=IN \(sdpAddress(ip))\r\nt=0 0\r\nm=audio 42000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        }
        // The response to the INVITE as this server received it (its Via is the caller's).
        var req = leg.invite
        if let via = st.lastResponse?.header("Via") { req.setHeader("Via", via) }
        let tag = leg.tag ?? ctx.newTag()
        leg.tag = tag
        publicLegs[call] = leg
        let r = req.response(code, toTag: tag, extraHeaders: extra, body: body)
        upstream[leg.key]?.lastResponse = r
        if let t = st.txn { ctx.respond(t, r) }
    }

    /// An upstream record is forgotten (64 s after it started).
    public func expire(record: Int) {
        if let key = upstreamKeys.removeValue(forKey: record) { upstream[key] = nil }
    }
}
