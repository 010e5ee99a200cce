import SIP

public enum DNSType: String, Sendable { case srv = "SRV", a = "A", aaaa = "AAAA" }

public enum DNSRcode: String, Sendable { case noError = "NOERROR", nxdomain = "NXDOMAIN", servfail = "SERVFAIL" }

/// What the procedure needs of a DNS answer (from the network or from the cache).
public struct DNSAnswer: Sendable {
    public var name: String
    public var type: DNSType
    public var rcode: DNSRcode
    public var srv: [SRVRecord]
    public var a: [String]
    /// Additional-section addresses of SRV targets.
    public var additional: [String: [String]]
    public init(name: String, type: DNSType, rcode: DNSRcode, srv: [SRVRecord], a: [String], additional: [String: [String]]) {
        self.name = name; self.type = type; self.rcode = rcode; self.srv = srv; self.a = a; self.additional = additional
    }
}

/// RFC 3263 §4 server location for one name, sans-I/O (issue 9 item 3): SRV `_sip._udp.NAME`
/// (`_sip._tcp`, or `_sips._tcp` for TLS) unless a port is given; then the A and AAAA addresses
/// of SRV targets the additional section did not give; without SRV (NXDOMAIN or no records),
/// the name's own A then AAAA records at the transport's default port; SRV target "." alone means
/// no service. It says which query to make next; its driver sends it (or answers it from a cache,
/// with timeouts and retries of its own) and hands the answer back.
public struct ResolutionProcedure: Sendable {
    public enum Step: Sendable, Equatable {
        /// Ask this next (a new query: its try count starts again).
        case query(name: String, type: DNSType)
        case done(Resolution)
        /// The stage failed (SERVFAIL, NXDOMAIN, no address, SRV ".").
        case failed(String)
    }

    public let name: String
    public let port: Int?
    public let transport: Transport
    /// The query in flight.
    public private(set) var qname: String
    public private(set) var qtype: DNSType
    private var srv: [SRVRecord] = []
    /// The addresses found for each record of `srv`, by index; identical records share the entry
    /// of the first of them (`slot`). An answer has a few records: a scan, not a hash per call.
    private var srvAddresses: [[String]?] = []
    /// Records (by index into `srv`) whose addresses are still to be asked for, in order.
    private var pendingTargets: [Int] = []
    private var collected: [String] = []

    /// The entry of `srv[i]`: the first record equal to it.
    private func slot(_ i: Int) -> Int {
        var j = 0
        while j < i && srv[j] != srv[i] { j += 1 }
        return j
    }

    public init(name: String, port: Int?, transport: Transport) {
        self.name = name; self.port = port; self.transport = transport
        qname = port == nil ? transport.srvPrefix + name : name
        qtype = port == nil ? .srv : .a
    }

    /// The first query.
    public var first: Step { .query(name: qname, type: qtype) }

    /// `table[name]`; a table of a few names (an answer's additional section: one per SRV target)
    /// is scanned, comparing texts, instead of hashing the name with SipHash (about 500
    /// instructions a lookup, three a failover call, issue 11's profile).
    static func lookup(_ name: String, in table: [String: [String]]) -> [String]? {
        if table.count > 8 { return table[name] }
        for (k, v) in table where k == name { return v }
        return nil
    }

    /// The answer to the current query. `cachedAddresses` gives an SRV target's A and AAAA
    /// addresses when both are cached (no query needed for it).
    public mutating func answer(_ r: DNSAnswer, cachedAddresses: (String) -> [String]?) -> Step {
        if r.rcode == .servfail { return .failed("SERVFAIL for \(r.name)") }
        switch qtype {
        case .srv:
            if r.rcode == .nxdomain || r.srv.isEmpty {
                // No SRV: A records of the name itself at the default port (RFC 3263 §4.2).
                return ask(name, .a)
            }
            if !r.srv.contains(where: { $0.target != "." }) { return .failed("SRV target \".\": service not available at \(name)") }
            srv = r.srv
            srvAddresses = Array(repeating: nil, count: srv.count)
            for i in srv.indices where srv[i].target != "." {
                let target = srv[i].target
                if !r.additional.isEmpty, let ips = ResolutionProcedure.lookup(target, in: r.additional) { srvAddresses[slot(i)] = ips }
                else if let ips = cachedAddresses(target) { srvAddresses[slot(i)] = ips }
                else { pendingTargets.append(i) }
            }
            return continueTargets()
        case .a, .aaaa:
            // RFC 3263: A and AAAA records, IPv4 first. An A answer is followed by an AAAA query.
            if !srv.isEmpty {
                // The addresses of one SRV target.
                if let i = pendingTargets.first {
                    if r.rcode == .noError { let k = slot(i); srvAddresses[k] = (srvAddresses[k] ?? []) + r.a }
                    if qtype == .a { return ask(qname, .aaaa) }
                    pendingTargets.removeFirst()
                }
                return continueTargets()
            }
            if r.rcode == .nxdomain { return .failed("NXDOMAIN for \(r.name)") }
            collected += r.a
            if qtype == .a { return ask(qname, .aaaa) }
            if collected.isEmpty { return .failed("no address for \(r.name)") }
            return .done(.addresses(collected, port: port ?? transport.defaultPort))
        }
    }

    private mutating func ask(_ n: String, _ t: DNSType) -> Step {
        qname = n
        qtype = t
        return .query(name: n, type: t)
    }

    private mutating func continueTargets() -> Step {
        if let next = pendingTargets.first { return ask(srv[next].target, .a) }
        var list: [Resolution.ResolvedSRV] = []
        list.reserveCapacity(srv.count)
        for i in srv.indices where srv[i].target != "." {
            list.append(Resolution.ResolvedSRV(record: srv[i], addresses: srvAddresses[slot(i)] ?? []))
        }
        return .done(.srv(list))
    }
}
