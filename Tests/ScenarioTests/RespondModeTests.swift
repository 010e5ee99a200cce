import Foundation
import Testing
@testable import Scenario
import Trace
import SimCore

/// The server modes a lab is described with (`sip_servers[].respond`, `respond HOST ...`), so that
/// the simulation predicts what live mode measures (issue 14).
struct RespondModeTests {
    /// A silent server reads every INVITE and answers nothing: the card retransmits at 0, 0.5,
    /// 1.5, 3.5 s (T1 = 500 ms) and leaves it after its 4 s invite_timeout.
    @Test func silentServerGetsRetransmissionsAndIsLeftAfterTheTimeout() throws {
        let (r, t) = try simulate(topology(), timeline: [("500ms", "respond sip1.itsp.example silent"), ("1s", "dial PBX-1/1000 012-345-1011")])
        let to10 = t.invites(call: 1).filter { $0.dst.hasPrefix("192.0.2.10") }.map { $0.atNs - sec }
        #expect(to10.map { $0 - to10[0] } == [0, 500, 1500, 3500].map { $0 * ms })
        #expect(t.sipMessages.filter { $0.src.hasPrefix("192.0.2.10") && $0.callID == 1 }.isEmpty) // not even 100 Trying
        let failover = try #require(t.steps(.failover, call: 1).first)
        #expect(failover.atNs - sec - to10[0] == 4 * sec)
        #expect(r.calls[1]?.outcome == "answered")
    }

    /// A server in mode 200 answers as a UAS: 200 with a Contact, takes the ACK and the BYE.
    @Test func twoHundredServerAnswersAndTakesTheBye() throws {
        let (r, t) = try simulate(topology(), timeline: [("500ms", "respond sip1.itsp.example 200"), ("1s", "dial PBX-1/1000 012-345-1011 hold 2s")])
        #expect(r.calls[1]?.outcome == "answered")
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10"])
        let ok = try #require(t.sipMessages.first { $0.statusCode == 200 && $0.src.hasPrefix("192.0.2.10") && $0.raw.contains("INVITE") })
        #expect(ok.raw.contains("Contact: <sip:192.0.2.10:5060>"))
        #expect(t.sipMessages.contains { $0.method == "ACK" && $0.dst.hasPrefix("192.0.2.10") })
        #expect(t.sipMessages.contains { $0.method == "BYE" && $0.dst.hasPrefix("192.0.2.10") })
        #expect(t.sipMessages.contains { $0.statusCode == 200 && $0.raw.contains("CSeq: 2 BYE") })
    }

    /// In the scenario: `respond: refuse` closes the SIP port from the start (ICMP port unreachable:
    /// a transport error, left at once); `respond: 503` with `retry_after` blocklists.
    @Test func scenarioRespondKeys() throws {
        var topo = topology()
        topo = topo.replacingOccurrences(of: "  - {host: sip1.itsp.example, domain: itsp.example}", with: "  - {host: sip1.itsp.example, domain: itsp.example, respond: refuse}")
        topo = topo.replacingOccurrences(of: "  - {host: sip2.itsp.example, domain: itsp.example}", with: "  - {host: sip2.itsp.example, domain: itsp.example, respond: 503, retry_after: 60s}")
        let (r, t) = try simulate(topo, timeline: [("1s", "dial PBX-1/1000 012-345-1011")])
        let causes = t.steps(.failover, call: 1).compactMap { $0.fields.text("cause") }
        #expect(causes.first == "transport-error")
        // sip2 answered the cold-start REGISTER with 503 Retry-After 60: blocklisted, so call 1 passes it over.
        #expect(t.steps(.blocklistAdded).contains { $0.callID == nil && $0.detail.hasPrefix("192.0.2.11") })
        #expect(t.steps(.targetSkipped, call: 1).contains { $0.detail.hasPrefix("192.0.2.11") })
        #expect(r.calls[1]?.sipTargets == ["192.0.2.10", "192.0.2.12"])
    }

    @Test func badRespondValuesAreErrorsNamingTheKey() {
        let topo = topology().replacingOccurrences(of: "  - {host: sip1.itsp.example, domain: itsp.example}", with: "  - {host: sip1.itsp.example, domain: itsp.example, respond: 250}")
        #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: "t.yaml", text: topo + "timeline: []\n") }
        let ra = topology().replacingOccurrences(of: "  - {host: sip1.itsp.example, domain: itsp.example}", with: "  - {host: sip1.itsp.example, domain: itsp.example, retry_after: 5s}")
        #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: "t.yaml", text: ra + "timeline: []\n") }
        #expect(throws: (any Error).self) { try CommandParser.parse("respond sip1 250") }
        #expect((try? CommandParser.parse("respond sip1 silent")) != nil)
    }
}
