import Foundation
import Live
import Scenario
import SIP
import TestSupport
import Testing
import Trace

/// Live mode against real peers on loopback (issue 14): SIPp user agents, a Kamailio registrar and
/// silent sockets. The instants checked are those of real packets, as the peers saw them, with a
/// tolerance for scheduling on a loaded machine; the numbers are RFC 3261's (T1 = 500 ms: INVITE
/// retransmissions at 0, 0.5, 1.5, 3.5 s) and the card's (4 s per silent target).
@Suite(.serialized) struct LivePeerTests {
    func runLive(_ s: Scenario, local: String) throws -> (LiveCard, MemoryTraceSink) {
        let sink = MemoryTraceSink()
        let card = try LiveCard(scenario: s, pbxName: nil,
                                options: .init(local: Endpoint(ip: local, port: 5060), resolver: ScenarioResolver(config: s.world),
                                               maxDurationNs: 60_000_000_000),
                                sink: sink)
        card.run(shouldStop: { false })
        return (card, sink)
    }

    @Test func failoverSkipsThe503AndAnswersAsThePredictionSays() throws {
        guard LiveLab.require(["sipp", "kamailio", "python3"]) else { return }
        let lab = try LiveLab("failover")
        defer { lab.stop() }
        try lab.silent("127.0.1.11", log: "silent.log")
        try lab.sipp503("127.0.1.12", retryAfter: 120)
        try lab.sippUAS("127.0.1.13")
        try lab.kamailio("127.0.1.20")
        let path = try lab.write("lab.yaml", labScenario(net: 1, respond1: "silent", respond2: "503, retry_after: 120s", respond3: "200", registrar: true,
                                                         timeline: ["at: 500ms, do: \"dial PBX-1/1000 012-345-1011 hold 1s\"",
                                                                    "at: 7s, do: \"dial PBX-1/1000 012-345-1011 hold 1s\""]))
        let s = try loadScenario(path)
        let (_, sink) = try runLive(s, local: "127.0.1.1")

        // Registered with Kamailio, and unregistered (Expires: 0) at the end.
        #expect(sink.steps.contains { $0.kind == .registration && $0.text("event") == "registered" && $0.text("registered_at") == "127.0.1.20:5060" })
        let registers = sink.sipMessages.filter { $0.method == "REGISTER" }
        #expect(registers.last?.raw.contains("Expires: 0") == true)
        #expect(sink.steps.contains { $0.text("event") == "unregistered" })

        // The silent peer saw the INVITE of each call at 0, 0.5, 1.5 and 3.5 s, and nothing after.
        let got = lab.arrivals("silent.log")
        #expect(got.count == 8, "silent peer saw \(got.map { "\($0.t) \($0.line)" })")
        let expected: [Double] = [0, 0.5, 1.5, 3.5]
        for (i, e) in expected.enumerated() where i < got.count {
            #expect(abs(got[i].t - e) < 0.15, "INVITE \(i + 1) of call 1 at \(got[i].t) s, expected \(e) s")
            #expect(got[i].line.hasPrefix("INVITE "))
        }
        if got.count == 8 {
            for (i, e) in expected.enumerated() { #expect(abs(got[4 + i].t - got[4].t - e) < 0.15, "INVITE \(i + 1) of call 2") }
        }

        // Call 1: silent 4 s, 503 at once, answered at sip3. Call 2 skips the blocklisted sip2.
        let calls = sink.calls.sorted { $0.callID < $1.callID }
        #expect(calls.map(\.outcome) == [.answered, .answered])
        #expect(calls.first?.sipTargets == ["127.0.1.11", "127.0.1.12", "127.0.1.13"])
        #expect(calls.last?.sipTargets == ["127.0.1.11", "127.0.1.13"])
        for c in calls {
            let d = Double(c.setupDelayNs ?? 0) / 1e9
            #expect(d > 3.9 && d < 4.3, "call \(c.callID) set up in \(d) s; expected about 4 s (the silent target's timeout)")
        }
        #expect(sink.steps.contains { $0.kind == .blocklistAdded && $0.text("ip") == "127.0.1.12" })
        // The SRV answer of call 1 (TTL 300 s) is still fresh for call 2: the card's cache answers.
        #expect(sink.steps.contains { $0.kind == .dnsQuery && $0.callID == 1 && $0.text("qtype") == "SRV" })
        #expect(sink.steps.contains { $0.kind == .dnsCacheHit && $0.callID == 2 && $0.text("qtype") == "SRV" })
        #expect(!sink.steps.contains { $0.kind == .dnsQuery && $0.callID == 2 })
        #expect(sink.steps.contains { $0.kind == .targetSkipped && $0.callID == 2 && $0.text("target") == "127.0.1.12" })
        let failover = sink.steps.first { $0.kind == .failover && $0.callID == 1 && $0.text("cause") == "no-response" }
        let placed = sink.steps.first { $0.kind == .attemptStarted && $0.callID == 1 }
        if let f = failover, let p = placed { #expect(abs(Double(f.atNs - p.atNs) / 1e9 - 4) < 0.15) }

        // The simulation of the same scenario predicts the same events within 250 ms.
        let sim = MemoryTraceSink()
        _ = ScenarioRunner.run(s, sink: sim)
        let cmp = Comparison(predicted: sim.steps, predictedCalls: sim.calls, measured: sink.steps, measuredCalls: sink.calls)
        #expect(cmp.rows.count == 10)
        #expect(cmp.agrees(toleranceNs: 250_000_000), "\(cmp.render())")
    }

    @Test func everyTargetFailsAndTheRerouteIsRecorded() throws {
        guard LiveLab.require(["sipp", "python3"]) else { return }
        let lab = try LiveLab("reroute")
        defer { lab.stop() }
        try lab.silent("127.0.2.11", log: "silent.log")
        try lab.sipp503("127.0.2.12", retryAfter: 60)
        // sip3 is named by DNS but nothing listens there: ICMP port unreachable, a transport error.
        let path = try lab.write("lab.yaml", labScenario(net: 2, respond1: "silent", respond2: "503, retry_after: 60s", respond3: "refuse", registrar: false,
                                                         timeline: ["at: 200ms, do: \"dial PBX-1/1000 012-345-1011\""]))
        let s = try loadScenario(path)
        let (_, sink) = try runLive(s, local: "127.0.2.1")
        let c = try #require(sink.calls.first)
        #expect(c.outcome == .rerouted)
        #expect(c.route == .publicTrunk)
        #expect(c.rerouted)
        #expect(c.sipTargets == ["127.0.2.11", "127.0.2.12", "127.0.2.13"])
        let causes = sink.steps.filter { $0.kind == .failover }.compactMap { $0.text("cause") }
        #expect(causes == ["no-response", "503", "transport-error"])
        let reroute = try #require(sink.steps.first { $0.kind == .reroute })
        let placed = try #require(sink.steps.first { $0.kind == .callPlaced })
        let after = Double(reroute.atNs - placed.atNs) / 1e9
        #expect(after > 3.9 && after < 4.3, "reroute after \(after) s")
    }

    @Test func tcpTransportAnswersOverOneConnection() throws {
        guard LiveLab.require(["sipp"]) else { return }
        let lab = try LiveLab("tcp")
        defer { lab.stop() }
        try lab.sippUAS("127.0.4.11", tcp: true)
        let path = try lab.write("lab.yaml", labScenario(net: 4, respond1: "200", respond2: "503", respond3: "200", registrar: false,
                                                         timeline: ["at: 100ms, do: \"dial PBX-1/1000 012-345-1011 hold 500ms\""], transport: "tcp"))
        let s = try loadScenario(path)
        let (_, sink) = try runLive(s, local: "127.0.4.1")
        let c = try #require(sink.calls.first)
        #expect(c.outcome == .answered && c.endCause == nil)
        #expect(c.sipTargets == ["127.0.4.11"])
        #expect(sink.sipMessages.allSatisfy { $0.transport == "TCP" })
        #expect(sink.sipMessages.filter { $0.method == "INVITE" }.count == 1) // reliable: no retransmission
        #expect(sink.sipMessages.contains { $0.method == "BYE" } && sink.sipMessages.contains { $0.statusCode == 200 && $0.raw.contains("BYE") })
    }

    /// Fail-back `duration`: once the failover address has answered, the next call starts there,
    /// in live mode as in the simulation (the same TargetHealth; the comparison agrees).
    @Test func failbackDurationStartsTheNextCallWhereTheLastOneWasAnswered() throws {
        guard LiveLab.require(["sipp", "python3"]) else { return }
        let lab = try LiveLab("failback")
        defer { lab.stop() }
        try lab.silent("127.0.7.11", log: "silent.log")
        try lab.sippUAS("127.0.7.12")
        let path = try lab.write("lab.yaml", labScenario(net: 7, respond1: "silent", respond2: "200", respond3: "normal", registrar: false,
                                                         timeline: ["at: 200ms, do: \"dial PBX-1/1000 012-345-1011 hold 500ms\"",
                                                                    "at: 6s, do: \"dial PBX-1/1000 012-345-1011 hold 500ms\""],
                                                         extraCard: "failback: duration 60s"))
        let s = try loadScenario(path)
        let (_, sink) = try runLive(s, local: "127.0.7.1")
        let calls = sink.calls.sorted { $0.callID < $1.callID }
        #expect(calls.map(\.sipTargets) == [["127.0.7.11", "127.0.7.12"], ["127.0.7.12"]])
        let second = try #require(sink.steps.first { $0.kind == .attemptStarted && $0.callID == 2 })
        #expect(second.text("origin") == "preferred")
        let sim = MemoryTraceSink()
        _ = ScenarioRunner.run(s, sink: sim)
        let cmp = Comparison(predicted: sim.steps, predictedCalls: sim.calls, measured: sink.steps, measuredCalls: sink.calls)
        #expect(cmp.agrees(toleranceNs: 250_000_000), "\(cmp.render())")
    }

    /// `--system-dns --dns-server`: the SRV and A records come from a real DNS server through the C
    /// resolver library (res_nquery), not from the scenario: the scenario's own records point
    /// elsewhere, and the call is answered where the DNS server says.
    @Test func systemResolverAsksARealDNSServer() throws {
        guard LiveLab.require(["sipp", "python3", "sqlite3"]) else { return }
        let lab = try LiveLab("dns")
        defer { lab.stop() }
        try lab.dns("127.0.6.53", port: 5353, srv: ["_sip._udp.lab.example": [(10, 0, 5060, "edge.lab.example")]],
                    a: ["edge.lab.example": ["127.0.6.13"]])
        try lab.sippUAS("127.0.6.13")
        // The scenario's records name 127.0.6.99 (nothing there): used only without --system-dns.
        var text = labScenario(net: 6, respond1: "normal", respond2: "normal", respond3: "normal", registrar: false,
                               timeline: ["at: 100ms, do: \"dial PBX-1/1000 012-345-1011 hold 300ms\""])
        text = text.replacingOccurrences(of: "      sip_server_failover: 127.0.6.12\n", with: "")
        text = text.replacingOccurrences(of: "sip1.lab.example: 127.0.6.11", with: "sip1.lab.example: 127.0.6.99")
        let path = try lab.write("lab.yaml", text)
        let db = lab.dir.appendingPathComponent("live.sqlite").path
        let run = try lab.run(packageRoot.appendingPathComponent(".build/debug/pbxsim").path,
                              ["live", path, "--db", db, "--local", "127.0.6.1:5060", "--system-dns", "--dns-server", "127.0.6.53:5353", "-q"])
        #expect(run.status == 0, "\(run.output)")
        let rows = try lab.sqlite(db, """
            SELECT outcome || ' ' || sip_targets FROM call;
            SELECT count(*) FROM step WHERE kind = 'dns-query' AND fields LIKE '%system (127.0.6.53:5353)%';
            """)
        #expect(rows == ["answered [\"127.0.6.13\"]", "1"], "\(rows)\n\(run.output)")
        let asked = (try? String(contentsOf: lab.dir.appendingPathComponent("dns.log"), encoding: .utf8)) ?? ""
        #expect(asked.contains("_sip._udp.lab.example 33"), "\(asked)")
        // Without the server's consent a public --dns-server is refused before anything is sent.
        let refused = try lab.run(packageRoot.appendingPathComponent(".build/debug/pbxsim").path,
                                  ["live", path, "--db", db, "--system-dns", "--dns-server", "8.8.8.8"])
        #expect(refused.status == 2 && refused.output.contains("--yes"), "\(refused.output)")
    }

    /// Ctrl-C: the CLI hangs up, unregisters with Expires: 0, records the run as interrupted and
    /// exits with 130.
    @Test func ctrlCUnregistersAndExitsCleanly() throws {
        guard LiveLab.require(["kamailio", "sqlite3"]) else { return }
        let lab = try LiveLab("sigint")
        defer { lab.stop() }
        try lab.kamailio("127.0.3.20")
        let path = try lab.write("lab.yaml", labScenario(net: 3, respond1: "silent", respond2: "503", respond3: "200", registrar: true,
                                                         timeline: ["at: 60s, do: \"dial PBX-1/1000 012-345-1011\""], extraCard: "register_expires: 2"))
        let db = lab.dir.appendingPathComponent("live.sqlite").path
        let outLog = lab.dir.appendingPathComponent("pbxsim.out").path
        let pid = try Spawn.start(packageRoot.appendingPathComponent(".build/debug/pbxsim").path,
                                ["live", path, "--db", db, "--local", "127.0.3.1:5060", "-q"], output: outLog)
        // Registered at once for 2 s, refreshed at 90 % (1.8 s); then Ctrl-C at 2.5 s.
        usleep(2_500_000)
        kill(pid, SIGINT)
        let status = Spawn.wait(pid)
        let text = (try? String(contentsOfFile: outLog, encoding: .utf8)) ?? ""
        #expect(status == 130, "\(text)")
        let sql = try lab.sqlite(db, """
            SELECT tool || ' ' || status FROM run;
            SELECT count(*) FROM sip_message WHERE method = 'REGISTER' AND raw LIKE '%Expires: 0%';
            SELECT count(*) FROM sip_message WHERE method = 'REGISTER' AND raw LIKE '%Expires: 2%';
            SELECT count(*) FROM sip_message WHERE status_code = 200 AND raw LIKE '%REGISTER%';
            SELECT group_concat(at_us / 100000, ',') FROM (SELECT at_us FROM sip_message WHERE method = 'REGISTER' ORDER BY at_us);
            """)
        // Two registrations (at 0 and the refresh at 1.8 s), the unregister, three 200s.
        #expect(sql.prefix(4) == ["live interrupted", "1", "2", "3"], "\(sql)\n\(text)")
        #expect(sql.count == 5 && sql[4].hasPrefix("0,18,"), "REGISTER instants in 0.1 s: \(sql)")
        #expect(text.contains("unregistered"))

        // A live run exports like any other: its pcap holds the real REGISTERs and their 200s.
        if let tshark = LiveLab.tool("tshark") {
            let pcap = lab.dir.appendingPathComponent("live.pcap").path
            let exported = try lab.run(packageRoot.appendingPathComponent(".build/debug/pbxsim").path, ["export", db, "--format", "pcap", "--out", pcap])
            #expect(exported.status == 0, "\(exported.output)")
            let decoded = try lab.run(tshark, ["-r", pcap, "-Y", "sip"]).output
            #expect(decoded.components(separatedBy: "Request: REGISTER").count - 1 == 3, "\(decoded)")
            #expect(decoded.components(separatedBy: "Status: 200 OK").count - 1 == 3, "\(decoded)")
        } else if LiveLab.inCI {
            Issue.record("tshark is missing (Debian: tshark); .ci/run installs it")
        }
    }
}

extension LiveLab {
    func sqlite(_ db: String, _ sql: String) throws -> [String] {
        try run(LiveLab.tool("sqlite3")!, [db, sql]).output.split(separator: "\n").map(String.init)
    }
}
