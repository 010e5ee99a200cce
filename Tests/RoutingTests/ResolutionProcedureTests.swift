import Testing
@testable import Routing
import SIP

/// RFC 3263 §4 server location without the engine or the network (issue 9 item 3; checklist 11).
@Suite struct ResolutionProcedureTests {
    func ans(_ name: String, _ type: DNSType, rcode: DNSRcode = .noError, srv: [SRVRecord] = [], a: [String] = [],
             additional: [String: [String]] = [:]) -> DNSAnswer {
        DNSAnswer(name: name, type: type, rcode: rcode, srv: srv, a: a, additional: additional)
    }
    let none: (String) -> [String]? = { _ in nil }
    let sip1 = SRVRecord(priority: 10, weight: 60, port: 5060, target: "sip1.itsp.example")
    let sip2 = SRVRecord(priority: 10, weight: 40, port: 5070, target: "sip2.itsp.example")

    @Test func srvThenTargetAddresses() {
        var p = ResolutionProcedure(name: "itsp.example", port: nil, transport: .udp)
        #expect(p.first == .query(name: "_sip._udp.itsp.example", type: .srv))
        // sip1's address came in the additional section; sip2's must be asked, A then AAAA.
        #expect(p.answer(ans("_sip._udp.itsp.example", .srv, srv: [sip1, sip2], additional: ["sip1.itsp.example": ["192.0.2.10"]]), cachedAddresses: none)
                == .query(name: "sip2.itsp.example", type: .a))
        #expect(p.answer(ans("sip2.itsp.example", .a, a: ["192.0.2.11"]), cachedAddresses: none) == .query(name: "sip2.itsp.example", type: .aaaa))
        #expect(p.answer(ans("sip2.itsp.example", .aaaa, a: ["2001:db8::11"]), cachedAddresses: none)
                == .done(.srv([.init(record: sip1, addresses: ["192.0.2.10"]), .init(record: sip2, addresses: ["192.0.2.11", "2001:db8::11"])])))
        // With both targets' addresses cached, no query follows the SRV answer.
        var q = ResolutionProcedure(name: "itsp.example", port: nil, transport: .udp)
        #expect(q.answer(ans("_sip._udp.itsp.example", .srv, srv: [sip1]), cachedAddresses: { _ in ["192.0.2.10"] })
                == .done(.srv([.init(record: sip1, addresses: ["192.0.2.10"])])))
    }

    /// A "." record among others is left out; a record listed twice is asked for each time it
    /// is listed and both copies get every address found (one entry per distinct record, as the
    /// table keyed by record did).
    @Test func dotAndRepeatedRecords() {
        let dot = SRVRecord(priority: 0, weight: 0, port: 0, target: ".")
        var p = ResolutionProcedure(name: "itsp.example", port: nil, transport: .udp)
        #expect(p.answer(ans("_sip._udp.itsp.example", .srv, srv: [sip2, dot, sip2, sip1], additional: ["sip1.itsp.example": ["192.0.2.10"]]),
                         cachedAddresses: none) == .query(name: "sip2.itsp.example", type: .a))
        #expect(p.answer(ans("sip2.itsp.example", .a, a: ["192.0.2.11"]), cachedAddresses: none) == .query(name: "sip2.itsp.example", type: .aaaa))
        #expect(p.answer(ans("sip2.itsp.example", .aaaa), cachedAddresses: none) == .query(name: "sip2.itsp.example", type: .a))
        #expect(p.answer(ans("sip2.itsp.example", .a, a: ["192.0.2.12"]), cachedAddresses: none) == .query(name: "sip2.itsp.example", type: .aaaa))
        let both = ["192.0.2.11", "192.0.2.12"]
        #expect(p.answer(ans("sip2.itsp.example", .aaaa), cachedAddresses: none)
                == .done(.srv([.init(record: sip2, addresses: both), .init(record: sip2, addresses: both), .init(record: sip1, addresses: ["192.0.2.10"])])))
    }

    /// No SRV: the name's A then AAAA records at 5060 (5061 for TLS, whose SRV is `_sips._tcp`).
    @Test func noSRVFallsBackToAddresses() {
        var p = ResolutionProcedure(name: "itsp.example", port: nil, transport: .udp)
        #expect(p.answer(ans("_sip._udp.itsp.example", .srv, rcode: .nxdomain), cachedAddresses: none) == .query(name: "itsp.example", type: .a))
        #expect(p.answer(ans("itsp.example", .a, a: ["192.0.2.10"]), cachedAddresses: none) == .query(name: "itsp.example", type: .aaaa))
        #expect(p.answer(ans("itsp.example", .aaaa), cachedAddresses: none) == .done(.addresses(["192.0.2.10"], port: 5060)))
        var tls = ResolutionProcedure(name: "itsp.example", port: nil, transport: .tls)
        #expect(tls.first == .query(name: "_sips._tcp.itsp.example", type: .srv))
        _ = tls.answer(ans("_sips._tcp.itsp.example", .srv), cachedAddresses: none)
        _ = tls.answer(ans("itsp.example", .a, a: ["192.0.2.10"]), cachedAddresses: none)
        #expect(tls.answer(ans("itsp.example", .aaaa), cachedAddresses: none) == .done(.addresses(["192.0.2.10"], port: 5061)))
    }

    /// A name with an explicit port is looked up by A/AAAA only, never SRV (RFC 3263 §4.2).
    @Test func explicitPortSkipsSRV() {
        var p = ResolutionProcedure(name: "itsp.example", port: 5080, transport: .udp)
        #expect(p.first == .query(name: "itsp.example", type: .a))
        _ = p.answer(ans("itsp.example", .a, a: ["192.0.2.10"]), cachedAddresses: none)
        #expect(p.answer(ans("itsp.example", .aaaa), cachedAddresses: none) == .done(.addresses(["192.0.2.10"], port: 5080)))
    }

    @Test func failures() {
        var dot = ResolutionProcedure(name: "itsp.example", port: nil, transport: .udp)
        #expect(dot.answer(ans("_sip._udp.itsp.example", .srv, srv: [SRVRecord(priority: 0, weight: 0, port: 0, target: ".")]), cachedAddresses: none)
                == .failed("SRV target \".\": service not available at itsp.example"))
        var sf = ResolutionProcedure(name: "itsp.example", port: nil, transport: .udp)
        #expect(sf.answer(ans("_sip._udp.itsp.example", .srv, rcode: .servfail), cachedAddresses: none) == .failed("SERVFAIL for _sip._udp.itsp.example"))
        var nx = ResolutionProcedure(name: "itsp.example", port: 5060, transport: .udp)
        #expect(nx.answer(ans("itsp.example", .a, rcode: .nxdomain), cachedAddresses: none) == .failed("NXDOMAIN for itsp.example"))
        var empty = ResolutionProcedure(name: "itsp.example", port: 5060, transport: .udp)
        _ = empty.answer(ans("itsp.example", .a), cachedAddresses: none)
        #expect(empty.answer(ans("itsp.example", .aaaa), cachedAddresses: none) == .failed("no address for itsp.example"))
    }
}

/// The additional section is read by scanning a small table and by hashing a large one: the
/// same answers either way.
@Suite struct AdditionalSectionLookupTests {
    @Test func smallAndLargeTablesGiveTheSameAnswers() {
        for size in [0, 1, 3, 8, 9, 40] {
            var table: [String: [String]] = [:]
            for i in 0..<size { table["sip\(i).itsp.example"] = ["192.0.2.\(i)"] }
            for i in 0..<(size + 2) {
                let name = "sip\(i).itsp.example"
                #expect(ResolutionProcedure.lookup(name, in: table) == table[name], "size \(size), \(name)")
            }
            #expect(ResolutionProcedure.lookup("", in: table) == nil)
        }
    }
}
