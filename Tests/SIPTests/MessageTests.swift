import Testing
@testable import SIP

@Suite struct MessageTests {
    @Test func inviteHasTheMandatoryHeaders() throws {
        let m = sampleInvite()
        let text = m.encoded()
        #expect(text.hasPrefix("INVITE sip:0123451011@itsp.example SIP/2.0\r\n"))
        for h in ["Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK", "Max-Forwards: 70", "From: <sip:0987654321@itsp.example>;tag=abc",
                  "To: <sip:0123451011@itsp.example>", "Call-ID: 1-1@pbx1.example", "CSeq: 1 INVITE",
                  "Contact: <sip:0987654321@198.51.100.1:5060>", "Content-Type: application/sdp"] {
            #expect(text.contains(h + (h.hasSuffix("z9hG4bK") ? "" : "\r\n")) || text.contains(h), "missing \(h)")
        }
        let cl = m.body.utf8.count
        #expect(text.contains("Content-Length: \(cl)\r\n\r\nv=0\r\n"))
        #expect(m.branch?.hasPrefix("z9hG4bK") == true)
    }

    /// A message is a value: its parts sit behind one shared reference (issue 11), and changing a
    /// copy in any part must leave the original as it was.
    @Test func copiesAreIndependentValues() {
        let original = sampleInvite()
        let text = original.encoded()
        var a = original, b = original, c = original
        a.setHeader("Via", "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-other")
        b.startLine = .request(method: "CANCEL", uri: "sip:x@y")
        c.body = ""
        c.headers.append(("X-Test", "1"))
        #expect(original.encoded() == text)
        #expect(original.branch != a.branch && a.branch == "z9hG4bK-other")
        #expect(b.method == "CANCEL" && original.method == "INVITE")
        #expect(c.body.isEmpty && !original.body.isEmpty && c.header("X-Test") == "1" && original.header("X-Test") == nil)
        #expect(a != original && b != original && c != original)
        // Changing a message nothing else holds changes it in place, and keeps it equal to itself.
        var d = sampleInvite()
        d.setHeader("Max-Forwards", "69")
        #expect(d.header("Max-Forwards") == "69" && d == d)
        #expect(original == sampleInvite())
    }

    /// An INVITE from the builder writes its text on first read (issue 11): whatever reads it
    /// first (a header, the body, the encoding, a comparison), the text is the same, and it is
    /// the text a parser reads back.
    @Test func inviteWrittenOnFirstReadIsTheSameWhateverReadsFirst() throws {
        let text = sampleInvite().encoded()
        let reads: [(SIPMessage) -> String] = [
            { $0.encoded() }, { $0.header("Via") ?? "" }, { $0.body }, { $0.branch ?? "" },
            { "\($0.headers.count)" }, { $0 == sampleInvite() ? "equal" : "different" },
        ]
        for read in reads {
            let m = sampleInvite()
            _ = read(m)
            #expect(m.encoded() == text)
        }
        #expect(try SIPMessage.parse(text) == sampleInvite())
        #expect(sampleInvite().method == "INVITE" && sampleInvite().requestURI == "sip:0123451011@itsp.example")
    }

    /// The next attempt's INVITE: only the top Via's branch differs, whether the first was
    /// written yet or not, and the first is left as it was.
    @Test func withBranchChangesOnlyTheBranch() {
        let expected = sampleInvite(branch: "z9hG4bK-next").encoded()
        let unwritten = sampleInvite()
        let written = sampleInvite(); _ = written.encoded()
        for first in [unwritten, written] {
            let next = first.withBranch("z9hG4bK-next", transport: .udp, sentBy: "198.51.100.1:5060")
            #expect(next.encoded() == expected)
            #expect(next.branch == "z9hG4bK-next" && first.branch == "z9hG4bK-test1")
        }
        // Another transport or address than the INVITE's: the Via says so.
        let tcp = unwritten.withBranch("z9hG4bK-tcp", transport: .tcp, sentBy: "198.51.100.1:5060")
        #expect(tcp.header("Via") == "SIP/2.0/TCP 198.51.100.1:5060;branch=z9hG4bK-tcp")
        // A change to a copy of an unwritten INVITE leaves the original unwritten text alone.
        var changed = sampleInvite()
        let original = changed
        changed.setHeader("Max-Forwards", "1")
        #expect(original.encoded() == sampleInvite().encoded() && changed.header("Max-Forwards") == "1")
    }

    /// Copies of one unwritten INVITE read on several threads at once all see one text (the
    /// first read writes it under a lock).
    @Test func unwrittenInviteReadFromManyThreads() async {
        let shared = sampleInvite()
        let texts = await withTaskGroup(of: String.self) { group in
            for i in 0..<16 {
                group.addTask { i % 2 == 0 ? shared.encoded() : (shared.header("Content-Type") ?? "") + shared.body }
            }
            var all: [String] = []
            for await t in group { all.append(t) }
            return all
        }
        let text = sampleInvite().encoded()
        #expect(texts.count == 16)
        #expect(texts.allSatisfy { $0 == text || $0 == "application/sdp" + sampleInvite().body })
    }

    @Test func roundTrip() throws {
        let m = sampleInvite()
        let parsed = try SIPMessage.parse(m.encoded())
        #expect(parsed == m)
        let r = m.response(180, toTag: "t1")
        let pr = try SIPMessage.parse(r.encoded())
        #expect(pr.statusCode == 180)
        #expect(pr.toTag == "t1")
        #expect(pr.branch == m.branch)
        #expect(pr.cseq?.method == "INVITE")
    }

    @Test func parsesCompactFormsFoldingAndLF() throws {
        let text = "SIP/2.0 503 Service Unavailable\nv: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx\nf: <sip:a@b>;tag=1\nt: <sip:c@d>\n ;tag=2\ni: abc\nCSeq: 1 INVITE\nRetry-After: 120 (maintenance)\nl: 0\n\n"
        let m = try SIPMessage.parse(text)
        #expect(m.statusCode == 503)
        #expect(m.branch == "z9hG4bKx")
        #expect(m.toTag == "2")
        #expect(m.callID == "abc")
        #expect(m.retryAfterSeconds == 120)
    }

    /// Header lookups take either form of a name in any case (RFC 3261 §7.3.1, §7.3.3), and
    /// setting a header replaces the line written in its compact form.
    @Test func headerNamesMatchInEitherFormAndAnyCase() throws {
        var m = try SIPMessage.parse("SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx\r\nf: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\ni: abc\r\nCSeq: 1 INVITE\r\nX-Extra: y\r\nl: 0\r\n\r\n")
        #expect(m.header("VIA") == "SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx")
        #expect(m.header("v") == m.header("via"))
        #expect(m.header("Call-ID") == "abc" && m.header("I") == "abc")
        #expect(m.header("T") == "<sip:c@d>")
        #expect(m.header("x-extra") == "y" && m.header("X-EXTRA") == "y")
        #expect(m.header("Contact") == nil && m.header("m") == nil)
        #expect(m.header("vi") == nil)
        let lines = m.headers.count
        m.setHeader("Via", "SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKnew")
        #expect(m.headerValues("v") == ["SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKnew"])
        #expect(m.headers.count == lines && m.headers[0].name == "v")
        #expect(m.branch == "z9hG4bKnew")
        #expect(SIPMessage.parameter("BRANCH", in: "SIP/2.0/UDP h;rport ; branch = z9hG4bK7 ;x=1") == "z9hG4bK7")
        #expect(SIPMessage.parameter("tag", in: "\"A;tag=no\" <sip:a@b;tag=no>;tag=yes") == "yes")
    }

    /// `host:port` as the trace and the headers write it; an IPv6 literal in brackets (RFC 5118 §4).
    @Test func hostPortWritesTheAddressAndPort() {
        #expect(hostPort("192.0.2.10", 5060) == "192.0.2.10:5060")
        #expect(hostPort("198.51.100.1", 0) == "198.51.100.1:0")
        #expect(hostPort("sip3.itsp.example", 65535) == "sip3.itsp.example:65535")
        #expect(hostPort("2001:db8::1", 5061) == "[2001:db8::1]:5061")
        #expect(hostPort("", 7) == ":7")
        #expect(hostPort("a", 10) == "a:10" && hostPort("a", 9) == "a:9" && hostPort("a", 100) == "a:100")
    }

    /// The wire form: start line, headers in order, Content-Length computed (any stored one
    /// dropped, in either form), blank line, body.
    @Test func encodingWritesEveryLineOnceWithTheBodysLength() throws {
        var m = SIPMessage(startLine: .response(code: 486, reason: "Busy Here"),
                           headers: [("v", "SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx"), ("l", "99"), ("Content-Length", "7"), ("X-Ünï", "välue")],
                           body: "abc")
        #expect(m.encoded() == "SIP/2.0 486 Busy Here\r\nv: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx\r\nX-Ünï: välue\r\nContent-Length: 3\r\n\r\nabc")
        m = SIPMessage(startLine: .request(method: "OPTIONS", uri: "sip:a@b"), headers: [], body: "")
        #expect(m.encoded() == "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        let invite = sampleInvite()
        #expect(try SIPMessage.parse(invite.encoded()) == invite)
    }

    static func fails(_ text: String) -> Bool {
        do { _ = try SIPMessage.parse(text); return false } catch { return error is SIPMessage.ParseError }
    }

    @Test func rejectsMalformed() {
        #expect(Self.fails(""))
        #expect(Self.fails("HELLO\r\n\r\n"))
        // No Max-Forwards on a request.
        #expect(Self.fails("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n"))
        // Content-Length disagrees with the body.
        #expect(Self.fails("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 10\r\n\r\nabc"))
    }

    @Test func proxyViaHandling() {
        var m = sampleInvite()
        m.pushVia(SIPMessage.via(transport: .udp, sentBy: "192.0.2.10:5060", branch: "z9hG4bK-proxy"))
        #expect(m.branch == "z9hG4bK-proxy")
        let r = m.response(180, toTag: "t")
        #expect(r.headerValues("Via").count == 2)
        var up = r
        up.popVia()
        #expect(up.branch == "z9hG4bK-test1")
    }

    /// RFC 3261 §9.1 (and §16.10 for a proxy): the CANCEL has the INVITE's Request-URI, Call-ID,
    /// To, From and CSeq number, method CANCEL, a single Via matching the INVITE's top Via, and no
    /// body; Contact and Allow do not belong in it.
    @Test func cancelOfAProxiedInviteCarriesTheTopViaOnly() {
        var m = sampleInvite()
        m.pushVia(SIPMessage.via(transport: .udp, sentBy: "192.0.2.10:5060", branch: "z9hG4bK-proxy"))
        let c = m.cancelRequest()
        #expect(c.method == "CANCEL" && c.requestURI == m.requestURI)
        #expect(c.headerValues("Via") == [SIPMessage.via(transport: .udp, sentBy: "192.0.2.10:5060", branch: "z9hG4bK-proxy")])
        #expect(c.branch == "z9hG4bK-proxy")
        for h in ["Call-ID", "From", "To"] { #expect(c.header(h) == m.header(h)) }
        #expect(c.header("CSeq") == "1 CANCEL")
        #expect(c.body.isEmpty && c.header("Contact") == nil && c.header("Allow") == nil && c.header("Content-Type") == nil)
        // The Via stays where it was among the headers (first here).
        #expect(c.headers.first?.name == "Via")
        // A UAC's own INVITE (one Via) keeps it as it is.
        #expect(sampleInvite().cancelRequest().headerValues("Via") == sampleInvite().headerValues("Via"))
    }
}

/// Where an in-dialog request goes: the remote target's transport and default port.
@Suite struct URITargetTests {
    @Test func transportAndPortOfAURI() {
        #expect(SIPMessage.target(ofURI: "sip:0123451011@198.51.100.2:5060") == ("198.51.100.2", 5060, .udp))
        #expect(SIPMessage.target(ofURI: "sip:x@198.51.100.2;transport=tcp") == ("198.51.100.2", 5060, .tcp))
        #expect(SIPMessage.target(ofURI: "sip:x@198.51.100.2;transport=TLS") == ("198.51.100.2", 5061, .tls))
        #expect(SIPMessage.target(ofURI: "sips:x@198.51.100.2") == ("198.51.100.2", 5061, .tls))
        #expect(SIPMessage.target(ofURI: "sip:x@[2001:db8::11]:5070") == ("2001:db8::11", 5070, .udp))
        #expect(SIPMessage.target(ofURI: "sip:x@[2001:db8::11];transport=tls") == ("2001:db8::11", 5061, .tls))
    }
}

@Suite struct ConcatTests {
    @Test func zeroPaddedDecimalsPadToTheirWidth() {
        #expect(zeroPaddedDecimal(1_299_990_000, width: 11) == "01299990000")
        #expect(zeroPaddedDecimal(0, width: 3) == "000")
        #expect(zeroPaddedDecimal(42, width: 0) == "42")
        #expect(zeroPaddedDecimal(12345, width: 3) == "12345")
        for n in [0, 7, 99, 100, 123_456_789, Int(Int32.max)] {
            for w in 0...20 {
                let plain = String(n)
                #expect(zeroPaddedDecimal(n, width: w) == String(repeating: "0", count: max(0, w - plain.count)) + plain)
            }
        }
    }

    @Test func sameAsJoined() {
        let cases: [[String]] = [
            [], [""], ["a"], ["", "", ""],
            ["SIP/2.0/", "UDP", " ", "192.0.2.10:5060", ";branch=", "z9hG4bK-1f"], // longer than 15 bytes
            ["sip:", "0123451011", "@", "sip.example.net"],
            ["<", "sip:1000@pbx", ">"], // up to 15 bytes: stored inline
            ["héllo ", "wörld ", "→ ", "日本語"], // multi-byte UTF-8
            [String(repeating: "x", count: 1_000), "", "y"],
        ]
        for parts in cases {
            let joined = parts.joined()
            let got: String
            switch parts.count {
            case 0: got = concat()
            case 1: got = concat(parts[0])
            case 3: got = concat(parts[0], parts[1], parts[2])
            case 4: got = concat(parts[0], parts[1], parts[2], parts[3])
            case 6: got = concat(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5])
            default: got = parts.dropFirst().reduce(parts[0]) { concat($0, $1) }
            }
            #expect(got == joined)
            #expect(Array(got.utf8) == Array(joined.utf8))
            #expect(got.utf8.count == joined.utf8.count)
        }
    }

    /// Exactly 15 bytes is the last length built on the stack, 16 the first in its own buffer.
    @Test func aroundTheInlineLimit() {
        for n in 0...40 {
            let a = String(repeating: "a", count: n / 2), b = String(repeating: "b", count: n - n / 2)
            #expect(concat(a, b) == a + b)
        }
        #expect(hostPort("192.0.2.10", 5060) == "192.0.2.10:5060") // 15 bytes
        #expect(hostPort("192.0.2.100", 5060) == "192.0.2.100:5060")
        #expect(hostPort("2001:db8::1", 5061) == "[2001:db8::1]:5061")
    }

    @Test func hexTaggedIsPrefixAndRadix16() {
        for n: UInt64 in [0, 1, 9, 10, 15, 16, 255, 256, 0xabc, 0xffff_ffff, 0x1234_5678_9abc_def0, .max] {
            #expect(hexTagged("z9hG4bK-", n) == "z9hG4bK-" + String(n, radix: 16))
            #expect(hexTagged("", n) == String(n, radix: 16))
        }
    }
}
