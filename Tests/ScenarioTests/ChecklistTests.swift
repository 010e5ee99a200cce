import Foundation
import Testing
@testable import Scenario
@testable import Telephony
import SIP
import Trace
import SimCore

/// Checklist items of the domain reference (§6) that need more than one assertion each: 8, 11
/// (with TLS), 17, 21 and 23, through the whole model and against the checklist's numbers.
@Suite struct ChecklistTests {
    let allDown = ("0s", "down sip1.itsp.example sip2.itsp.example sip3.itsp.example")

    /// The seed topology with PBX-1's card pointed elsewhere and extra DNS records for itsp.example.
    func site(card: String, records: String = "", pbx1: String = "") -> String {
        var t = topology()
        t = t.replacingOccurrences(of: "      sip_server: 192.0.2.10\n      sip_server_failover: 192.0.2.11\n      registrar: itsp.example\n      registrar_failover: 192.0.2.11\n",
                                   with: card.split(separator: "\n").map { "      " + $0 + "\n" }.joined())
        if !records.isEmpty {
            t = t.replacingOccurrences(of: "      ttl: 300s\n      srv:\n", with: "      ttl: 300s\n" + records.split(separator: "\n").map { "      " + $0 + "\n" }.joined() + "      srv:\n")
        }
        if !pbx1.isEmpty {
            t = t.replacingOccurrences(of: "    public_trunk: {channels: 4, numbers: [\"098-765-4321\"]}\n    v_sipgw:",
                                       with: "    public_trunk: {channels: 4, numbers: [\"098-765-4321\"]}\n" + pbx1.split(separator: "\n").map { "    " + $0 + "\n" }.joined() + "    v_sipgw:")
        }
        return t
    }

    // MARK: - Item 8

    /// Item 8: every next-target attempt is a new transaction (new Via branch) of the same request:
    /// the same Request-URI, Call-ID, From (with its tag), To, CSeq number and method, Contact and
    /// SDP body, checked on the text that went on the wire to each of the three silent targets.
    @Test func sameRequestToEveryTarget() throws {
        let (r, t) = try simulate(topology(), timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011")])
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11", "192.0.2.12"])
        // The first send of each transaction (retransmissions repeat it byte for byte).
        let firsts = t.invites(call: 1).filter { !$0.retransmission }
        #expect(firsts.count == 3)
        let msgs = try firsts.map { try SIPMessage.parse($0.raw) }
        #expect(Set(msgs.compactMap(\.branch)).count == 3)
        for m in msgs.dropFirst() {
            #expect(m.requestURI == msgs[0].requestURI)
            #expect(m.callID == msgs[0].callID)
            #expect(m.header("From") == msgs[0].header("From") && m.fromTag != nil)
            #expect(m.header("To") == msgs[0].header("To"))
            #expect(m.cseq?.number == 1 && m.cseq?.number == msgs[0].cseq?.number && m.cseq?.method == "INVITE")
            #expect(m.header("Contact") == msgs[0].header("Contact"))
            #expect(!m.body.isEmpty && m.body == msgs[0].body)
            // Nothing else differs but the branch: the same headers in the same order.
            var a = m, b = msgs[0]
            a.removeHeaders("Via"); b.removeHeaders("Via")
            #expect(a == b)
        }
        // Retransmissions of one transaction are the same text as its first send.
        for f in firsts {
            for x in t.invites(call: 1) where x.branch == f.branch { #expect(x.raw == f.raw) }
        }
    }

    // MARK: - Item 11

    /// Item 11: a host name with an explicit port is resolved by A/AAAA only, never SRV, and the
    /// request goes to that port.
    @Test func nameWithPortUsesARecordsOnly() throws {
        let yaml = site(card: "sip_server: itsp.example:5070\nregistrar: 192.0.2.11", records: "a: [192.0.2.11]")
        let (r, t) = try simulate(yaml, timeline: [("1s", "dial PBX-1/1000 012-345-1011 hold 5s")])
        let queries = t.steps(.dnsQuery, call: 1).map(\.detail)
        #expect(!queries.isEmpty)
        #expect(queries.allSatisfy { !$0.hasPrefix("SRV") })
        #expect(queries.first?.hasPrefix("A itsp.example") == true)
        #expect(t.invites(call: 1).map(\.dst) == ["192.0.2.11:5070"])
        #expect(r.calls[1]?.outcome == "answered" && r.calls[1]?.route == "sip")
    }

    /// Item 11: a name without SRV records falls back to its A records at port 5060.
    @Test func noSRVFallsBackToARecordsOn5060() throws {
        let yaml = site(card: "sip_server: carrier.example\nregistrar: 192.0.2.11", records: "")
            .replacingOccurrences(of: "  records:\n", with: "  records:\n    carrier.example: {a: [192.0.2.11]}\n")
        let (r, t) = try simulate(yaml, timeline: [("1s", "dial PBX-1/1000 012-345-1011 hold 5s")])
        let queries = t.steps(.dnsQuery, call: 1).map(\.detail)
        #expect(queries.first?.hasPrefix("SRV _sip._udp.carrier.example") == true)
        #expect(queries.contains { $0.hasPrefix("A carrier.example") })
        #expect(t.invites(call: 1).map(\.dst) == ["192.0.2.11:5060"])
        #expect(r.calls[1]?.route == "sip")
    }

    /// Item 11 with TLS: `_sips._tcp` SRV records (port 5061 by default), Via `SIP/2.0/TLS`, no
    /// retransmission ever, the per-target timeout still moves on, and the handshake costs one
    /// extra round trip on a new connection only.
    @Test func tlsTrunk() throws {
        let yaml = site(card: "sip_server: itsp.example\nregistrar: itsp.example\ntransport: tls\ninvite_timeout: 4s",
                        records: "srv_sips:\n  - {priority: 10, weight: 0, target: sip2.itsp.example}\n  - {priority: 20, weight: 0, target: sip3.itsp.example}")
        let (r, t) = try simulate(yaml, timeline: [("1s", "dial PBX-1/1000 012-345-1011 hold 5s"),
                                                   ("20s", "down sip2.itsp.example"),
                                                   ("21s", "dial PBX-1/1001 012-345-1011 hold 5s")])
        // RFC 3263 §4.1: the SIPS service, never _sip._udp.
        let srvQueries = t.steps(.dnsQuery).filter { $0.actor == "PBX-1/resolver" }.map(\.detail)
        #expect(srvQueries.first?.hasPrefix("SRV _sips._tcp.itsp.example") == true)
        #expect(!srvQueries.contains { $0.contains("_sip._udp") })
        // The REGISTER opens the connection to sip2 with one extra round trip: its 200 OK leaves
        // sip2 10 ms (one way) + 20 ms (handshake) after the REGISTER left PBX-1.
        let reg = try #require(t.sipMessages.first { $0.method == "REGISTER" && $0.src.hasPrefix("198.51.100.1") })
        #expect(reg.dst == "192.0.2.11:5061" && reg.transport == "TLS")
        #expect(try SIPMessage.parse(reg.raw).header("Via")?.hasPrefix("SIP/2.0/TLS ") == true)
        let regOK = try #require(t.sipMessages.first { $0.statusCode == 200 && $0.dst.hasPrefix("198.51.100.1") })
        #expect(regOK.atNs == reg.atNs + 30 * ms)
        #expect(t.steps(.tlsConnect).first { $0.actor == "pbx1.example" }?.detail.contains("192.0.2.11:5061") == true)
        // Call 1 reuses the connection: 100 Trying back after one round trip, no handshake.
        let inv1 = t.invites(call: 1)
        #expect(inv1.map(\.dst) == ["192.0.2.11:5061"])
        let trying = try #require(t.sipMessages.first { $0.callID == 1 && $0.statusCode == 100 && $0.dst.hasPrefix("198.51.100.1") })
        #expect(trying.atNs == inv1[0].atNs + 10 * ms)
        #expect(r.calls[1]?.outcome == "answered" && r.calls[1]?.route == "sip")
        // Call 2: sip2 is down (its connection is gone): one INVITE, no retransmission, the next
        // SRV target after the 4 s timeout, at its default port 5061, over a new connection.
        let inv2 = t.invites(call: 2)
        #expect(inv2.map(\.dst) == ["192.0.2.11:5061", "192.0.2.12:5061"])
        #expect(inv2.allSatisfy { !$0.retransmission && $0.transport == "TLS" })
        #expect(inv2[1].atNs == inv2[0].atNs + 4 * sec)
        #expect(t.steps(.tlsConnect, call: 2).map(\.detail) == ["TLS connection to 192.0.2.12:5061: handshake, one extra round trip (20ms)"])
        #expect(r.calls[2]?.sipTargets == ["192.0.2.11", "192.0.2.12"] && r.calls[2]?.route == "sip")
    }

    /// TLS in RFC mode: no retransmissions, Timer B still bounds the attempt at 64·T1 = 32 s.
    @Test func tlsTimerBStillBoundsTheAttempt() throws {
        let yaml = site(card: "sip_server: 192.0.2.10\nsip_server_failover: 192.0.2.11\nregistrar: 192.0.2.11\ntransport: tls\ninvite_timeout: rfc",
                        records: "")
        let (r, t) = try simulate(yaml + "defaults: {no_answer_timeout: 5m}\n",
                                  timeline: [("0s", "down sip1.itsp.example"), ("1s", "dial PBX-1/1000 012-345-1011 hold 5s")])
        let inv = t.invites(call: 1)
        #expect(inv.map(\.dst) == ["192.0.2.10:5061", "192.0.2.11:5061"])
        #expect(inv[1].atNs - inv[0].atNs == 32 * sec)
        #expect(t.steps(.timerFired, call: 1).contains { $0.detail.hasPrefix("Timer B") })
        #expect(r.calls[1]?.route == "sip")
    }

    // MARK: - Item 17

    /// Item 17: a call that failed over SIP and is rerouted is TRS-checked on the digits the user
    /// dialled, not on the ARS-modified ones. Level 3 denies `012`: the dialled 0123451011 is
    /// refused after the failover with no trunk seized. Level 4 denies `0077`, which only the
    /// modified digits (00770123451011) begin with: that call goes out.
    @Test func trsJudgesReroutedCallsOnDialledDigits() throws {
        var yaml = site(card: "sip_server: 192.0.2.10\nsip_server_failover: 192.0.2.11\nregistrar: itsp.example\nregistrar_failover: 192.0.2.11",
                        pbx1: """
                        trs: {3: {denied: ["012"]}, 4: {denied: ["0077"]}}
                        ars:
                          leading_numbers: [{digits: "0", plan: 1}]
                          plans: {1: {time_blocks: [{start: "00:00", carriers: [KDDI]}]}}
                          carriers:
                            KDDI: {trunk_groups: [1], access_code: "0077", modify: "CH"}
                        """)
        yaml = yaml.replacingOccurrences(of: "extensions: [{number: \"1000\"}, {number: \"1001\"}]",
                                         with: "extensions: [{number: \"1000\", trs_level: 3}, {number: \"1001\", trs_level: 4}]")
        let (r, t) = try simulate(yaml, timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011"), ("1s", "dial PBX-1/1001 012-345-1011 hold 5s")])
        // Both calls failed over all three targets and were rerouted 12 s after dialling.
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11", "192.0.2.12"] && r.calls[2]?.sipAttempts == 3)
        #expect(t.steps(.reroute, call: 1).first?.atNs == 13 * sec)
        #expect(t.steps(.reroute, call: 2).first?.atNs == 13 * sec)
        #expect(r.calls[1]?.outcome == "rejected" && r.calls[1]?.rerouted == true)
        #expect(t.steps(.trunkSeized, call: 1).isEmpty)
        #expect(t.steps(.routeSelected, call: 1).contains { $0.detail == "TRS level 3 denies 0123451011: reorder tone" })
        #expect(r.calls[2]?.outcome == "answered" && r.calls[2]?.route == "public" && r.calls[2]?.answeredBy == "PBX-2/1011")
        #expect(t.steps(.trunkSeized, call: 2).first { $0.actor == "PBX-1" }?.detail.hasSuffix("carrier KDDI, sends 00770123451011") == true)
    }
}
