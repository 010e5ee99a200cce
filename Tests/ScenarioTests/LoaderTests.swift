import Testing
@testable import Scenario
import Telephony
import SimCore

@Suite struct LoaderTests {
    let minimal = """
    name: t
    network:
      hosts: {a.example: 10.0.0.1}
    pbxs:
      - name: P
        host: a.example
        extensions: [{number: "100"}, {number: "101"}]
    timeline:
      - {at: 1s, do: "dial P/100 101"}

    """

    func error(_ text: String) -> ScenarioError? {
        do { _ = try ScenarioLoader.load(path: "x.yaml", text: text); return nil } catch let e as ScenarioError { return e } catch { return nil }
    }

    @Test func minimalLoads() throws {
        let s = try ScenarioLoader.load(path: "x.yaml", text: minimal)
        #expect(s.timeline.count == 1)
        #expect(s.timeline[0].at == .seconds(1))
        #expect(s.world.pbxs[0].extensions.map(\.number) == ["100", "101"])
    }

    @Test func unknownKeyIsNamedWithLine() {
        let e = error(minimal.replacingOccurrences(of: "name: t", with: "name: t\nsede: 4"))
        #expect(e?.line == 2)
        #expect(e?.key == "sede")
        #expect(e?.message.contains("unknown key 'sede'") == true)
    }

    @Test func badCommandIsNamed() {
        let e = error(minimal.replacingOccurrences(of: "dial P/100 101", with: "dail P/100 101"))
        #expect(e?.line == 9)
        #expect(e?.key == "timeline[0].do")
        #expect(e?.message.contains("did you mean 'dial'") == true)
    }

    @Test func unknownExtensionAndHost() {
        #expect(error(minimal.replacingOccurrences(of: "dial P/100 101", with: "dial P/999 101"))?.message.contains("no extension P/999") == true)
        #expect(error(minimal.replacingOccurrences(of: "dial P/100 101", with: "down nowhere"))?.message.contains("unknown host 'nowhere'") == true)
    }

    @Test func yamlSyntaxErrorHasALine() {
        let e = error("name: [unclosed\nseed: 1\n")
        #expect(e != nil)
        #expect(e?.line != nil)
    }

    @Test func missingSection() {
        #expect(error("name: x\n")?.message.contains("missing required key 'network'") == true)
    }

    @Test func commandParserRoundTrip() throws {
        for text in ["dial PBX-1/1000 012-345-1011", "dial 1000 0123 hold 30s", "down a b", "up a", "refuse sip1",
                     "respond sip1 503 retry-after 2m", "respond sip1 normal", "respond sip1 100", "respond sip1 200", "respond sip1 silent", "dns itsp.example servfail",
                     "latency 50ms", "latency 5ms sip1", "loss 10.0", "busy PBX-2/1011", "idle PBX-2/1011", "hangup 3", "hangup"] {
            let c = try CommandParser.parse(text)
            #expect(try CommandParser.parse(CommandParser.format(c)) == c, "\(text)")
        }
        #expect(throws: CommandParser.ParseError.self) { _ = try CommandParser.parse("respond sip1 250") }
        #expect(throws: CommandParser.ParseError.self) { _ = try CommandParser.parse("respond sip1 silent retry-after 5s") }
        #expect(throws: CommandParser.ParseError.self) { _ = try CommandParser.parse("loss 150") }
        #expect(throws: CommandParser.ParseError.self) { _ = try CommandParser.parse("dial PBX-1/1000") }
    }
}

/// A sweep may vary the card's transport over udp, tcp and tls; anything else is an error, not UDP.
@Suite struct SweepTransportTests {
    func sweep(_ values: String) throws -> Sweep {
        let base = topology()
        let text = "name: t\nbase: base.yaml\nvary:\n  transport: {choice: [\(values)]}\n"
        return try SweepLoader.load(path: "t.yaml", text: text, readFile: { $0.hasSuffix("base.yaml") ? base + "timeline: []\n" : nil })
    }

    @Test func tlsIsAcceptedAndUnknownIsRefused() throws {
        let (s, params) = try sweep("tls").scenario(run: 0, seed: 1)
        #expect(params.contains { $0.0 == "transport" && $0.1 == "tls" })
        #expect(s.world.pbxs.compactMap(\.card).allSatisfy { $0.transport == .tls })
        #expect(throws: ScenarioError.self) { _ = try sweep("sctp").scenario(run: 0, seed: 1) }
    }
}
