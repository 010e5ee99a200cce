import Testing
@testable import PBXSimCLI

/// Tab completion by position (issue 15): commands only first, then what the grammar says.
@Suite struct CompleterTests {
    let c = Completer(hosts: ["dns.itsp.example", "pbx1.example", "sip1.itsp.example", "sip2.itsp.example"],
                      sipServers: ["sip1.itsp.example", "sip2.itsp.example"],
                      extensions: ["PBX-1/1000", "PBX-1/1001", "PBX-2/1011"], dnsNames: ["itsp.example"], calls: [1, 2, 12],
                      files: { p in ["session.yaml", "report.html"].filter { $0.hasPrefix(p) } })

    @Test func commandsOnlyFirstAndOnce() {
        let d = c.candidates(before: [], prefix: "d")
        #expect(d == ["dial", "dns", "down"]) // dns once (it is both a world and a session command), no host names
        #expect(c.candidates(before: [], prefix: "s") == ["save", "status", "step"])
        #expect(!c.candidates(before: [], prefix: "").contains("sip1.itsp.example"))
    }

    @Test func argumentsByPosition() {
        #expect(c.candidates(before: ["down"], prefix: "s") == ["sip1.itsp.example", "sip2.itsp.example"])
        #expect(c.candidates(before: ["down", "sip1.itsp.example"], prefix: "s") == ["sip1.itsp.example", "sip2.itsp.example"])
        #expect(c.candidates(before: ["respond"], prefix: "") == ["sip1.itsp.example", "sip2.itsp.example"])
        #expect(c.candidates(before: ["respond", "sip1.itsp.example"], prefix: "5") == ["500", "503"])
        #expect(c.candidates(before: ["respond", "sip1.itsp.example"], prefix: "n") == ["normal"])
        #expect(c.candidates(before: ["respond", "sip1.itsp.example", "503"], prefix: "") == ["retry-after"])
        #expect(c.candidates(before: ["dial"], prefix: "PBX-1/") == ["PBX-1/1000", "PBX-1/1001"])
        #expect(c.candidates(before: ["dial", "PBX-1/1000"], prefix: "0").isEmpty)
        #expect(c.candidates(before: ["dial", "PBX-1/1000", "012-345-1011"], prefix: "h") == ["hold"])
        #expect(c.candidates(before: ["flow"], prefix: "1") == ["1", "12"])
        #expect(c.candidates(before: ["flow", "1"], prefix: "") == ["--svg"])
        #expect(c.candidates(before: ["hangup"], prefix: "") == ["1", "2", "12", "callee"])
        #expect(c.candidates(before: ["hangup", "2"], prefix: "c") == ["callee", "caller"])
        // partition: hosts, `|` once a host is on the first side, no host twice.
        #expect(c.candidates(before: ["partition"], prefix: "") == ["dns.itsp.example", "pbx1.example", "sip1.itsp.example", "sip2.itsp.example"])
        #expect(c.candidates(before: ["partition", "pbx1.example"], prefix: "") == ["dns.itsp.example", "sip1.itsp.example", "sip2.itsp.example", "|"])
        #expect(c.candidates(before: ["partition", "pbx1.example", "|"], prefix: "s") == ["sip1.itsp.example", "sip2.itsp.example"])
        #expect(c.candidates(before: ["save"], prefix: "s") == ["session.yaml"])
        #expect(c.candidates(before: ["report"], prefix: "r") == ["report.html"])
        #expect(c.candidates(before: ["dns"], prefix: "") == ["itsp.example"])
        #expect(c.candidates(before: ["dns", "itsp.example"], prefix: "") == ["servfail", "nxdomain", "timeout", "normal"])
        #expect(c.candidates(before: ["latency", "20ms"], prefix: "p") == ["pbx1.example"])
        #expect(c.candidates(before: ["status"], prefix: "").isEmpty)
    }
}
