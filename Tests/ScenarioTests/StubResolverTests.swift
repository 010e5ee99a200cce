import Testing
import SimCore
import SIP
import Routing
import Telephony
import Trace

/// A PBX's stub resolver alone, through a fake context (issue 9 item 6): RFC 3263 (SRV, then A of
/// targets the additional section lacks; A at 5060 without SRV), the per-query timeout and tries,
/// and the TTL cache.
@Suite struct StubResolverTests {
    final class FakeContext: ResolverContext {
        var nowNs: Int64 = 0
        var serverAddress: String? = "192.0.2.53"
        var timeoutNs: Int64 = 2_000_000_000
        var tries = 2
        var sent: [DNSQuery] = []
        var timers = EventQueue<(Int, Int)>()
        var steps: [StepKind] = []
        var results: [(ResolveRequester, String, Resolution)] = []
        func send(_ query: DNSQuery) { sent.append(query) }
        func scheduleTimeout(job: Int, attempt: Int, at ns: Int64) -> EventID { timers.push((job, attempt), at: SimTime(ns: ns)) }
        func cancel(_ id: EventID) { timers.cancel(id) }
        func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) { steps.append(kind) }
        func finished(_ requester: ResolveRequester, name: String, result: Resolution) { results.append((requester, name, result)) }
    }

    func reply(_ q: DNSQuery, srv: [SRVRecord] = [], a: [String] = [], additional: [String: [String]] = [:], rcode: DNSRcode = .noError) -> DNSResponse {
        DNSResponse(id: q.id, name: q.name, type: q.type, rcode: rcode, ttl: .seconds(300), srv: srv, a: a, additional: additional)
    }

    @Test func srvWithAdditionalAddressesThenTheCacheAnswers() throws {
        let ctx = FakeContext()
        let stub = StubResolver()
        stub.resolve(name: "itsp.example", port: nil, transport: .udp, for: .call(1), call: 1, ctx)
        let q = try #require(ctx.sent.first)
        #expect(q.name == "_sip._udp.itsp.example" && q.type == .srv)
        stub.answer(reply(q, srv: [SRVRecord(priority: 10, weight: 0, port: 5060, target: "sip1.itsp.example")],
                          additional: ["sip1.itsp.example": ["192.0.2.10"]]), ctx)
        #expect(ctx.results.count == 1)
        #expect(ctx.results.first?.2 == .srv([.init(record: SRVRecord(priority: 10, weight: 0, port: 5060, target: "sip1.itsp.example"), addresses: ["192.0.2.10"])]))
        #expect(ctx.timers.isEmpty) // the answer cancelled the query timer
        // A second resolution within the TTL: no query, a cache hit.
        ctx.nowNs = 100_000_000_000
        stub.resolve(name: "itsp.example", port: nil, transport: .udp, for: .registration(pbx: 0), call: nil, ctx)
        #expect(ctx.sent.count == 1)
        #expect(ctx.steps.contains(.dnsCacheHit))
        #expect(ctx.results.count == 2)
        // After the TTL (300 s) it asks again.
        ctx.nowNs = 301_000_000_000
        stub.resolve(name: "itsp.example", port: nil, transport: .udp, for: .call(2), call: 2, ctx)
        #expect(ctx.sent.count == 2)
    }

    @Test func silentServerTimesOutTwiceThenTheStageFails() throws {
        let ctx = FakeContext()
        let stub = StubResolver()
        stub.resolve(name: "itsp.example", port: 5060, transport: .udp, for: .call(1), call: 1, ctx)
        #expect(ctx.sent.map(\.type) == [.a]) // an explicit port: A records only
        let first = ctx.timers.pop()
        let (at, _, t) = try #require(first)
        #expect(at.ns == 2_000_000_000)
        ctx.nowNs = at.ns
        stub.timeout(job: t.0, attempt: t.1, ctx)
        #expect(ctx.sent.count == 2) // the second try
        let second = ctx.timers.pop()
        let (at2, _, t2) = try #require(second)
        ctx.nowNs = at2.ns
        stub.timeout(job: t2.0, attempt: t2.1, ctx)
        #expect(at2.ns == 4_000_000_000)
        #expect(ctx.results.first?.2 == .failure("timeout"))
        #expect(ctx.steps.filter { $0 == .dnsFailure }.count == 3) // two timeouts, then the stage
    }

    @Test func noDNSServerFailsAtOnce() {
        let ctx = FakeContext()
        ctx.serverAddress = nil
        let stub = StubResolver()
        stub.resolve(name: "itsp.example", port: nil, transport: .udp, for: .call(1), call: 1, ctx)
        #expect(ctx.sent.isEmpty)
        #expect(ctx.results.first?.2 == .failure("no DNS server configured"))
    }
}
