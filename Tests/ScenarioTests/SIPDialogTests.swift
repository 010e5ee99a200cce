import Foundation
import Testing
@testable import Scenario
@testable import Telephony
import Trace
import SIP
import SimCore

/// Issue 10: partitions, IPv6 URI hosts, answered_by only when answered.
@Suite struct SIPDialogTests {
    let sec: Int64 = 1_000_000_000

    @Test func partitionParsesAndFormats() throws {
        #expect(try CommandParser.parse("partition pbx1 | sip1 sip2") == .partition(["pbx1"], ["sip1", "sip2"]))
        #expect(try CommandParser.parse("partition pbx1|sip1") == .partition(["pbx1"], ["sip1"]))
        #expect(try CommandParser.parse("heal") == .heal)
        for text in ["partition a b | c", "heal"] {
            let c = try CommandParser.parse(text)
            #expect(try CommandParser.parse(CommandParser.format(c)) == c)
        }
        for bad in ["partition a b", "partition | a", "partition a |", "partition a | b | c", "partition a | a", "heal now"] {
            #expect(throws: CommandParser.ParseError.self, "\(bad)") { _ = try CommandParser.parse(bad) }
        }
    }

    /// Both sides stay up; packets between them are dropped in both directions; others pass; heal restores.
    @Test func partitionDropsOnlyBetweenTheSides() {
        var n = Network(latency: .milliseconds(10), rng: Xoshiro256(seed: 1))
        n.addHost(name: "pbx1", ip: "198.51.100.1")
        n.addHost(name: "sip1", ip: "192.0.2.10")
        n.addHost(name: "sip2", ip: "192.0.2.11")
        n.addHost(name: "pbx2", ip: "198.51.100.2")
        n.partition(["pbx1"], ["sip1", "sip2"])
        #expect(n.fate(from: "198.51.100.1", to: "192.0.2.10", reliable: false) == .droppedPartition)
        #expect(n.fate(from: "192.0.2.11", to: "198.51.100.1", reliable: true) == .droppedPartition)
        #expect(n.fate(from: "198.51.100.2", to: "192.0.2.10", reliable: false) == .delivered)
        #expect(n.fate(from: "192.0.2.10", to: "192.0.2.11", reliable: false) == .delivered)
        #expect(n.isUp("192.0.2.10") && n.isUp("198.51.100.1"))
        n.heal()
        #expect(n.fate(from: "198.51.100.1", to: "192.0.2.10", reliable: false) == .delivered)
    }

    /// A partition between PBX-1 and sip1 is a silent target for PBX-1 only: the INVITE is sent at
    /// 0, 0.5, 1.5 and 3.5 s into the partition, the failover to 192.0.2.11 comes at 4 s and is
    /// answered; PBX-2 keeps its registration with sip1 throughout.
    @Test func partitionMakesTheTargetSilentForOneSideOnly() throws {
        let (r, t) = try simulate(topology(pbx1Card: "invite_timeout: 4s"), timeline: [
            ("0s", "partition pbx1.example | sip1.itsp.example"), ("1s", "dial PBX-1/1000 012-345-1011 hold 5s"),
            ("30s", "heal"), ("40s", "dial PBX-1/1000 012-345-1011 hold 5s")])
        let toSip1 = t.sipMessages.filter { $0.callID == 1 && $0.method == "INVITE" && $0.dst == "192.0.2.10:5060" }
        #expect(toSip1.map(\.atNs) == [1 * sec, 1 * sec + sec / 2, 2 * sec + sec / 2, 4 * sec + sec / 2])
        #expect(toSip1.allSatisfy { !$0.delivered })
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11"] && r.calls[1]?.outcome == "answered" && r.calls[1]?.route == "sip")
        #expect(t.sipMessages.contains { $0.method == "REGISTER" && $0.src.hasPrefix("198.51.100.2") && $0.dst == "192.0.2.10:5060" && $0.delivered })
        #expect(r.calls[2]?.sipTargets == ["192.0.2.10"] && r.calls[2]?.outcome == "answered")
    }

    /// The `call` row's answered_by is NULL unless the call was answered: here the far end answers
    /// at 4.02 s but the caller hangs up at 4.03 s, before the 200 OK reaches PBX-1.
    @Test func answeredByOnlyWhenAnswered() throws {
        let (r, _) = try simulate(topology(), timeline: [("1s", "dial PBX-1/1000 012-345-1011"), ("4.035s", "hangup 1")])
        #expect(r.calls[1]?.outcome == "abandoned")
        #expect(r.calls[1]?.answeredBy == nil)
    }

    /// RFC 3261 §25.1 / RFC 5118: an IPv6 literal is bracketed as a URI host; names and IPv4 are not.
    @Test func ipv6URIHostsAreBracketed() throws {
        #expect(uriHost("2001:db8::11") == "[2001:db8::11]")
        #expect(uriHost("[2001:db8::11]") == "[2001:db8::11]")
        #expect(uriHost("192.0.2.10") == "192.0.2.10" && uriHost("itsp.example") == "itsp.example")
        var card = CardConfig(sipServer: .ip("2001:db8::11", port: nil), numbers: [])
        #expect(card.sipDomain == "[2001:db8::11]")
        card.sipServer = .ip("2001:db8::11", port: 5070)
        #expect(card.sipDomain == "[2001:db8::11]:5070")
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scenarios/ipv6-aaaa.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let v6 = try ScenarioLoader.load(path: path, text: text)
        let t = MemoryTraceSink()
        _ = ScenarioRunner.run(v6, sink: t, keepAll: true)
        let register = try #require(t.sipMessages.first { $0.method == "REGISTER" && $0.src.hasPrefix("[2001:db8:2::1]") })
        #expect(register.raw.hasPrefix("REGISTER sip:[2001:db8::11] SIP/2.0\r\n"), "\(register.raw.prefix(60))")
        #expect(register.raw.contains("To: <sip:0123451011@[2001:db8::11]>"))
    }

    /// Item 1: hanging up while the far end rings sends CANCEL on the INVITE's branch; the proxy
    /// forwards it; PBX-2 answers 200 to the CANCEL and 487 to the INVITE, which is ACKed hop by
    /// hop; Extn.1011 is idle again, so the next call to it is answered.
    @Test func hangupWhileRingingCancels() throws {
        let (r, t) = try simulate(topology(), timeline: [("1s", "dial PBX-1/1000 012-345-1011"), ("3s", "hangup 1"),
                                                         ("10s", "dial PBX-1/1001 012-345-1011 hold 3s")])
        #expect(r.calls[1]?.outcome == "abandoned" && r.calls[1]?.answeredBy == nil)
        let invite = try #require(t.sipMessages.first { $0.callID == 1 && $0.method == "INVITE" && $0.src.hasPrefix("198.51.100.1") })
        let cancel = try #require(t.sipMessages.first { $0.callID == 1 && $0.method == "CANCEL" && $0.src.hasPrefix("198.51.100.1") })
        #expect(cancel.atNs == 3 * sec && cancel.dst == "192.0.2.10:5060" && cancel.branch == invite.branch)
        #expect(cancel.raw.contains("CSeq: 1 CANCEL") && !cancel.raw.contains("Content-Type"))
        #expect(t.sipMessages.contains { $0.method == "CANCEL" && $0.src.hasPrefix("192.0.2.10") && $0.dst.hasPrefix("198.51.100.2") })
        #expect(t.sipMessages.contains { $0.statusCode == 487 && $0.src.hasPrefix("198.51.100.2") })
        #expect(t.sipMessages.contains { $0.statusCode == 487 && $0.dst.hasPrefix("198.51.100.1") })
        // ACK for the 487 from PBX-1 to the proxy, on the INVITE's branch (§17.1.1.3).
        #expect(t.sipMessages.contains { $0.method == "ACK" && $0.src.hasPrefix("198.51.100.1") && $0.branch == invite.branch })
        #expect(!t.sipMessages.contains { $0.callID == 1 && $0.statusCode == 200 && $0.raw.contains("INVITE") && $0.dst.hasPrefix("198.51.100.1") })
        #expect(r.calls[2]?.outcome == "answered" && r.calls[2]?.answeredBy == "PBX-2/1011")
    }

    /// Item 1, §9.1 and §15: the caller hangs up after the far end answered but before its 200 OK
    /// arrives. The CANCEL goes at once (a 180 was seen); the 200 crosses it and is ACKed, then
    /// released with BYE; Extn.1011 is free for the next call (before, it stayed off-hook: busy).
    @Test func twoHundredCrossingTheCancelIsAckedAndByed() throws {
        let (r, t) = try simulate(topology(), timeline: [("1s", "dial PBX-1/1000 012-345-1011"), ("4.035s", "hangup 1"),
                                                         ("20s", "dial PBX-1/1000 012-345-1011 hold 3s")])
        #expect(r.calls[1]?.outcome == "abandoned")
        let ok = try #require(t.sipMessages.first { $0.callID == 1 && $0.statusCode == 200 && $0.dst.hasPrefix("198.51.100.1") && $0.raw.contains("CSeq: 1 INVITE") })
        let ack = try #require(t.sipMessages.first { $0.callID == 1 && $0.method == "ACK" && $0.src.hasPrefix("198.51.100.1") })
        let bye = try #require(t.sipMessages.first { $0.callID == 1 && $0.method == "BYE" && $0.src.hasPrefix("198.51.100.1") })
        #expect(ack.atNs == ok.atNs + 10_000_000 && ack.dst.hasPrefix("198.51.100.2"))
        #expect(bye.atNs == ack.atNs && bye.raw.contains("CSeq: 2 BYE"))
        #expect(r.calls[2]?.outcome == "answered")
    }

    /// Item 1: a call abandoned during failover stops the failover; with no provisional yet the
    /// CANCEL waits (§9.1), so nothing is sent to the third target and nothing is rerouted.
    @Test func hangupDuringFailoverStopsIt() throws {
        let (r, t) = try simulate(topology(pbx1Card: "invite_timeout: 4s"), timeline: [
            ("0s", "down sip1.itsp.example sip2.itsp.example sip3.itsp.example"), ("1s", "dial PBX-1/1000 012-345-1011"), ("6s", "hangup 1")])
        #expect(r.calls[1]?.outcome == "abandoned" && r.calls[1]?.rerouted == false)
        #expect(!t.sipMessages.contains { $0.callID == 1 && $0.dst == "192.0.2.12:5060" })
        #expect(!t.sipMessages.contains { $0.callID == 1 && $0.method == "CANCEL" })
        #expect(t.steps(.reroute, call: 1).isEmpty)
        #expect(t.steps(.cancel, call: 1).first?.atNs == 6 * sec)
    }

    /// Item 8 (checklist 26, Yealink's semantics): `failback: duration` starts when the later
    /// target answers at all. Call 1 fails over from the silent sip1 at 5 s and meets 486 (busy)
    /// through sip2, whose 100 Trying at 5.02 s starts a 60 s window: call 2 at 30 s starts at
    /// sip2, call 3 at 70 s (after 65.02 s) at sip1 again. Before, only a connected call opened it.
    @Test func failbackDurationStartsAtAnyLiveAnswer() throws {
        let (r, t) = try simulate(topology(pbx1Card: "invite_timeout: 4s\nfailback: duration 60s"), timeline: [
            ("500ms", "down sip1.itsp.example"), ("600ms", "busy PBX-2/1011"), ("1s", "dial PBX-1/1000 012-345-1011"),
            ("10s", "up sip1.itsp.example"), ("20s", "idle PBX-2/1011"),
            ("30s", "dial PBX-1/1000 012-345-1011 hold 1s"), ("70s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        #expect(r.calls[1]?.outcome == "busy" && r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11"])
        let fb = try #require(t.steps(.failover, call: 1).first { $0.detail.hasPrefix("fail-back") })
        #expect(fb.atNs == 5 * sec + 20_000_000)
        #expect(r.calls[2]?.sipTargets == ["192.0.2.11"] && r.calls[2]?.outcome == "answered")
        #expect(r.calls[3]?.sipTargets == ["192.0.2.10"] && r.calls[3]?.outcome == "answered")
    }

    /// Item 6: warm start (the default). At time zero both cards are registered, as on a site that
    /// has run for hours: a call dialled at 0 s is answered over SIP; nothing before time zero is
    /// traced; the boot happened at −60 s, so the first refresh cycle starts at 90 % of 3600 s after
    /// the 200 OK at −59.96 s, at 3180.04 s.
    @Test func warmStartIsRegisteredAtTimeZero() throws {
        let warm = topology().replacingOccurrences(of: "cold_start: true\n", with: "")
        #expect(!warm.contains("cold_start"))
        let (r, t) = try simulate(warm, timeline: [("0s", "dial PBX-1/1000 012-345-1011 hold 5s"), ("3200s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        #expect(r.calls[1]?.outcome == "answered" && r.calls[1]?.route == "sip" && r.calls[1]?.sipTargets == ["192.0.2.10"])
        #expect(t.events.allSatisfy { e in
            switch e { case .step(let s): return s.atNs >= 0; case .sipMessage(let m): return m.atNs >= 0; case .callEnded: return true }
        })
        let warmSteps = t.steps(.registration).filter { $0.detail.hasPrefix("warm start: registered at 192.0.2.10:5060") }
        #expect(warmSteps.map(\.actor) == ["PBX-1/V-SIPGW", "PBX-2/V-SIPGW"] && warmSteps.allSatisfy { $0.atNs == 0 })
        // The refresh cycle starts at 3180.04 s; the SRV record (TTL 300 s) is looked up again
        // (20 ms round trip), so the REGISTER goes at 3180.06 s.
        #expect(t.steps(.registration).first { $0.actor == "PBX-1/V-SIPGW" && $0.detail.hasPrefix("registration cycle starts") }?.atNs == 3180 * sec + 40_000_000)
        let firstRegister = try #require(t.sipMessages.first { $0.method == "REGISTER" && $0.src.hasPrefix("198.51.100.1") })
        #expect(firstRegister.atNs == 3180 * sec + 60_000_000)
    }

    /// Item 6: `cold_start: true` watches the boot; a call dialled at 0 s meets the 404 of a far
    /// PBX that has not registered yet, and the carrier's step says so.
    @Test func coldStartSaysWhoIsNotRegistered() throws {
        let (r, t) = try simulate(topology(), timeline: [("0s", "dial PBX-1/1000 012-345-1011")])
        #expect(r.calls[1]?.outcome == "failed")
        #expect(t.steps(.proxy, call: 1).contains { $0.detail == "INVITE for 0123451011: PBX-2 is not registered with itsp.example: 404" })
    }

    /// Item 2 (§13.3.1.4, §13.2.2.4, §16.7): PBX-2 answers at 4.02 s but every ACK is lost (a
    /// partition between the two PBXs; the 200 OK still travels through sip1). PBX-2 retransmits
    /// the 200 at T1 doubling to T2 (4.52, 5.52, 7.52, 11.52 s, then every 4 s: ten copies); sip1
    /// forwards each copy statelessly and PBX-1 ACKs each again. At 64·T1 (36.02 s) PBX-2 gives
    /// up and hangs up with BYE, which gets through once the partition heals at 37 s; the call is
    /// recorded as released by the callee and Extn.1011 is free for the next call.
    @Test func twoXXIsRetransmittedUntilAckAndTheUASGivesUpWithBye() throws {
        let (r, t) = try simulate(topology(), timeline: [
            ("1s", "dial PBX-1/1000 012-345-1011 hold 60s"), ("2s", "partition pbx1.example | pbx2.example"), ("37s", "heal"),
            ("50s", "dial PBX-1/1001 012-345-1011 hold 2s")])
        let oks = t.sipMessages.filter { $0.callID == 1 && $0.statusCode == 200 && $0.src.hasPrefix("198.51.100.2") && $0.raw.contains("CSeq: 1 INVITE") }
        let ms: Int64 = 1_000_000
        #expect(oks.map(\.atNs) == [4020, 4520, 5520, 7520, 11520, 15520, 19520, 23520, 27520, 31520, 35520].map { $0 * ms })
        #expect(oks.dropFirst().allSatisfy { $0.retransmission })
        let forwarded = t.sipMessages.filter { $0.callID == 1 && $0.statusCode == 200 && $0.src.hasPrefix("192.0.2.10") && $0.raw.contains("CSeq: 1 INVITE") }
        #expect(forwarded.count == 11)
        let acks = t.sipMessages.filter { $0.callID == 1 && $0.method == "ACK" && $0.src.hasPrefix("198.51.100.1") }
        #expect(acks.count == 11 && acks.allSatisfy { !$0.delivered })
        let bye = try #require(t.sipMessages.first { $0.callID == 1 && $0.method == "BYE" && $0.src.hasPrefix("198.51.100.2") })
        #expect(bye.atNs == 36020 * ms && bye.dst == "198.51.100.1:5060" && bye.raw.contains("CSeq: 1 BYE"))
        #expect(t.steps(.callEnded, call: 1).contains { $0.detail.hasPrefix("no ACK for the 200 OK within 64·T1") && $0.atNs == 36020 * ms })
        #expect(r.calls[1]?.outcome == "answered")
        let rec = try #require(t.events.compactMap { e -> CallRecord? in if case .callEnded(let c) = e, c.callID == 1 { return c }; return nil }.first)
        #expect(rec.releasedBy == "callee" && rec.endedAtNs == 37530 * ms)
        #expect(r.calls[2]?.outcome == "answered" && r.calls[2]?.answeredBy == "PBX-2/1011")
    }

    /// Item 4: BYE from either side, and a call record that says which. `hangup 1 callee`: PBX-2
    /// sends BYE (CSeq 1 BYE, From with its tag) to PBX-1's Contact at 10 s; PBX-1 answers 200 and
    /// ends the call at 10.01 s, released by the callee. Call 2 is hung up by its caller.
    @Test func byeFromEitherSide() throws {
        let (_, t) = try simulate(topology(), timeline: [("1s", "dial PBX-1/1000 012-345-1011 hold 60s"), ("10s", "hangup 1 callee"),
                                                         ("20s", "dial PBX-1/1001 012-345-1011 hold 5s")])
        let bye = try #require(t.sipMessages.first { $0.callID == 1 && $0.method == "BYE" })
        #expect(bye.src == "198.51.100.2:5060" && bye.dst == "198.51.100.1:5060" && bye.atNs == 10 * sec)
        #expect(bye.raw.contains("CSeq: 1 BYE") && bye.raw.contains("From: <sip:0123451011@itsp.example>;tag="))
        #expect(t.sipMessages.contains { $0.callID == 1 && $0.statusCode == 200 && $0.src.hasPrefix("198.51.100.1") && $0.raw.contains("CSeq: 1 BYE") })
        let records = t.events.compactMap { e -> CallRecord? in if case .callEnded(let c) = e { return c }; return nil }
        let r1 = try #require(records.first { $0.callID == 1 })
        #expect(r1.releasedBy == "callee" && r1.endedAtNs == 10 * sec + 10_000_000)
        #expect(records.first { $0.callID == 2 }?.releasedBy == "caller")
        // The called side of a public-route call hangs up too (the release comes over the PSTN).
        let (_, t2) = try simulate(topology(), timeline: [("0s", "down sip1.itsp.example sip2.itsp.example sip3.itsp.example"),
                                                          ("1s", "dial PBX-1/1000 012-345-1011 hold 60s"), ("60s", "hangup 1 callee")])
        let r2 = t2.events.compactMap { e -> CallRecord? in if case .callEnded(let c) = e { return c }; return nil }.first
        #expect(r2?.route == .publicTrunk && r2?.releasedBy == "callee" && r2?.endedAtNs == 60 * sec)
        #expect(try CommandParser.parse("hangup 3 callee") == .hangup(call: 3, callee: true))
        #expect(CommandParser.format(.hangup(call: 3, callee: true)) == "hangup 3 callee")
    }
}
