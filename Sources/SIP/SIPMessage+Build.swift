/// Builders for the requests and responses a V-SIPGW card, a SIP server and a far-end PBX send.
/// Every identifier (branch, tag, Call-ID) is handed in by the caller, so the result is
/// deterministic.
public enum Transport: String, Sendable, Hashable, CaseIterable {
    /// TLS is TCP underneath: reliable, no retransmissions, Timers D and K zero (RFC 3261 §17).
    case udp = "UDP", tcp = "TCP", tls = "TLS"
    public var isReliable: Bool { self != .udp }
    /// The `transport=` URI parameter (RFC 3261 §19.1.1); none for UDP, the default.
    public var uriParam: String {
        switch self {
        case .udp: return ""
        case .tcp: return ";transport=tcp"
        case .tls: return ";transport=tls"
        }
    }
    /// The port a URI without one means: 5060, or 5061 for TLS (RFC 3261 §19.1.2, RFC 3263 §4.2).
    public var defaultPort: Int { self == .tls ? 5061 : 5060 }
    /// The SRV service name RFC 3263 §4.2 queries for this transport: `_sip._udp.`, `_sip._tcp.`,
    /// or `_sips._tcp.` for TLS.
    public var srvPrefix: String {
        switch self {
        case .udp: return "_sip._udp."
        case .tcp: return "_sip._tcp."
        case .tls: return "_sips._tcp."
        }
    }
}

/// `ip:port`, with an IPv6 address in brackets (`[2001:db8::1]:5060`), as SIP and the trace write it.
public func hostPort(_ ip: String, _ port: Int) -> String {
    if hasColon(ip) || port < 0 { return "[\(ip)]:\(port)" }
    // Written into a string of exactly its size: the full trace builds dozens of these a call.
    let digits = ExactUTF8Writer.decimalDigits(port)
    return String(utf8Count: ip.utf8.count + 1 + digits) { w in
        w.put(ip)
        w.put(byte: UInt8(ascii: ":"))
        w.put(decimal: port, digits: digits)
    }
}

/// Whether an address has a colon (an IPv6 literal), on its UTF-8 bytes: `String.contains` with a
/// string argument was a measurable part of every message built (issue 11's profile).
@inline(__always) func hasColon(_ s: String) -> Bool {
    s.utf8.withContiguousStorageIfAvailable { $0.contains(UInt8(ascii: ":")) } ?? s.utf8.contains(UInt8(ascii: ":"))
}

/// A host as a SIP URI writes it: an IPv6 literal in brackets (RFC 3261 §25.1 `IPv6reference`,
/// RFC 5118 §4), anything else as it is.
public func uriHost(_ host: String) -> String {
    hasColon(host) && !host.hasPrefix("[") ? "[\(host)]" : host
}

/// The SDP address of a connection line: `IP4 192.0.2.1` or `IP6 2001:db8::1`.
public func sdpAddress(_ ip: String) -> String { concat(hasColon(ip) ? "IP6 " : "IP4 ", ip) }

/// Splits `ip:port` or `[v6]:port`; the port defaults to 5060.
public func splitHostPort(_ hp: String) -> (ip: String, port: Int) {
    if hp.hasPrefix("["), let close = hp.firstIndex(of: "]") {
        let ip = String(hp[hp.index(after: hp.startIndex)..<close])
        let rest = hp[hp.index(after: close)...]
        return (ip, rest.hasPrefix(":") ? Int(rest.dropFirst()) ?? 5060 : 5060)
    }
    let parts = hp.split(separator: ":")
    if parts.count > 2 { return (hp, 5060) } // a bare IPv6 address
    return (String(parts.first ?? ""), parts.count > 1 ? Int(parts[1]) ?? 5060 : 5060)
}

/// The RFC 3261 magic cookie every branch starts with.
public let branchCookie = "z9hG4bK"
/// What the simulated nodes' branches start with, before their hexadecimal id.
public let branchPrefix = "z9hG4bK-"

extension SIPMessage {
    public static func via(transport: Transport, sentBy: String, branch: String) -> String {
        concat("SIP/2.0/", transport.rawValue, " ", sentBy, ";branch=", branch)
    }

    /// An initial INVITE with an SDP offer (RFC 4566, PCMU). Its headers and body are written on
    /// first read (see `SIPMessage.Storage`).
    public static func invite(requestURI: String, from: String, fromTag: String, to: String, callID: String,
                              cseq: Int, transport: Transport, localHostPort: String, localIP: String,
                              contactUser: String, branch: String, sessionID: UInt64) -> SIPMessage {
        SIPMessage(invite: InviteParts(call: .init(requestURI: requestURI, from: from, fromTag: fromTag, to: to, callID: callID, cseq: cseq,
                                                   transport: transport, localHostPort: localHostPort, localIP: localIP,
                                                   contactUser: contactUser, sessionID: sessionID),
                                       branch: branch))
    }

    /// The same INVITE with another top Via branch: the next attempt of a call, a new
    /// transaction (RFC 3261 §17.1.1). An INVITE from `invite(...)` not yet written stays
    /// unwritten; one already written (the full trace wrote it) shares its other headers and body,
    /// with the top Via replaced (`SIP/2.0/TRANSPORT sentBy;branch=...`).
    public func withBranch(_ branch: String, transport: Transport, sentBy: String) -> SIPMessage {
        if var parts = storage.parts, parts.call.transport == transport, parts.call.localHostPort == sentBy,
           !storage.built.load(ordering: .acquiring) {
            parts.branch = branch
            return SIPMessage(invite: parts)
        }
        var m = self
        m.setHeader("Via", SIPMessage.via(transport: transport, sentBy: sentBy, branch: branch))
        return m
    }

    /// A REGISTER for an address of record (RFC 3261 §10.2).
    public static func register(registrarURI: String, aor: String, fromTag: String, callID: String, cseq: Int,
                                transport: Transport, localHostPort: String, contactUser: String,
                                expires: Int, branch: String) -> SIPMessage {
        SIPMessage(startLine: .request(method: "REGISTER", uri: registrarURI), headers: [
            ("Via", via(transport: transport, sentBy: localHostPort, branch: branch)),
            ("Max-Forwards", "70"),
            ("From", "<\(aor)>;tag=\(fromTag)"),
            ("To", "<\(aor)>"),
            ("Call-ID", callID),
            ("CSeq", "\(cseq) REGISTER"),
            ("Contact", "<sip:\(contactUser)@\(localHostPort)\(transport.uriParam)>"),
            ("Expires", String(expires)),
            ("User-Agent", "pbxsim V-SIPGW"),
        ])
    }

    /// A response to `request` (RFC 3261 §8.2.6): Via, From, Call-ID and CSeq copied; a To tag is
    /// added when given and the request's To has none.
    public func response(_ code: Int, reason: String? = nil, toTag: String? = nil,
                         extraHeaders: [(name: String, value: String)] = [], body: String = "") -> SIPMessage {
        var hs: [(name: String, value: String)] = []
        for v in headerValues("Via") { hs.append(("Via", v)) }
        if let f = header("From") { hs.append(("From", f)) }
        if var t = header("To") {
            if let tag = toTag, SIPMessage.parameter("tag", in: t) == nil { t += ";tag=\(tag)" }
            hs.append(("To", t))
        }
        if let c = header("Call-ID") { hs.append(("Call-ID", c)) }
        if let c = header("CSeq") { hs.append(("CSeq", c)) }
        hs.append(contentsOf: extraHeaders)
        return SIPMessage(startLine: .response(code: code, reason: reason ?? ReasonPhrase.for(code)), headers: hs, body: body)
    }

    /// The ACK a client INVITE transaction sends for a non-2xx final response (RFC 3261
    /// §17.1.1.3): same Request-URI, top Via (same branch), From, Call-ID and CSeq number; the To
    /// of the response.
    public func ackForNon2xx(_ response: SIPMessage) -> SIPMessage {
        var hs: [(name: String, value: String)] = []
        if let v = header("Via") { hs.append(("Via", v)) }
        hs.append(("Max-Forwards", "70"))
        if let f = header("From") { hs.append(("From", f)) }
        if let t = response.header("To") ?? header("To") { hs.append(("To", t)) }
        if let c = header("Call-ID") { hs.append(("Call-ID", c)) }
        hs.append(("CSeq", "\(cseq?.number ?? 1) ACK"))
        return SIPMessage(startLine: .request(method: "ACK", uri: requestURI ?? ""), headers: hs)
    }

    /// The CANCEL of this INVITE (RFC 3261 §9.1): the same Request-URI, Call-ID, From, To, top Via
    /// (branch) and CSeq number, method CANCEL, no body.
    public func cancelRequest() -> SIPMessage {
        var cancel = self
        // "A single Via header field value matching the top Via value in the request being
        // cancelled" (§9.1): a proxy's CANCEL downstream carries its own Via only (§16.10).
        if let top = header("Via"), headerValues("Via").count > 1 {
            let i = cancel.headers.firstIndex { SIPMessage.isHeader($0.name, "via") }!
            cancel.removeHeaders("Via")
            cancel.headers.insert(("Via", top), at: i)
        }
        cancel.startLine = .request(method: "CANCEL", uri: requestURI ?? "")
        cancel.setHeader("CSeq", "\(cseq?.number ?? 1) CANCEL")
        cancel.body = ""
        cancel.removeHeaders("Content-Type")
        cancel.removeHeaders("Contact")
        cancel.removeHeaders("Allow")
        return cancel
    }

    /// An in-dialog request (ACK for 2xx, BYE) from the dialog state of an INVITE and its 2xx:
    /// sent to the remote Contact, with a new branch.
    public func inDialogRequest(_ method: String, for invite2xx: SIPMessage, branch: String, cseq: Int,
                                transport: Transport, localHostPort: String) -> SIPMessage {
        let target = invite2xx.header("Contact").map { SIPMessage.uri(in: $0) } ?? (requestURI ?? "")
        return SIPMessage(startLine: .request(method: method, uri: target), headers: [
            ("Via", SIPMessage.via(transport: transport, sentBy: localHostPort, branch: branch)),
            ("Max-Forwards", "70"),
            ("From", header("From") ?? ""),
            ("To", invite2xx.header("To") ?? ""),
            ("Call-ID", header("Call-ID") ?? ""),
            ("CSeq", "\(cseq) \(method)"),
        ])
    }
}

extension SIPMessage {
    /// A request the UAS sends inside the dialog its 2xx made (BYE from the called side): to the
    /// caller's Contact, From = the INVITE's To with the UAS's tag, To = the INVITE's From,
    /// the same Call-ID, the UAS's own CSeq space (RFC 3261 §12.2.1.1).
    public func uasDialogRequest(_ method: String, toTag: String, branch: String, cseq: Int,
                                 transport: Transport, localHostPort: String) -> SIPMessage {
        let target = header("Contact").map { SIPMessage.uri(in: $0) } ?? (requestURI ?? "")
        let to = header("To") ?? ""
        return SIPMessage(startLine: .request(method: method, uri: target), headers: [
            ("Via", SIPMessage.via(transport: transport, sentBy: localHostPort, branch: branch)),
            ("Max-Forwards", "70"),
            ("From", to.contains(";tag=") ? to : to + ";tag=" + toTag),
            ("To", header("From") ?? ""),
            ("Call-ID", header("Call-ID") ?? ""),
            ("CSeq", "\(cseq) \(method)"),
        ])
    }
}

/// What an INVITE is made of, kept until its text is first needed (`SIPMessage.Storage`): what
/// every attempt of a call shares, behind one reference, and the attempt's branch.
@usableFromInline struct InviteParts: Sendable {
    final class Call: Sendable {
        let requestURI, from, fromTag, to, callID: String
        let cseq: Int
        let transport: Transport
        let localHostPort, localIP, contactUser: String
        let sessionID: UInt64
        init(requestURI: String, from: String, fromTag: String, to: String, callID: String, cseq: Int, transport: Transport,
             localHostPort: String, localIP: String, contactUser: String, sessionID: UInt64) {
            self.requestURI = requestURI; self.from = from; self.fromTag = fromTag; self.to = to; self.callID = callID
            self.cseq = cseq; self.transport = transport; self.localHostPort = localHostPort; self.localIP = localIP
            self.contactUser = contactUser; self.sessionID = sessionID
        }
    }
    let call: Call
    var branch: String
    var requestURI: String { call.requestURI }

    /// The headers and SDP body, each joined at its exact size (`concat`).
    func headersAndBody() -> ([(name: String, value: String)], String) {
        let c = call
        let address = sdpAddress(c.localIP)
        let session = String(c.sessionID)
        let sdp = concat("v=0\r\no=pbxsim ", session, " ", session, " IN ", address, "\r\ns=pbxsim\r\nc=IN ", address,
                         "\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                         + "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
        return ([
            ("Via", SIPMessage.via(transport: c.transport, sentBy: c.localHostPort, branch: branch)),
            ("Max-Forwards", "70"),
            ("From", concat("<", c.from, ">;tag=", c.fromTag)),
            ("To", concat("<", c.to, ">")),
            ("Call-ID", c.callID),
            ("CSeq", concat(String(c.cseq), " INVITE")),
            ("Contact", concat("<sip:", c.contactUser, "@", c.localHostPort, c.transport.uriParam, ">")),
            ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),
            ("User-Agent", "pbxsim V-SIPGW"),
            ("Content-Type", "application/sdp"),
        ], sdp)
    }
}
