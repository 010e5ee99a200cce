import Foundation
import Testing
@testable import Scenario
@testable import Telephony
import Trace
import SimCore

/// PBX and public-network depth (issue 4), through the model.
@Suite struct PSTNTests {
    /// A site with only the public network: PBX-1 (area 098, no SIP card) and PBX-2 (area 012).
    func site(pbx1: String = "", pbx2: String = "", telco012: String = "", extra: String = "", hosts: String = "") -> String {
        """
        name: pstn
        seed: 1
        \(extra)
        network:
          hosts: {pbx1.example: 198.51.100.1, pbx2.example: 198.51.100.2\(hosts.isEmpty ? "" : ", " + hosts)}
        telephone_companies:
          - {name: TELCO-098, area_code: "098"}
          - name: TELCO-012
            area_code: "012"
        \(telco012.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        pbxs:
          - name: PBX-1
            host: pbx1.example
            telephone_company: TELCO-098
            extensions: [{numbers: "1000..1009"}]
        \(pbx1.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
          - name: PBX-2
            host: pbx2.example
            telephone_company: TELCO-012
            extensions: [{numbers: "2000..2199", answer_after: 1s}, {number: "1011", answer_after: 1s}]
            trunk_groups: [{id: 1, channels: 4, numbers: ["012-345-1011", "012-345-2000..012-345-2199"]}]
        \(pbx2.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))

        """
    }

    func run(_ yaml: String, _ timeline: [(String, String)] = [], until: String? = nil) throws -> (RunResult, MemoryTraceSink) {
        var text = yaml + "timeline:\n"
        for (at, c) in timeline { text += "  - {at: \(at), do: \"\(c)\"}\n" }
        if let until { text += "until: \(until)\n" }
        let s = try ScenarioLoader.load(path: "pstn.yaml", text: text)
        let sink = MemoryTraceSink()
        return (ScenarioRunner.run(s, sink: sink, keepAll: true), sink)
    }

    /// Item 23: DID remove 6 (`0123451011` -> `1011`); DID ranges map number ranges to extension ranges.
    @Test func didRemoveAndRanges() throws {
        let (r, t) = try run(site(pbx1: "public_trunk: {channels: 2}", pbx2: "did: {remove: 6}"),
                             [("1s", "dial PBX-1/1000 012-345-1011 hold 5s"), ("2s", "dial PBX-1/1001 012-345-2042 hold 5s")])
        #expect(r.calls[1]?.answeredBy == "PBX-2/1011")
        #expect(r.calls[2]?.answeredBy == "PBX-2/2042")
        #expect(t.steps(.didMapped).map(\.detail) == ["DID 0123451011 -> extension 1011", "DID 0123452042 -> extension 2042"])
        let (r2, _) = try run(site(pbx1: "public_trunk: {channels: 2}", pbx2: "did: {\"012-345-2000..012-345-2199\": \"2000..2199\", \"012-345-1011\": \"1011\"}"),
                              [("1s", "dial PBX-1/1000 012-345-2199 hold 5s")])
        #expect(r2.calls[1]?.answeredBy == "PBX-2/2199")
    }

    /// Item 24: from area 098 the number needs its area code (a toll call); `3451011` is a valid
    /// local number only inside area 012. Both PBXs use the Japanese outside-line code 0.
    @Test func localAndTollNumbers() throws {
        let yaml = site(pbx1: "public_trunk: {channels: 2}\naccess_code: \"0\"", pbx2: "did: {remove: 6}\naccess_code: \"0\"")
        let (r, t) = try run(yaml, [("1s", "dial PBX-1/1000 0-345-1011"), ("2s", "dial PBX-2/2000 0-345-1011 hold 5s"),
                                    ("30s", "dial PBX-1/1001 0-012-345-1011 hold 5s")])
        #expect(r.calls[1]?.outcome == "failed") // 0983451011: nobody has it
        #expect(t.steps(.pstnSetup, call: 1).contains { $0.detail.contains("0983451011") })
        // From PBX-2 (area 012) the local number reaches 1011, on PBX-2's own trunk, no toll.
        #expect(r.calls[2]?.answeredBy == "PBX-2/1011")
        #expect(t.steps(.pstnSetup, call: 2).allSatisfy { !$0.detail.contains("toll") })
        // From 098 the full number is a toll call through TELCO-012.
        #expect(r.calls[3]?.answeredBy == "PBX-2/1011")
        #expect(t.steps(.pstnSetup, call: 3).contains { $0.detail.contains("toll call to TELCO-012") })
    }

    /// Items 17 and 21: TRS denies before any seizure; ARS carriers and trunk groups in order;
    /// all busy -> blocked.
    @Test func arsCarriersTrunkGroupsAndBlocking() throws {
        let pbx1 = """
        trunk_groups: [{id: 1, channels: 1}, {id: 2, channels: 1}, {id: 3, channels: 1}]
        trs: {3: {denied: ["0990"]}}
        ars:
          leading_numbers: [{digits: "0", plan: 1}]
          plans: {1: {time_blocks: [{start: "00:00", carriers: [KDDI, NTT]}]}}
          carriers:
            KDDI: {trunk_groups: [2, 1], access_code: "0077", modify: "CH"}
            NTT: {trunk_groups: [3], access_code: "0033", modify: "CH"}
        """
        let yaml = site(pbx1: pbx1, pbx2: "did: {remove: 6}").replacingOccurrences(of: "{numbers: \"1000..1009\"}", with: "{numbers: \"1000..1008\"}, {number: \"1009\", trs_level: 3}")
        let (r, t) = try run(yaml, [
            ("1s", "dial PBX-1/1000 012-345-2000 hold 100s"),
            ("2s", "dial PBX-1/1001 012-345-2001 hold 100s"),
            ("3s", "dial PBX-1/1002 012-345-2002 hold 100s"),
            ("4s", "dial PBX-1/1003 012-345-2003 hold 100s"),
            ("5s", "dial PBX-1/1009 0990-123-456"),
        ])
        let seized = t.steps(.trunkSeized).filter { $0.actor == "PBX-1" }.map(\.detail)
        #expect(seized.count == 3)
        #expect(seized[0].hasPrefix("trunk group 2 channel 1") && seized[0].contains("carrier KDDI, sends 00770123452000"))
        #expect(seized[1].hasPrefix("trunk group 1 channel 1") && seized[1].contains("carrier KDDI"))
        #expect(seized[2].hasPrefix("trunk group 3 channel 1") && seized[2].contains("carrier NTT, sends 00330123452002"))
        #expect(r.calls[1]?.answeredBy == "PBX-2/2000") // the telco strips the carrier code
        #expect(r.calls[4]?.outcome == "blocked")
        #expect(r.calls[5]?.outcome == "rejected")
        #expect(t.steps(.trunkSeized, call: 5).isEmpty)
    }

    /// Item 22 through the model: the scenario's `start` and time blocks pick the carrier.
    @Test func timeOfDayRouting() throws {
        let pbx1 = """
        trunk_groups: [{id: 1, channels: 2}, {id: 2, channels: 2}]
        ars:
          leading_numbers: [{digits: "0", plan: 1}]
          plans: {1: {time_blocks: [{start: "09:00", carriers: [DAY]}, {start: "21:00", carriers: [NIGHT]}]}}
          carriers:
            DAY: {trunk_groups: [1]}
            NIGHT: {trunk_groups: [2]}
        """
        let yaml = site(pbx1: pbx1, pbx2: "did: {remove: 6}", extra: "start: \"2026-01-05 20:59\"")
        let (_, t) = try run(yaml, [("5s", "dial PBX-1/1000 012-345-2000 hold 5s"), ("95s", "dial PBX-1/1001 012-345-2001 hold 5s")])
        let seized = t.steps(.trunkSeized).filter { $0.actor == "PBX-1" }.map(\.detail)
        #expect(seized.count == 2)
        #expect(seized[0].hasPrefix("trunk group 1")) // 20:59:05
        #expect(seized[1].hasPrefix("trunk group 2")) // 21:00:35
    }

    /// Quick Dial rerouting of a private number when the SIP side is unavailable (no card here:
    /// private numbers go public through the map).
    @Test func quickDialRerouting() throws {
        let (r, t) = try run(site(pbx1: "public_trunk: {channels: 2}\naccess_code: \"9\"\nquick_dial: {\"720\": \"9012345\"}", pbx2: "did: {remove: 6}"),
                             [("1s", "dial PBX-1/1000 720-2000 hold 5s"), ("2s", "dial PBX-1/1001 9-012-345-2001 hold 5s"),
                              ("3s", "dial PBX-1/1002 012-345-2002")])
        // 720 + 2000 -> 9 012345 2000: the access code 9 selects the trunk, the trunk gets 0123452000.
        #expect(r.calls[1]?.answeredBy == "PBX-2/2000")
        #expect(t.steps(.trunkSeized, call: 1).first?.detail.hasSuffix("sends 0123452000") == true)
        #expect(r.calls[2]?.answeredBy == "PBX-2/2001")
        #expect(t.steps(.trunkSeized, call: 2).first?.detail.hasSuffix("sends 0123452001") == true)
        // With an access code configured, a number without it is not an outside call.
        #expect(r.calls[3]?.outcome == "failed")
    }

    /// Checklist 27 (and domain §1.1): a TIE call goes to the lowest-numbered available gateway of
    /// its group; a busy or unavailable gateway is passed over at once, without a timeout; no reply
    /// within about 4 s, or no gateway left, reroutes to the public trunk through the Quick Dial map.
    @Test func gatewayGroupSlide() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scenarios/tie-gateway-group.yaml").path
        let s = try ScenarioLoader.load(path: path, text: try String(contentsOfFile: path, encoding: .utf8))
        let sink = MemoryTraceSink()
        let r = ScenarioRunner.run(s, sink: sink, keepAll: true)
        // Call 1: GW1 (lowest) takes it; answered over IP by PBX-2 through its DID map.
        #expect(r.calls[1]?.route == "sip" && r.calls[1]?.answeredBy == "PBX-2/1010" && r.calls[1]?.rerouted == false)
        // Call 2: GW1 busy (1 channel) -> GW2 at the same instant; GW2 never answers -> public at +4 s.
        let c2 = sink.steps.filter { $0.callID == 2 }
        #expect(c2.contains { $0.kind == .targetSkipped && $0.detail.hasPrefix("gateway GW1 busy") && $0.atNs == 2 * sec })
        #expect(c2.contains { $0.kind == .routeSelected && $0.detail.contains("gateway GW2") && $0.atNs == 2 * sec })
        #expect(c2.first { $0.kind == .reroute }?.atNs == 6 * sec)
        #expect(r.calls[2]?.route == "public" && r.calls[2]?.answeredBy == "PBX-2/1011")
        // Call 3: both busy -> the public trunk at once, re-dialled through Quick Dial.
        #expect(sink.steps.first { $0.callID == 3 && $0.kind == .reroute }?.atNs == 3 * sec)
        #expect(sink.steps.contains { $0.callID == 3 && $0.kind == .routeSelected && $0.detail.hasPrefix("Quick Dial: 7201012 -> 90123451012") })
        #expect(r.calls[3]?.answeredBy == "PBX-2/1012")
        // Call 4: GW1 down (unavailable) -> GW2.
        #expect(sink.steps.contains { $0.callID == 4 && $0.detail.hasPrefix("gateway GW1 (198.51.100.2) unavailable") })
        #expect(r.calls[4]?.rerouted == true)
    }

    /// A call a carrier's gateway terminated on the public network, to a PBX extension that never
    /// answers: at the far PBX's ring timeout the failure goes back to the gateway, which answers
    /// the INVITE with 480 (as a DISCONNECT for no answer makes it); the caller's PBX gets the 480
    /// over SIP and ACKs it, and the far PBX lets the call go without a step of its own.
    @Test func ringTimeoutBehindAGatewayIsA480() throws {
        // PBX-1's card reaches a gateway server; PBX-2 registers nothing, so the call ends up on
        // PBX-2's public trunk through the gateway.
        let yaml = site(pbx1: "public_trunk: {channels: 2, numbers: [\"098-765-4321\"]}\n"
                            + "v_sipgw: {sip_server: 192.0.2.10, registrar: 192.0.2.10, numbers: [\"098-765-4321\"]}",
                        pbx2: "did: {remove: 6}",
                        extra: "defaults: {ring_timeout: 20s, no_answer_timeout: 90s}\n"
                            + "sip_servers: [{host: sip1.itsp.example, domain: itsp.example, pstn_gateway: true}]",
                        hosts: "sip1.itsp.example: 192.0.2.10")
        let (r, t) = try run(yaml, [("0s", "unanswered PBX-2/1011"), ("1s", "dial PBX-1/1000 012-345-1011")])
        let c = try #require(r.calls[1])
        #expect(c.route == "sip" && c.outcome == "no-answer" && c.rerouted == false, "\(c)")
        let rang = try #require(t.steps(.callRejected).first { $0.detail.hasPrefix("not answered within") })
        #expect(rang.actor == "PBX-2/1011")
        // The gateway's 480 reaches the caller's PBX after the ring timeout, and is ACKed.
        let r480 = t.sipMessages.filter { $0.statusCode == 480 }
        #expect(!r480.isEmpty && r480.allSatisfy { $0.atNs == rang.atNs && $0.src.hasPrefix("192.0.2.10") })
        #expect(rang.atNs == 21_210_000_000) // SETUP at 1.21 s, then the 20 s ring timeout
        #expect(t.steps(.callEnded).last?.detail.hasPrefix("no-answer: 480") == true)
        #expect(t.sipMessages.contains { $0.method == "ACK" && $0.atNs >= rang.atNs && $0.src.hasPrefix("198.51.100.1") })
        // The far PBX's incoming channel was released quietly with the failure.
        #expect(t.steps(.trunkReleased).allSatisfy { $0.actor != "PBX-2" })
    }

    /// Subscriber lines answer, and are busy while in a call.
    @Test func subscribers() throws {
        let (r, _) = try run(site(pbx1: "public_trunk: {channels: 4}", telco012: "subscribers: [{numbers: \"012-555-0000..012-555-0099\", answer_after: 2s}]"),
                             [("1s", "dial PBX-1/1000 012-555-0042 hold 20s"), ("2s", "dial PBX-1/1001 012-555-0042"), ("3s", "dial PBX-1/1002 012-555-0100")])
        #expect(r.calls[1]?.answeredBy == "TELCO-012/0125550042")
        #expect(r.calls[2]?.outcome == "busy")
        #expect(r.calls[3]?.outcome == "failed")
    }

    static func erlangB(_ n: Int, _ a: Double) -> Double {
        var b = 1.0
        for k in 1...n { b = a * b / (Double(k) + a * b) }
        return b
    }

    /// Blocking on an N-channel trunk under Poisson traffic agrees with the Erlang B formula.
    /// 20,000 calls per point: the standard error of the measured ratio is about 0.002; the
    /// tolerance is 0.012 (about five standard errors, allowing for correlation between calls).
    @Test(arguments: [(4, 2.0), (8, 5.0)])
    func erlangBBlocking(_ point: (Int, Double)) throws {
        let (n, a) = point
        let yaml = """
        name: erlang-b
        seed: 11
        network:
          hosts: {pbx1.example: 198.51.100.1}
        telephone_companies:
          - {name: TELCO-098, area_code: "098", switching_delay: 0s, toll_delay: 0s}
          - name: TELCO-012
            area_code: "012"
            switching_delay: 0s
            toll_delay: 0s
            subscribers: [{numbers: "012-555-0000..012-555-9999", answer_after: 0s}]
        pbxs:
          - name: PBX-1
            host: pbx1.example
            telephone_company: TELCO-098
            extensions: [{numbers: "1000..1099"}]
            public_trunk: {channels: \(n)}
        traffic:
          - from: PBX-1/1000..1099
            to: ["012-555-0000..012-555-9999"]
            erlangs: \(a)
            mean_hold: 120s
            calls: 20000

        """
        let s = try ScenarioLoader.load(path: "erlang.yaml", text: yaml)
        final class Null: TraceSink { func record(_ e: TraceEvent) {}; func flush() throws {} }
        let r = ScenarioRunner.run(s, sink: Null())
        let pbx = try #require(r.summaries.first { $0.pbx == "PBX-1" })
        #expect(pbx.offered == 20000)
        let measured = Double(pbx.blocked) / Double(pbx.offered)
        let expected = Self.erlangB(n, a)
        #expect(abs(measured - expected) < 0.012, "N=\(n) A=\(a): blocking \(measured), Erlang B \(expected)")
        // Carried traffic = A (1 - B) within 3 %.
        #expect(abs(pbx.trunkMean - a * (1 - expected)) / (a * (1 - expected)) < 0.03, "mean occupancy \(pbx.trunkMean)")
        #expect(pbx.trunkPeak == n)
    }

    /// Traffic draws are reproducible and memory stays bounded by the calls in progress.
    @Test func trafficIsReproducibleAndBounded() throws {
        let yaml = site(pbx1: "public_trunk: {channels: 3}", pbx2: "did: {remove: 6}")
            + "traffic:\n  - {from: \"PBX-1/1000..1009\", to: [\"012-345-2000..012-345-2199\"], rate: 60/min, mean_hold: 5s, hold: lognormal, sigma: 0.5, calls: 300}\n"
        let s = try ScenarioLoader.load(path: "t.yaml", text: yaml)
        let a = MemoryTraceSink(), b = MemoryTraceSink()
        let w = ScenarioRunner.makeWorld(s, sink: a)
        var maxInProgress = 0
        while !w.isQuiet && w.step() { maxInProgress = max(maxInProgress, w.callsInProgress) }
        _ = ScenarioRunner.run(s, sink: b)
        #expect(a.calls.count == 300)
        #expect(a.events == b.events)
        #expect(maxInProgress <= 10) // at most one call per caller extension
        let legs = w.pbxs.reduce(0) { $0 + $1.uas.legCount }
        #expect(legs < 50)
    }

    /// The SIP trunk's channel limit overflows to the public route.
    @Test func sipChannelLimitOverflows() throws {
        let (r, t) = try simulate(topology(pbx1Card: "channels: 1"), timeline: [
            ("1s", "dial PBX-1/1000 012-345-1011 hold 30s"), ("2s", "dial PBX-1/1001 012-345-1011 hold 30s")])
        #expect(r.calls[1]?.route == "sip")
        #expect(r.calls[2]?.route == "public")
        #expect(t.steps(.routeSelected, call: 2).first?.detail.contains("SIP channels busy") == true)
    }

    /// Summary expectations: counts and ratios with tolerances, checked and reported.
    @Test func summaryExpectations() throws {
        let yaml = site(pbx1: "public_trunk: {channels: 1}", pbx2: "did: {remove: 6}") + """
        timeline:
          - {at: 1s, do: "dial PBX-1/1000 012-345-2000 hold 10s"}
          - {at: 2s, do: "dial PBX-1/1001 012-345-2001 hold 10s"}
        expect:
          - summary: {pbx: PBX-1, offered: 2, blocked: 1, blocked_ratio: {min: 0.4, max: 0.6}, answered_public: 1, pdd_p50: {max: 2s}}
          - summary: {pbx: PBX-1, blocked_ratio: {max: 0.1}}

        """
        let s = try ScenarioLoader.load(path: "x.yaml", text: yaml)
        let r = ScenarioRunner.run(s, sink: MemoryTraceSink())
        let byField = Dictionary(grouping: r.expectations, by: \.field)
        #expect(byField["summary PBX-1 offered"]?.first?.held == true)
        #expect(byField["summary PBX-1 answered_public"]?.first?.held == true)
        #expect(byField["summary PBX-1 blocked_ratio"]?.map(\.held) == [true, false])
        #expect(byField["summary PBX-1 pdd_p50"]?.first?.held == true)
        #expect(throws: ScenarioError.self) {
            _ = try ScenarioLoader.load(path: "x.yaml", text: yaml.replacingOccurrences(of: "blocked: 1,", with: "blokked: 1,"))
        }
    }
}

extension PSTNTests {
    /// Item 21 as the carrier table states it: TRG priorities (9, 3, 1, 7) with groups
    /// {5, 7, 9, 11} enabled are hunted 9, 3, 1, 7, 5, 11; when all are busy the next carrier of
    /// the plan; when every carrier is busy, busy tone (`blocked`) with nothing seized.
    @Test func carrierTableHuntOrder() throws {
        let pbx1 = """
        trunk_groups: [{id: 1, channels: 1}, {id: 3, channels: 1}, {id: 5, channels: 1}, {id: 7, channels: 1}, {id: 9, channels: 1}, {id: 11, channels: 1}, {id: 13, channels: 1}]
        ars:
          leading_numbers: [{digits: "0", plan: 1}]
          plans: {1: {time_blocks: [{start: "00:00", carriers: [NTT, KDDI]}]}}
          carriers:
            NTT: {trunk_group_priority: [9, 3, 1, 7], trunk_groups_enabled: [5, 7, 9, 11]}
            KDDI: {trunk_groups: [13]}
        """
        // PBX-2 gets enough channels that every call stays up.
        let yaml = site(pbx1: pbx1, pbx2: "did: {remove: 6}").replacingOccurrences(of: "{id: 1, channels: 4, numbers: [\"012-345-1011\"", with: "{id: 1, channels: 10, numbers: [\"012-345-1011\"")
        #expect(yaml.contains("channels: 10"))
        let s = try ScenarioLoader.load(path: "pstn.yaml", text: yaml)
        #expect(s.world.pbxs[0].ars?.carriers["NTT"]?.trunkGroups == [9, 3, 1, 7, 5, 11])
        let dials = (0..<8).map { i in ("\(i + 1)s", "dial PBX-1/100\(i) 012-345-20\(10 + i) hold 100s") }
        let (r, t) = try run(yaml, dials)
        let groups = (1...8).map { r.calls[$0]?.trunkGroup }
        #expect(groups == [9, 3, 1, 7, 5, 11, 13, nil])
        #expect((1...6).allSatisfy { r.calls[$0]?.carrier == "NTT" })
        #expect(r.calls[7]?.carrier == "KDDI")
        #expect(r.calls[8]?.outcome == "blocked")
        #expect(t.steps(.trunkSeized, call: 8).isEmpty)
        // Call 8 hunted every group of both carriers in order before giving up.
        #expect(t.steps(.trunkBusy, call: 8).map { Int($0.detail.split(separator: " ")[2]) } == [9, 3, 1, 7, 5, 11, 13])
    }

    /// The carrier table is checked at load: at most 4 priorities, no group twice, not both forms.
    @Test func carrierTableIsValidated() throws {
        func load(_ carrier: String) throws {
            let pbx1 = """
            trunk_groups: [{id: 1, channels: 1}, {id: 2, channels: 1}, {id: 3, channels: 1}, {id: 4, channels: 1}, {id: 5, channels: 1}]
            ars:
              leading_numbers: [{digits: "0", plan: 1}]
              plans: {1: {time_blocks: [{start: "00:00", carriers: [NTT]}]}}
              carriers:
                NTT: \(carrier)
            """
            _ = try ScenarioLoader.load(path: "pstn.yaml", text: site(pbx1: pbx1))
        }
        #expect(throws: ScenarioError.self) { try load("{trunk_group_priority: [1, 2, 3, 4, 5]}") }
        #expect(throws: ScenarioError.self) { try load("{trunk_group_priority: [1, 1]}") }
        #expect(throws: ScenarioError.self) { try load("{trunk_groups: [1], trunk_groups_enabled: [2]}") }
        #expect(throws: ScenarioError.self) { try load("{trunk_groups_enabled: [6]}") }
        #expect(throws: ScenarioError.self) { try load("{access_code: \"0077\"}") }
        try load("{trunk_group_priority: [4, 2], trunk_groups_enabled: [1, 2]}")
    }

    /// Item 23, `add`: received 87654321, remove 6, add 10 -> 1021 (the checklist's example, on the
    /// loaded DID table), and through the network: 0123452042, remove 8, add 20 -> extension 2042.
    @Test func didRemoveThenAdd() throws {
        let s = try ScenarioLoader.load(path: "pstn.yaml", text: site(pbx2: "did: {remove: 6, add: \"10\"}"))
        #expect(s.world.pbxs[1].did.map("87654321") == "1021")
        #expect(s.world.pbxs[1].did.map("0123451011") == "101011")
        let (r, t) = try run(site(pbx1: "public_trunk: {channels: 2}", pbx2: "did: {remove: 8, add: \"20\"}"),
                             [("1s", "dial PBX-1/1000 012-345-2042 hold 5s")])
        #expect(t.steps(.didMapped).map(\.detail) == ["DID 0123452042 -> extension 2042"])
        #expect(r.calls[1]?.answeredBy == "PBX-2/2042")
    }
}
