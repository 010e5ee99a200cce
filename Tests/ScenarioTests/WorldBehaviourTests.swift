import Testing
@testable import Scenario
import Trace
import SimCore

/// Checklist items of the domain reference (§6), through the whole model.
@Suite struct WorldBehaviourTests {
    let allDown = ("0s", "down sip1.itsp.example sip2.itsp.example sip3.itsp.example")

    /// Item 14: time to reroute = sum of the per-target timeouts: 3 silent targets, 12 s with 4 s.
    @Test func panasonicModeReroutesAfterTwelveSeconds() throws {
        let (r, t) = try simulate(topology(), timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011")])
        let reroute = try #require(t.steps(.reroute, call: 1).first)
        #expect(reroute.atNs == 13 * sec) // dialled at 1 s
        #expect(r.calls[1]?.route == "public")
    }

    /// Item 14, RFC mode: 32 s per target; two targets 64 s.
    @Test func rfcModeReroutesAfterTimerB() throws {
        let topo = topology(pbx1Card: "invite_timeout: rfc", srv: "        - {priority: 10, weight: 0, port: 5060, target: sip2.itsp.example}",
                            defaults: "no_answer_timeout: 5m")
        let (_, t) = try simulate(topo, timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011")])
        let reroute = try #require(t.steps(.reroute, call: 1).first)
        #expect(reroute.atNs == 65 * sec)
        // Seven sends per target at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s after its start.
        let to10 = t.invites(call: 1).filter { $0.dst.hasPrefix("192.0.2.10") }.map { $0.atNs - sec }
        #expect(to10 == [0, 500, 1500, 3500, 7500, 15500, 31500].map { $0 * ms })
        #expect(t.steps(.timerFired, call: 1).contains { $0.detail.hasPrefix("Timer B") })
    }

    /// Item 3 through the model: T1 = 250 ms halves Timer B.
    @Test func t1ScalesTimerB() throws {
        let topo = topology(pbx1Card: "invite_timeout: rfc\nt1: 250ms", srv: "        - {priority: 10, weight: 0, port: 5060, target: sip2.itsp.example}",
                            defaults: "no_answer_timeout: 5m")
        let (_, t) = try simulate(topo, timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011")])
        #expect(try #require(t.steps(.reroute, call: 1).first).atNs == 33 * sec)
    }

    /// Items 7 and 8: 503 with Retry-After 120 s: the next target at once with a new branch, and
    /// no request to that address for 120 s.
    @Test func retryAfterBlocklist() throws {
        let (r, t) = try simulate(topology(), timeline: [
            ("500ms", "respond sip1.itsp.example 503 retry-after 120s"),
            ("1s", "dial PBX-1/1000 012-345-1011 hold 5s"),
            ("60s", "dial PBX-1/1000 012-345-1011 hold 5s"),
            ("60s", "respond sip1.itsp.example normal"),
            ("122s", "dial PBX-1/1000 012-345-1011 hold 5s"),
        ])
        let i1 = t.invites(call: 1)
        #expect(i1.map(\.dst) == ["192.0.2.10:5060", "192.0.2.11:5060"])
        #expect(i1[1].atNs == i1[0].atNs + 20 * ms) // one round trip
        #expect(i1[0].branch != i1[1].branch)
        let added = try #require(t.steps(.blocklistAdded).first)
        #expect(added.detail.contains("192.0.2.10") && added.detail.contains("121.020s"))
        #expect(t.invites(call: 2).map(\.dst) == ["192.0.2.11:5060"])
        #expect(t.steps(.targetSkipped, call: 2).contains { $0.detail.contains("blocklisted") })
        #expect(t.steps(.blocklistExpired).first?.atNs == 121_020 * ms)
        #expect(t.invites(call: 3).map(\.dst) == ["192.0.2.10:5060"])
        #expect(r.calls.values.allSatisfy { $0.outcome == "answered" && $0.route == "sip" })
    }

    /// 503 without Retry-After: next target, no blocklist.
    @Test func serviceUnavailableWithoutRetryAfter() throws {
        let (r, t) = try simulate(topology(), timeline: [("500ms", "respond sip1.itsp.example 503"), ("1s", "dial PBX-1/1000 012-345-1011")])
        #expect(t.steps(.blocklistAdded).isEmpty)
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11"])
    }

    /// Item 4 through the model: 100 Trying then silence: no retransmission after the 100, no
    /// failover, the caller's no-answer timer ends the call with a CANCEL.
    @Test func trying100ThenSilence() throws {
        let (r, t) = try simulate(topology(defaults: "no_answer_timeout: 20s"),
                                  timeline: [("500ms", "respond sip1.itsp.example 100"), ("1s", "dial PBX-1/1000 012-345-1011")])
        let inv = t.invites(call: 1)
        #expect(inv.count == 1)
        #expect(r.calls[1]?.outcome == "no-answer")
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10"])
        #expect(t.sipMessages.contains { $0.callID == 1 && $0.method == "CANCEL" && $0.atNs == 21 * sec })
    }

    /// Item 6 through the model: TCP refused connection: next target after one round trip, no
    /// retransmissions.
    @Test func tcpRefused() throws {
        let (r, t) = try simulate(topology(pbx1Card: "transport: tcp"),
                                  timeline: [("500ms", "refuse sip1.itsp.example"), ("1s", "dial PBX-1/1000 012-345-1011")])
        let inv = t.invites(call: 1)
        #expect(inv.map(\.dst) == ["192.0.2.10:5060", "192.0.2.11:5060"])
        #expect(inv.allSatisfy { $0.transport == "TCP" && !$0.retransmission })
        #expect(inv[1].atNs - inv[0].atNs == 20 * ms)
        #expect(r.calls[1]?.route == "sip")
    }

    /// Item 12: DNS answers are cached for their TTL; after expiry the resolver asks again.
    @Test func dnsCacheTTL() throws {
        let topo = topology()
            .replacingOccurrences(of: "ttl: 300s", with: "ttl: 30s")
        let down = ("1s", "down sip1.itsp.example sip2.itsp.example sip3.itsp.example")
        let (_, t) = try simulate(topo, timeline: [down,
                                                   ("2s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                                   ("200s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        // Call 1 at 10 s uses the answer PBX-1's registration fetched at 0 s (TTL 30 s); call 2 at
        // 208 s finds it expired and queries again.
        #expect(t.steps(.dnsCacheHit, call: 1).count == 1)
        #expect(t.steps(.dnsQuery, call: 1).isEmpty)
        #expect(t.steps(.dnsQuery, call: 2).count == 1)
    }

    /// Item 11: an SRV target "." means no SIP service from DNS: the DNS stage fails.
    @Test func srvDotMeansNoService() throws {
        let (r, t) = try simulate(topology(srv: "        - {priority: 0, weight: 0, port: 5060, target: .}"),
                                  timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011")])
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11"])
        #expect(t.steps(.dnsFailure, call: 1).contains { $0.detail.contains("service not available") })
    }

    /// Item 11: no SRV records: A records of the name at 5060, several tried in order.
    @Test func noSRVUsesARecords() throws {
        let topo = topology()
            .replacingOccurrences(of: "      srv:\n        - {priority: 10, weight: 60, port: 5060, target: sip1.itsp.example}\n        - {priority: 10, weight: 40, port: 5060, target: sip2.itsp.example}\n        - {priority: 20, weight: 0, port: 5060, target: sip3.itsp.example}",
                                  with: "      a: [192.0.2.12, 192.0.2.10]")
        #expect(!topo.contains("srv:"))
        let (r, t) = try simulate(topo.replacingOccurrences(of: "sip_server_failover: 192.0.2.11", with: "sip_server_failover: 192.0.2.10"),
                                  timeline: [allDown, ("1s", "dial PBX-1/1000 012-345-1011")])
        #expect(t.steps(.dnsQuery).contains { $0.detail.hasPrefix("A itsp.example") })
        #expect(r.calls[1]?.sipTargets.first == "192.0.2.10")
        #expect(r.calls[1]?.sipTargets.contains("192.0.2.12") == true)
    }

    /// DNS faults are failures of the DNS stage, recorded as such; a timeout costs the resolver's
    /// timeout on the network.
    @Test func dnsFaults() throws {
        for (fault, detail) in [("servfail", "SERVFAIL"), ("nxdomain", "NXDOMAIN"), ("timeout", "timeout")] {
            // PBX-1 uses a name for its SIP server so the call itself must resolve.
            // PBX-1 registers at an address (no DNS) and names its SIP server, so the call itself
            // must resolve itsp.example.
            let topo = topology(pbx1Card: "").replacingOccurrences(of: "sip_server: 192.0.2.10\n      sip_server_failover: 192.0.2.11\n      registrar: itsp.example\n      registrar_failover: 192.0.2.11",
                                                                  with: "sip_server: itsp.example\n      registrar: 192.0.2.10")
            #expect(topo.contains("sip_server: itsp.example"))
            let (r, t) = try simulate(topo, timeline: [("0s", "dns itsp.example \(fault)"), ("1s", "dial PBX-1/1000 012-345-1011")])
            #expect(r.calls[1]?.route == "public", "\(fault)")
            #expect(r.calls[1]?.sipAttempts == 0)
            #expect(t.steps(.dnsFailure, call: 1).contains { $0.detail.contains(detail) }, "\(fault)")
            if fault == "timeout" {
                // Two tries of 2 s each before the stage fails.
                #expect(try #require(t.steps(.reroute, call: 1).first).atNs == 5 * sec)
            }
        }
    }

    /// Item 16: a card that is OUS sends calls to the public trunk at once.
    @Test func cardOUSSkipsSIP() throws {
        let (r, t) = try simulate(topology(), timeline: [allDown, ("20s", "dial PBX-1/1000 012-345-1011")])
        #expect(t.steps(.cardState).contains { $0.detail.contains("INS -> OUS") && $0.atNs == 12_020 * ms })
        #expect(r.calls[1]?.sipAttempts == 0)
        #expect(t.steps(.trunkSeized, call: 1).first?.atNs == 20 * sec)
    }

    /// Fault: the card's own network is down.
    @Test func cardFaultWhenOwnHostDown() throws {
        let (r, t) = try simulate(topology(), timeline: [("1s", "down pbx1.example"), ("2s", "dial PBX-1/1000 012-345-1011")])
        #expect(t.steps(.cardState).contains { $0.detail.contains("-> Fault") })
        #expect(r.calls[1]?.route == "public")
    }

    /// Item 25: refresh at 90 % of 3600 s = 3240 s; at 50 % = 1800 s.
    @Test func registrationRefresh() throws {
        for (pct, at) in [(90, 3240), (50, 1800)] {
            let (_, t) = try simulate(topology(pbx1Card: "register_refresh: \(pct)"),
                                      timeline: [("1s", "dial PBX-1/1000 012-345-1011 hold 1s")], until: "4000s")
            let cycles = t.steps(.registration).filter { $0.actor == "PBX-1/V-SIPGW" && $0.detail.hasPrefix("registration cycle starts") }
            // First REGISTER at 20 ms (after DNS), its 200 OK at 40 ms, the refresh `at` s later.
            #expect(cycles.count == 2 + (pct == 50 ? 1 : 0))
            #expect(cycles.count > 1 && cycles[1].atNs == Int64(at) * sec + 40 * ms, "refresh at \(pct) %")
        }
    }

    /// Item 25: fixed retry of 10 s after every registrar target failed.
    @Test func registrationRetryFixed() throws {
        let (_, t) = try simulate(topology(), timeline: [allDown], until: "40s")
        let cycles = t.steps(.registration).filter { $0.actor == "PBX-1/V-SIPGW" && $0.detail.hasPrefix("registration cycle starts") }
        #expect(cycles.map(\.atNs) == [0, 22_020 * ms])
    }

    /// Item 25: RFC 5626 backoff: waits uniform in [W/2, W] with W = 30, 60, 120 s ... for the
    /// 1st, 2nd, 3rd consecutive failure.
    @Test func registrationRetryRFC5626() throws {
        let (_, t) = try simulate(topology(pbx1Card: "register_retry: rfc5626"), timeline: [allDown], until: "600s")
        let failed = t.steps(.registration).filter { $0.actor == "PBX-1/V-SIPGW" && $0.detail.contains("retry in") }
        #expect(failed.count >= 3)
        for (k, f) in failed.prefix(3).enumerated() {
            let w = Double(30 << k)
            let text = f.detail.split(separator: " ").first { $0.hasSuffix("s") && Double($0.dropLast()) != nil }!
            let wait = Double(text.dropLast())!
            #expect(wait >= w / 2 && wait <= w, "failure \(k + 1): waited \(wait), W = \(w)")
        }
    }

    /// Item 5 through the model: REGISTER answered by 100 Trying then silence is not an RFC 3263
    /// failover (the cycle fails after Timer F, 32 s), unless configured otherwise.
    @Test func registerProvisionalThenSilence() throws {
        let topo = topology().replacingOccurrences(of: "      registrar: itsp.example\n      registrar_failover: 192.0.2.11",
                                                   with: "      registrar: 192.0.2.10\n      registrar_failover: 192.0.2.11")
        let (_, t) = try simulate(topo, timeline: [("0s", "respond sip1.itsp.example 100")], until: "40s")
        let pbx1 = t.steps.filter { $0.actor == "PBX-1/V-SIPGW" }
        #expect(pbx1.contains { $0.kind == .registration && $0.detail.hasPrefix("100 to REGISTER: failover timer stopped") })
        #expect(pbx1.contains { $0.kind == .cardState && $0.detail.contains("INS -> OUS") && $0.atNs == 32 * sec })
        #expect(!t.sipMessages.contains { $0.method == "REGISTER" && $0.dst.hasPrefix("192.0.2.11") && $0.src.hasPrefix("198.51.100.1") })
        let (_, t2) = try simulate(topology(pbx1Card: "register_failover_after_provisional: true")
            .replacingOccurrences(of: "      registrar: itsp.example\n      registrar_failover: 192.0.2.11", with: "      registrar: 192.0.2.10\n      registrar_failover: 192.0.2.11"),
                                   timeline: [("0s", "respond sip1.itsp.example 100")], until: "40s")
        // The 4 s REGISTER failover timer still moves it to 192.0.2.11, which registers it.
        #expect(t2.sipMessages.contains { $0.method == "REGISTER" && $0.dst == "192.0.2.11:5060" && $0.atNs == 4 * sec })
    }

    /// Item 26: fail-back `new-requests`: every call starts at the primary again.
    @Test func failbackNewRequests() throws {
        let (r, _) = try simulate(topology(), timeline: [("500ms", "down sip1.itsp.example"),
                                                         ("1s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                                         ("30s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11"])
        #expect(r.calls[2]?.sipTargets == ["192.0.2.10", "192.0.2.11"])
    }

    /// Item 26: fail-back `duration 3600s`: after failing over, calls start at the secondary until
    /// t0 + 3600 s, then at the primary again.
    @Test func failbackDuration() throws {
        let (r, _) = try simulate(topology(pbx1Card: "failback: duration 3600s"),
                                  timeline: [("500ms", "down sip1.itsp.example"),
                                             ("1s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                             ("30s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                             ("3700s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11"])
        #expect(r.calls[2]?.sipTargets == ["192.0.2.11"])
        #expect(r.calls[3]?.sipTargets.first == "192.0.2.10")
    }

    /// Item 26: fail-back `registration`: new calls start at the server that accepted the last
    /// REGISTER; the primary is retried at the next refresh.
    @Test func failbackRegistration() throws {
        // The registrar by address, so the refresh cycle starts at a known primary.
        let topo = topology(pbx1Card: "failback: registration\nregister_expires: 600")
            .replacingOccurrences(of: "      registrar: itsp.example\n      registrar_failover: 192.0.2.11", with: "      registrar: 192.0.2.10\n      registrar_failover: 192.0.2.11")
        #expect(topo.contains("registrar: 192.0.2.10"))
        let (r, _) = try simulate(topo,
                                  timeline: [("0s", "down sip1.itsp.example"),
                                             ("30s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                             ("100s", "up sip1.itsp.example"),
                                             ("700s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        // Registered at the failover server: the call starts there.
        #expect(r.calls[1]?.sipTargets == ["192.0.2.11"])
        // The refresh at 90 % of 600 s (~540 s) starts at the primary again, which is back.
        #expect(r.calls[2]?.sipTargets == ["192.0.2.10"])
        #expect(r.calls[2]?.outcome == "answered")
    }

    /// Item 26: fail-back `dns-ttl`: after a call connected on a DNS target, new calls start there
    /// until the cached DNS record expires.
    @Test func failbackDNSTTL() throws {
        let (r, t) = try simulate(topology(pbx1Card: "failback: dns-ttl"),
                                  timeline: [("1s", "down sip1.itsp.example sip2.itsp.example"),
                                             ("2s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                             ("60s", "dial PBX-1/1000 012-345-1011 hold 1s"),
                                             ("400s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.11", "192.0.2.12"])
        #expect(t.steps(.failover, call: 1).contains { $0.detail.hasPrefix("fail-back: new calls start at 192.0.2.12:5060 until the DNS record expires") })
        #expect(r.calls[2]?.sipTargets == ["192.0.2.12"])
        #expect(r.calls[3]?.sipTargets.first == "192.0.2.10") // the record expired at 300 s
    }

    /// Calls follow registration: INVITEs go first to the server that accepted REGISTER.
    @Test func callsFollowRegistration() throws {
        let (r, _) = try simulate(topology(pbx1Card: "calls_follow_registration: true"),
                                  timeline: [("1s", "dial PBX-1/1000 012-345-1011 hold 1s")])
        // The SRV draw of PBX-1's registration picks sip1 or sip2; the call starts there.
        let first = try #require(r.calls[1]?.sipTargets.first)
        #expect(["192.0.2.10", "192.0.2.11"].contains(first))
    }

    /// Item 15 and far-end behaviour: 486/480/404 travel back through the SIP server; no reroute.
    @Test func farEndAnswers() throws {
        for (cmd, outcome, code) in [("busy", "busy", 486), ("unanswered", "no-answer", 480), ("absent", "failed", 404)] {
            let (r, t) = try simulate(topology(defaults: "no_answer_timeout: 200s"),
                                      timeline: [("500ms", "\(cmd) PBX-2/1011"), ("1s", "dial PBX-1/1000 012-345-1011")])
            #expect(r.calls[1]?.outcome == outcome, "\(cmd)")
            #expect(r.calls[1]?.route == "sip")
            #expect(r.calls[1]?.rerouted == false)
            // The final response reaches PBX-1 from the SIP server, not from PBX-2 directly.
            #expect(t.sipMessages.contains { $0.statusCode == code && $0.src == "192.0.2.10:5060" && $0.dst == "198.51.100.1:5060" }, "\(cmd)")
        }
    }

    /// The SIP servers of a domain share one location service.
    @Test func sharedLocationService() throws {
        // PBX-2 registers through whichever server DNS gives first; the call reaches it through
        // the failover server too.
        let (r, _) = try simulate(topology(), timeline: [("500ms", "down sip1.itsp.example"), ("1s", "dial PBX-1/1000 012-345-1011")])
        #expect(r.calls[1]?.outcome == "answered" && r.calls[1]?.route == "sip")
    }

    /// Item 28: identical config and seed give an identical trace; another seed may differ.
    @Test func determinism() throws {
        let tl = [allDown, ("1s", "dial PBX-1/1000 012-345-1011"), ("2s", "dial PBX-1/1001 012-345-1011")]
        let (_, a) = try simulate(topology(), timeline: tl)
        let (_, b) = try simulate(topology(), timeline: tl)
        #expect(a.events == b.events)
    }

    /// Loss on the network: retransmissions recover lost INVITEs; dropped ones are recorded.
    @Test func lossIsRecorded() throws {
        let (r, t) = try simulate(topology(), timeline: [("500ms", "loss 30"), ("1s", "dial PBX-1/1000 012-345-1011 hold 2s")], seed: 5)
        #expect(t.sipMessages.contains { !$0.delivered })
        #expect(r.calls[1] != nil)
    }
}
