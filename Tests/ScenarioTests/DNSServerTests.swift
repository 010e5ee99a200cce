import Testing
import SimCore
import Routing
import Telephony

/// The site's DNS server alone, through a fake context (issue 9 item 6): SRV with the targets'
/// addresses in the additional section, A round robin, NODATA against NXDOMAIN, TTLs, host names
/// as a fallback, and the injected faults (a fault on a domain covers its SIP SRV names).
@Suite struct DNSServerTests {
    final class FakeContext: DNSServerContext {
        var hosts: [String: String] = ["sip3": "192.0.2.13", "v6host": "2001:db8::5"]
        var sent: [(response: DNSResponse, from: String, ip: String, port: Int)] = []
        func address(ofHostNamed name: String) -> String? { hosts[name] }
        func send(_ response: DNSResponse, from: String, to ip: String, port: Int) { sent.append((response, from, ip, port)) }
    }

    let srv = [SRVRecord(priority: 10, weight: 60, port: 5060, target: "sip1.itsp.example"),
               SRVRecord(priority: 10, weight: 40, port: 5060, target: "sip2.itsp.example"),
               SRVRecord(priority: 20, weight: 0, port: 5060, target: "sip3")]

    func server() -> DNSServer {
        DNSServer(hostIP: "192.0.2.53", zone: [
            "itsp.example": DNSZoneEntry(ttl: .seconds(300), srv: srv, a: ["192.0.2.10", "192.0.2.11"]),
            "sip1.itsp.example": DNSZoneEntry(ttl: .seconds(60), srv: nil, a: ["192.0.2.10"]),
            "sip2.itsp.example": DNSZoneEntry(ttl: .seconds(60), srv: nil, a: ["192.0.2.11"], aaaa: ["2001:db8::11"]),
        ], defaultTTL: .seconds(3600))
    }

    func ask(_ s: inout DNSServer, _ ctx: FakeContext, _ name: String, _ type: DNSType) -> DNSResponse? {
        let before = ctx.sent.count
        s.receive(DNSQuery(id: 7, name: name, type: type), from: ("198.51.100.10", 53001), ctx)
        return ctx.sent.count > before ? ctx.sent.last?.response : nil
    }

    @Test func srvCarriesTheTargetsAddresses() throws {
        let ctx = FakeContext()
        var s = server()
        let r = try #require(ask(&s, ctx, "_sip._udp.itsp.example", .srv))
        #expect(r.rcode == .noError && r.srv == srv && r.ttl == .seconds(300) && r.id == 7)
        #expect(r.additional["sip1.itsp.example"] == ["192.0.2.10"])
        #expect(r.additional["sip2.itsp.example"] == ["192.0.2.11", "2001:db8::11"])
        #expect(r.additional["sip3"] == ["192.0.2.13"]) // a host of the site, by its name
        // The response goes back to the asking address and port, from the server's.
        #expect(ctx.sent.last?.from == "192.0.2.53" && ctx.sent.last?.ip == "198.51.100.10" && ctx.sent.last?.port == 53001)
        // No SIP-over-TLS service: NODATA, the name exists.
        let tls = try #require(ask(&s, ctx, "_sips._tcp.itsp.example", .srv))
        #expect(tls.rcode == .noError && tls.srv.isEmpty)
    }

    @Test func aRecordsRotateRoundRobin() throws {
        let ctx = FakeContext()
        var s = server()
        let first = try #require(ask(&s, ctx, "itsp.example", .a))
        let second = try #require(ask(&s, ctx, "itsp.example", .a))
        let third = try #require(ask(&s, ctx, "itsp.example", .a))
        #expect(first.a == ["192.0.2.10", "192.0.2.11"])
        #expect(second.a == ["192.0.2.11", "192.0.2.10"])
        #expect(third.a == first.a)
        #expect(first.ttl == .seconds(300))
    }

    @Test func nodataAgainstNxdomainAndHostFallback() throws {
        let ctx = FakeContext()
        var s = server()
        #expect(try #require(ask(&s, ctx, "sip1.itsp.example", .aaaa)).rcode == .noError) // exists, no AAAA: NODATA
        #expect(try #require(ask(&s, ctx, "nowhere.example", .a)).rcode == .nxdomain)
        #expect(try #require(ask(&s, ctx, "_sip._udp.nowhere.example", .srv)).rcode == .nxdomain)
        let host = try #require(ask(&s, ctx, "sip3", .a))
        #expect(host.a == ["192.0.2.13"] && host.ttl == .seconds(3600)) // the default TTL
        #expect(try #require(ask(&s, ctx, "v6host", .aaaa)).a == ["2001:db8::5"])
        #expect(try #require(ask(&s, ctx, "v6host", .a)).rcode == .noError) // NODATA for A
    }

    @Test func faultsOnANameCoverItsSIPServices() throws {
        let ctx = FakeContext()
        var s = server()
        s.faults["itsp.example"] = .servfail
        #expect(try #require(ask(&s, ctx, "_sip._udp.itsp.example", .srv)).rcode == .servfail)
        #expect(try #require(ask(&s, ctx, "itsp.example", .a)).rcode == .servfail)
        #expect(try #require(ask(&s, ctx, "sip1.itsp.example", .a)).rcode == .noError) // another name
        s.faults["itsp.example"] = .nxdomain
        #expect(try #require(ask(&s, ctx, "_sip._tcp.itsp.example", .srv)).rcode == .nxdomain)
        s.faults["itsp.example"] = .timeout
        #expect(ask(&s, ctx, "_sip._udp.itsp.example", .srv) == nil) // read, never answered
        s.faults["itsp.example"] = .normal
        #expect(try #require(ask(&s, ctx, "_sip._udp.itsp.example", .srv)).srv == srv)
    }
}
