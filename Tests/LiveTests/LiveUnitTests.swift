import Foundation
import Live
import Routing
import Scenario
import Testing
import Trace

/// Live mode's parts that need no peer: address scopes, the checks before any packet is sent,
/// TCP framing, the system resolver's answer reader, and the comparison.
struct LiveUnitTests {
    @Test func addressScopes() {
        #expect(AddressScope.of("127.0.0.1") == .loopback)
        #expect(AddressScope.of("127.9.8.7") == .loopback)
        #expect(AddressScope.of("::1") == .loopback)
        #expect(AddressScope.of("10.1.2.3") == .private)
        #expect(AddressScope.of("172.16.0.1") == .private)
        #expect(AddressScope.of("172.31.255.1") == .private)
        #expect(AddressScope.of("172.32.0.1") == .public)
        #expect(AddressScope.of("192.168.1.1") == .private)
        #expect(AddressScope.of("169.254.1.1") == .linkLocal)
        #expect(AddressScope.of("fd00::5") == .private)
        #expect(AddressScope.of("fe80::1") == .linkLocal)
        #expect(AddressScope.of("192.0.2.10") == .public)
        #expect(AddressScope.of("2001:db8::1") == .public)
        #expect(AddressScope.of("8.8.8.8").isLocal == false)
    }

    func scenario(_ name: String, _ text: String) throws -> Scenario {
        try ScenarioLoader.load(path: name, text: text)
    }

    func lab(timeline: [String], sipServer: String = "127.0.9.11", transport: String = "udp", traffic: String = "") -> String {
        """
        name: unit
        network:
          hosts:
            pbx1: 127.0.9.1
            sip1: 127.0.9.11
            far: 192.0.2.10
        sip_servers:
          - {host: sip1, domain: lab.example}
        telephone_companies:
          - {name: T1, area_code: "098"}
        pbxs:
          - name: PBX-1
            host: pbx1
            telephone_company: T1
            extensions: [{number: "1000"}, {number: "1001"}]
            public_trunk: {channels: 2}
            v_sipgw: {sip_server: \(sipServer), numbers: ["0987654321"], transport: \(transport)}
        \(traffic)
        timeline:\(timeline.isEmpty ? " []" : "")
        \(timeline.map { "  - {\($0)}" }.joined(separator: "\n"))
        """
    }

    @Test func commandsThatBreakSimulatedHostsAreRefusedWithTheirLine() throws {
        let s = try scenario("lab.yaml", lab(timeline: ["at: 1s, do: \"down sip1\"", "at: 2s, do: \"dial PBX-1/1000 012-345-1011\"",
                                                       "at: 3s, do: \"respond sip1 503\"", "at: 4s, do: \"hangup 1 callee\"",
                                                       "at: 5s, do: \"dial PBX-1/1000 1001\""]))
        let e = #expect(throws: LiveError.self) { try LiveCard.validate(s, pbxName: nil) }
        let text = e?.description ?? ""
        #expect(text.contains("lab.yaml:20: timeline 'down sip1': 'down' breaks a simulated host and is refused in live mode"), "\(text)")
        #expect(text.contains("lab.yaml:22: timeline 'respond sip1 503'"))
        #expect(text.contains("lab.yaml:23:") && text.contains("cannot be told to hang up"))
        #expect(text.contains("lab.yaml:24:") && text.contains("1001 is not an outside number"))
        #expect(!text.contains("lab.yaml:21"))
    }

    @Test func aPublicAddressNeedsYes() throws {
        let s = try scenario("pub.yaml", lab(timeline: ["at: 1s, do: \"dial PBX-1/1000 012-345-1011\""], sipServer: "192.0.2.10"))
        let e = #expect(throws: LiveError.self) {
            _ = try LiveCard(scenario: s, pbxName: nil, options: .init(local: Endpoint(ip: "127.0.9.1", port: 0), resolver: ScenarioResolver(config: s.world)),
                             sink: MemoryTraceSink())
        }
        #expect(e?.description.contains("192.0.2.10") == true && e?.description.contains("--yes") == true)
        // With --yes the card is made (nothing is sent until run()).
        let card = try LiveCard(scenario: s, pbxName: nil, options: .init(local: Endpoint(ip: "127.0.9.1", port: 0), resolver: ScenarioResolver(config: s.world),
                                                                          allowPublic: true), sink: MemoryTraceSink())
        #expect(card.localEndpoint.ip == "127.0.9.1" && card.localEndpoint.port > 0)
    }

    @Test func tlsTrafficAndUnknownPBXAreRefused() throws {
        let tls = try scenario("tls.yaml", lab(timeline: [], transport: "tls"))
        #expect(throws: LiveError.self) { try LiveCard.validate(tls, pbxName: nil) }
        // Generated traffic could place any number of calls: live mode places only the timeline's.
        let traffic = try scenario("traffic.yaml", lab(timeline: [], traffic: """
            traffic:
              - {from: PBX-1/1000..1001, to: ["012-555-0000..012-555-9999"], erlangs: 1, mean_hold: 10s, duration: 1m}
            """))
        let t = #expect(throws: LiveError.self) { try LiveCard.validate(traffic, pbxName: nil) }
        #expect(t?.description.contains("remove traffic:") == true)
        let base = try scenario("x.yaml", lab(timeline: []))
        let e = #expect(throws: LiveError.self) { try LiveCard.validate(base, pbxName: "PBX-9") }
        #expect(e?.description.contains("no PBX named 'PBX-9'") == true)
    }

    /// A server configured by name in a scenario without a DNS server: the resolution fails at
    /// once and the call goes to the public trunk, in live mode as in the simulation (nothing is sent).
    @Test func aNameWithoutADNSServerFailsAsInTheSimulation() throws {
        let s = try scenario("nodns.yaml", lab(timeline: ["at: 10ms, do: \"dial PBX-1/1000 012-345-1011\""], sipServer: "sip1"))
        let sink = MemoryTraceSink()
        let card = try LiveCard(scenario: s, pbxName: nil, options: .init(local: Endpoint(ip: "127.0.9.1", port: 0), resolver: ScenarioResolver(config: s.world),
                                                                          maxDurationNs: 5_000_000_000), sink: sink)
        card.run(shouldStop: { false })
        #expect(sink.calls.first?.outcome == .rerouted)
        // Live mode dials no public trunk: the call ends there, and says so as its cause.
        #expect(sink.calls.first?.endCause == "reroute-not-dialled")
        #expect(sink.steps.contains { $0.kind == .callEnded && $0.fields.text("cause") == "reroute-not-dialled" })
        #expect(sink.sipMessages.isEmpty)
        #expect(sink.steps.contains { $0.kind == .reroute && $0.fields.text("reason") == "no SIP target available" })
        let sim = MemoryTraceSink()
        _ = ScenarioRunner.run(s, sink: sim)
        #expect(sim.calls.first?.route == .publicTrunk && sim.calls.first?.sipAttempts == 0)
        #expect(sim.steps.contains { $0.kind == .reroute && $0.fields.text("reason") == "no SIP target available" })
    }

    @Test func tcpStreamsAreCutIntoMessagesByContentLength() {
        let one = "INVITE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhello"
        let two = "SIP/2.0 200 OK\r\nl: 0\r\n\r\n"
        var inbox = Array(("\r\n\r\n" + one + two + "SIP/2.0 180 Ringing\r\nContent-Length: 3\r\n\r\nab").utf8)
        #expect(SocketTransport.cutMessage(&inbox).map { String(decoding: $0, as: UTF8.self) } == one)
        #expect(SocketTransport.cutMessage(&inbox).map { String(decoding: $0, as: UTF8.self) } == two)
        #expect(SocketTransport.cutMessage(&inbox) == nil) // the third waits for its last body byte
        inbox += Array("c".utf8)
        #expect(SocketTransport.cutMessage(&inbox).map { String(decoding: $0, as: UTF8.self) }?.hasSuffix("abc") == true)
        #expect(inbox.isEmpty)
    }

    @Test func dnsAnswersAreReadWithCompressedNames() {
        // _sip._udp.lab.example SRV 10 60 5060 sip1.lab.example, with sip1's A in the additional section.
        var m: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1]
        func name(_ labels: [String]) -> [UInt8] { labels.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }
        m += name(["_sip", "_udp", "lab", "example"]) + [0, 33, 0, 1]
        let labOffset = 12 + 5 + 5 // "lab" starts after _sip and _udp
        m += [0xC0, 12, 0, 33, 0, 1, 0, 0, 0x01, 0x2C] // owner: pointer to the question, TTL 300
        let target: [UInt8] = [4] + Array("sip1".utf8) + [0xC0, UInt8(labOffset)]
        m += [0, UInt8(6 + target.count), 0, 10, 0, 60, 0x13, 0xC4] + target
        let sip1Offset = m.count - target.count
        m += [0xC0, UInt8(sip1Offset), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 9, 11]
        let p = DNSWire.parse(m)
        #expect(p.srv == [SRVRecord(priority: 10, weight: 60, port: 5060, target: "sip1.lab.example")])
        #expect(p.additional["sip1.lab.example"] == ["127.0.9.11"])
        #expect(p.minTTL == 300)
    }

    @Test func comparisonPairsEventsByKindAndOrder() {
        func step(_ at: Double, _ call: Int, _ kind: StepKind, _ fields: [StepField]) -> Step {
            Step(atNs: Int64(at * 1e9), callID: call, actor: "PBX-1/V-SIPGW", kind: kind, detail: "", fields: fields)
        }
        let predicted = [step(1, 1, .attemptStarted, [StepField("attempt", 1), StepField("target", "127.0.0.11:5060")]),
                         step(5, 1, .failover, [StepField("from", "127.0.0.11:5060"), StepField("cause", "no-response")]),
                         step(5, 1, .reroute, [StepField("reason", "all failed")])]
        let measured = [step(1.002, 1, .attemptStarted, [StepField("attempt", 1), StepField("target", "127.0.0.11:5060")]),
                        step(5.010, 1, .failover, [StepField("from", "127.0.0.11:5060"), StepField("cause", "no-response")]),
                        step(5.011, 1, .reroute, [StepField("reason", "all failed")])]
        var sim = CallRecord(callID: 1, caller: "PBX-1/1000", dialed: "0123451011", placedAtNs: 0, endedAtNs: 9, outcome: .answered,
                             route: .publicTrunk, answeredBy: nil, setupDelayNs: nil, sipTargets: [], sipAttempts: 1, rerouted: true,
                             finalCode: nil, pbx: "PBX-1", cardState: "INS")
        var live = sim
        live.outcome = .rerouted
        let c = Comparison(predicted: predicted, predictedCalls: [sim], measured: measured, measuredCalls: [live])
        #expect(c.rows.map(\.diffNs) == [2_000_000, 10_000_000, 11_000_000])
        #expect(c.agrees(toleranceNs: 20_000_000))
        #expect(!c.agrees(toleranceNs: 5_000_000))
        #expect(c.render().contains("outcome") && c.render().contains("rerouted    rerouted    same"))
        // An event on one side only, or another outcome, disagrees at any tolerance.
        let c2 = Comparison(predicted: predicted, predictedCalls: [sim], measured: Array(measured.prefix(2)), measuredCalls: [live])
        #expect(!c2.agrees(toleranceNs: 1_000_000_000))
        sim.route = .sip
        sim.rerouted = false
        let c3 = Comparison(predicted: predicted, predictedCalls: [sim], measured: measured, measuredCalls: [live])
        #expect(!c3.agrees(toleranceNs: 1_000_000_000))
    }
}
