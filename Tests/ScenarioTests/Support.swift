import Foundation
@testable import Scenario
import Trace
import SimCore
import SIP

/// The seed topology with hooks for the parts a test changes.
func topology(pbx1Card: String = "", pbx2Card: String = "failover_timer_register: 4s", dnsExtra: String = "",
              srv: String? = nil, defaults: String = "") -> String {
    let srvRecords = srv ?? """
            - {priority: 10, weight: 60, port: 5060, target: sip1.itsp.example}
            - {priority: 10, weight: 40, port: 5060, target: sip2.itsp.example}
            - {priority: 20, weight: 0, port: 5060, target: sip3.itsp.example}
    """
    // Cold start: these tests watch registration from time zero (warm start has its own tests).
    return """
    name: test
    seed: 1
    cold_start: true
    network:
      latency: 10ms
      hosts:
        sip1.itsp.example: 192.0.2.10
        sip2.itsp.example: 192.0.2.11
        sip3.itsp.example: 192.0.2.12
        dns.itsp.example: 192.0.2.53
        pbx1.example: 198.51.100.1
        pbx2.example: 198.51.100.2
    dns:
      server: dns.itsp.example
    \(dnsExtra.isEmpty ? "" : dnsExtra.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n")  records:
        itsp.example:
          ttl: 300s
          srv:
    \(srvRecords)
    sip_servers:
      - {host: sip1.itsp.example, domain: itsp.example}
      - {host: sip2.itsp.example, domain: itsp.example}
      - {host: sip3.itsp.example, domain: itsp.example}
    telephone_companies:
      - {name: TELCO-098, area_code: "098"}
      - {name: TELCO-012, area_code: "012"}
    \(defaults.isEmpty ? "" : "defaults:\n" + defaults.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    pbxs:
      - name: PBX-1
        host: pbx1.example
        telephone_company: TELCO-098
        extensions: [{number: "1000"}, {number: "1001"}]
        public_trunk: {channels: 4, numbers: ["098-765-4321"]}
        v_sipgw:
          sip_server: 192.0.2.10
          sip_server_failover: 192.0.2.11
          registrar: itsp.example
          registrar_failover: 192.0.2.11
          failover_timer_register: 4s
          numbers: ["098-765-4321"]
    \(pbx1Card.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
      - name: PBX-2
        host: pbx2.example
        telephone_company: TELCO-012
        extensions: [{number: "1011", answer_after: 3s}]
        public_trunk: {channels: 4, numbers: ["012-345-1011"]}
        did: {"012-345-1011": "1011"}
        v_sipgw:
          sip_server: 192.0.2.10
          registrar: itsp.example
          numbers: ["012-345-1011"]
    \(pbx2Card.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))

    """
}

/// Builds a scenario from the topology plus a timeline, runs it, and returns the trace.
func simulate(_ topo: String, timeline: [(String, String)], until: String? = nil, seed: UInt64? = nil) throws -> (RunResult, MemoryTraceSink) {
    var text = topo + "timeline:\n"
    for (at, cmd) in timeline { text += "  - {at: \(at), do: \"\(cmd)\"}\n" }
    if let until { text += "until: \(until)\n" }
    let s = try ScenarioLoader.load(path: "test.yaml", text: text)
    let sink = MemoryTraceSink()
    let r = ScenarioRunner.run(s, seed: seed, sink: sink, keepAll: true)
    return (r, sink)
}

let ms: Int64 = 1_000_000
let sec: Int64 = 1_000_000_000

extension MemoryTraceSink {
    func invites(call: Int) -> [SIPMessageRecord] {
        sipMessages.filter { $0.callID == call && $0.method == "INVITE" && $0.src.hasPrefix("198.51.100.1") }
    }
    func steps(_ kind: StepKind, call: Int? = nil) -> [Step] {
        steps.filter { $0.kind == kind && (call == nil || $0.callID == call) }
    }
}

/// The server transactions a component test's fake SIP stack holds, matched as RFC 3261 §17.2.3
/// matches them: by top Via branch and method, an ACK matching its INVITE's transaction.
struct FakeServerTransactions {
    /// The requests that started a transaction, in order (a transaction's id is its position + 1).
    private(set) var started: [SIPMessage] = []
    private var held: Set<String> = []

    func matches(_ request: SIPMessage) -> Bool {
        held.contains("\(request.branch ?? "") \(request.method == "ACK" ? "INVITE" : request.method ?? "")")
    }
    mutating func start(_ request: SIPMessage) -> Int {
        started.append(request)
        held.insert("\(request.branch ?? "") \(request.method ?? "")")
        return started.count
    }
    /// Every transaction ends (its timer ran out): none matches any more.
    mutating func endAll() { held.removeAll() }
}
