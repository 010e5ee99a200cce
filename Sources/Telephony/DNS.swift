import SimCore
import Routing
import Trace

public struct DNSQuery: Sendable {
    public var id: Int
    public var name: String
    public var type: DNSType
    public init(id: Int, name: String, type: DNSType) { self.id = id; self.name = name; self.type = type }
}

public struct DNSResponse: Sendable {
    public var id: Int
    public var name: String
    public var type: DNSType
    public var rcode: DNSRcode
    public var ttl: SimTime
    public var srv: [SRVRecord]
    public var a: [String]
    /// Additional-section A records for SRV targets.
    public var additional: [String: [String]]

    public init(id: Int, name: String, type: DNSType, rcode: DNSRcode, ttl: SimTime, srv: [SRVRecord], a: [String], additional: [String: [String]]) {
        self.id = id; self.name = name; self.type = type; self.rcode = rcode; self.ttl = ttl; self.srv = srv; self.a = a; self.additional = additional
    }

    /// The typed fields of its records for the trace (`dns-answer`, `dns-cache-hit`): `count`, and
    /// `records`, comma-separated in the answer's order: SRV as `priority weight port target`, A and
    /// AAAA as addresses (none for an error or an empty answer).
    public var recordFields: [StepField] {
        guard rcode == .noError else { return [] }
        let records = type == .srv ? srv.map(\.text) : a
        return [StepField("count", records.count)] + (records.isEmpty ? [] : [StepField("records", records.joined(separator: ","))])
    }

    /// The answer as the trace's detail says it: `NXDOMAIN`, `10 60 5060 sip1... (ttl 300s)`, `192.0.2.10 (ttl 300s)`.
    public var summary: String {
        if rcode != .noError { return rcode.rawValue }
        switch type {
        case .srv:
            if srv.isEmpty { return "no SRV records" }
            return srv.map(\.text).joined(separator: ", ") + " (ttl \(ttl.durationString))"
        case .a, .aaaa:
            return a.isEmpty ? "no \(type.rawValue) records" : a.joined(separator: ", ") + " (ttl \(ttl.durationString))"
        }
    }

    /// What the RFC 3263 procedure reads of it.
    public var answer: DNSAnswer { DNSAnswer(name: name, type: type, rcode: rcode, srv: srv, a: a, additional: additional) }
}

/// What the scenario configures for one name.
public struct DNSZoneEntry: Sendable {
    public var ttl: SimTime
    /// SRV records answering `_sip._udp.NAME` and `_sip._tcp.NAME`.
    public var srv: [SRVRecord]?
    /// SRV records answering `_sips._tcp.NAME` (SIP over TLS, RFC 3263 §4.1); none means the name
    /// offers no TLS service by SRV (NODATA), and a TLS client falls back to A/AAAA at port 5061.
    public var srvSips: [SRVRecord]?
    public var a: [String]?
    public var aaaa: [String]?
    public init(ttl: SimTime, srv: [SRVRecord]?, a: [String]?, aaaa: [String]? = nil, srvSips: [SRVRecord]? = nil) {
        self.ttl = ttl; self.srv = srv; self.a = a; self.aaaa = aaaa; self.srvSips = srvSips
    }
}

/// The SIP SRV services RFC 3263 §4.1 queries: the prefix and whether it is the TLS one.
let sipServicePrefixes: [(prefix: String, tls: Bool)] = [("_sip._udp.", false), ("_sip._tcp.", false), ("_sips._tcp.", true)]

/// A fault injected on a name (`dns NAME servfail|nxdomain|timeout|normal`).
public enum DNSFault: String, Sendable, CaseIterable { case servfail, nxdomain, timeout, normal }

/// An authoritative DNS server for the scenario's names. Every network host name also has an A
/// record (TTL `defaultTTL`). A names with several A records are rotated by one on each answer
/// (round robin), as authoritative servers do.
/// The names of the site's hosts, which the DNS server answers for where its zone has no record.
public protocol HostNames {
    /// The address of the host with exactly this name, if any.
    func address(ofHostNamed name: String) -> String?
}

extension Network: HostNames {
    public func address(ofHostNamed name: String) -> String? {
        guard let h = host(name), h.name == name else { return nil }
        return h.ip
    }
}

/// What the site's DNS server may ask of whoever runs it (issue 9 item 2): the host names it
/// falls back on, and sending a response.
public protocol DNSServerContext: AnyObject, HostNames {
    /// Sends a response from the server's address `from` (port 53).
    func send(_ response: DNSResponse, from: String, to ip: String, port: Int)
}

/// The site's authoritative DNS server (a node): its zone, the faults injected on names, and the
/// round-robin rotation of multi-address A answers. The simulated world runs it on the network;
/// live mode's `ScenarioResolver` asks it directly.
public struct DNSServer {
    public var hostIP: String
    public var zone: [String: DNSZoneEntry]
    public var defaultTTL: SimTime
    public var faults: [String: DNSFault] = [:]
    private var rotation: [String: Int] = [:]

    public init(hostIP: String, zone: [String: DNSZoneEntry], defaultTTL: SimTime) {
        self.hostIP = hostIP; self.zone = zone; self.defaultTTL = defaultTTL
    }

    /// The fault that applies to a queried name: one set on the name itself, or on the domain of a
    /// `_sip._udp.` / `_sip._tcp.` / `_sips._tcp.` service name.
    func fault(for qname: String) -> DNSFault? {
        if let f = faults[qname], f != .normal { return f }
        for (prefix, _) in sipServicePrefixes where qname.hasPrefix(prefix) {
            if let f = faults[String(qname.dropFirst(prefix.count))], f != .normal { return f }
        }
        return nil
    }

    /// A query arrived from `from`: the answer goes back, unless the name's fault is `timeout`.
    public mutating func receive(_ q: DNSQuery, from: (ip: String, port: Int), _ ctx: some DNSServerContext) {
        if let r = answer(q, network: ctx) { ctx.send(r, from: hostIP, to: from.ip, port: from.port) }
    }

    /// Answers a query; nil means no answer at all (the `timeout` fault).
    public mutating func answer(_ q: DNSQuery, network: some HostNames) -> DNSResponse? {
        var r = DNSResponse(id: q.id, name: q.name, type: q.type, rcode: .noError, ttl: defaultTTL, srv: [], a: [], additional: [:])
        switch fault(for: q.name) {
        case .timeout?: return nil
        case .servfail?: r.rcode = .servfail; return r
        case .nxdomain?: r.rcode = .nxdomain; return r
        case .normal?, nil: break
        }
        switch q.type {
        case .srv:
            var domain = q.name, tls = false
            for (prefix, isTLS) in sipServicePrefixes where q.name.hasPrefix(prefix) {
                domain = String(q.name.dropFirst(prefix.count)); tls = isTLS
            }
            guard let entry = zone[domain], let srv = tls ? entry.srvSips : entry.srv else {
                // No SRV: NODATA when the name exists, NXDOMAIN otherwise.
                r.rcode = exists(domain, network: network) ? .noError : .nxdomain
                return r
            }
            r.ttl = entry.ttl
            r.srv = srv
            for rr in r.srv where rr.target != "." {
                // Additional section: the target's A and AAAA records.
                let ips = (addresses(rr.target, network: network) ?? []) + (addresses6(rr.target, network: network) ?? [])
                if !ips.isEmpty { r.additional[rr.target] = ips }
            }
        case .a, .aaaa:
            let found = q.type == .a ? addresses(q.name, network: network) : addresses6(q.name, network: network)
            guard let ips = found else {
                // NODATA when the name has the other family, NXDOMAIN when it has nothing.
                if !exists(q.name, network: network) { r.rcode = .nxdomain }
                return r
            }
            if let e = zone[q.name], (q.type == .a ? e.a : e.aaaa) != nil { r.ttl = e.ttl }
            let k = rotation[q.name, default: 0]
            if ips.count > 1 {
                let s = k % ips.count
                r.a = Array(ips[s...] + ips[..<s])
                rotation[q.name] = k + 1
            } else {
                r.a = ips
            }
        }
        return r
    }

    /// Whether the name exists at all (any record, or a host of that name).
    func exists(_ name: String, network: some HostNames) -> Bool {
        zone[name] != nil || network.address(ofHostNamed: name) != nil
    }

    /// IPv4 addresses of a name: its zone A records, else a host of that name with an IPv4 address.
    func addresses(_ name: String, network: some HostNames) -> [String]? {
        if let a = zone[name]?.a { return a }
        if let ip = network.address(ofHostNamed: name), !ip.contains(":") { return [ip] }
        return nil
    }

    /// IPv6 addresses of a name: its zone AAAA records, else a host of that name with an IPv6 address.
    func addresses6(_ name: String, network: some HostNames) -> [String]? {
        if let a = zone[name]?.aaaa { return a }
        if let ip = network.address(ofHostNamed: name), ip.contains(":") { return [ip] }
        return nil
    }
}

/// A PBX's stub resolver: a cache with per-answer expiry and the RFC 3263 procedure (SRV, else A
/// at 5060; an explicit port skips SRV).
public struct ResolverCache: Sendable {
    public init() {}
    public struct Entry: Sendable { public var expires: SimTime; public var response: DNSResponse }
    /// A cached answer's name and type: hashed once from the name's bytes (`StringKey`), where a
    /// key of text ("SRV _sip._udp.itsp.example") was built and SipHashed on every lookup.
    public struct Key: Hashable, Sendable {
        public let type: DNSType
        public let name: StringKey
        public init(_ name: String, _ type: DNSType) { self.name = StringKey(name); self.type = type }
        /// As the REPL's `dns` view shows and sorts it: `SRV _sip._udp.itsp.example`.
        public var text: String { "\(type.rawValue) \(name.string)" }
        public func hash(into hasher: inout Hasher) { hasher.combine(name); hasher.combine(type) }
        public func _rawHashValue(seed: Int) -> Int {
            name._rawHashValue(seed: seed ^ (type == .srv ? 0x5256 : type == .a ? 0x41 : 0x41414141))
        }
    }
    public var entries: [Key: Entry] = [:]

    /// When the record a DNS target came from expires (its SRV answer, else its A answer; nil for
    /// a target not from DNS): how long fail-back `dns-ttl` keeps new calls there.
    public func recordExpiry(of target: RouteTarget) -> Int64? {
        guard case .dns(let name, _) = target.origin else { return nil }
        return (entries[Key(target.transport.srvPrefix + name, .srv)] ?? entries[Key(name, .a)])?.expires.ns
    }

    public func lookup(_ name: String, _ type: DNSType, now: SimTime) -> DNSResponse? {
        guard let e = entries[Key(name, type)], e.expires > now else { return nil }
        return e.response
    }

    public mutating func store(_ r: DNSResponse, now: SimTime) {
        guard r.rcode != .servfail else { return }
        entries[Key(r.name, r.type)] = Entry(expires: now + r.ttl, response: r)
        for (name, ips) in r.additional {
            for (type, list) in [(DNSType.a, ips.filter { !$0.contains(":") }), (.aaaa, ips.filter { $0.contains(":") })] {
                let a = DNSResponse(id: r.id, name: name, type: type, rcode: .noError, ttl: r.ttl, srv: [], a: list, additional: [:])
                entries[Key(name, type)] = Entry(expires: now + r.ttl, response: a)
            }
        }
    }

    /// Live entries, for the REPL's `dns NAME` view.
    public func live(now: SimTime) -> [(key: String, expires: SimTime, response: DNSResponse)] {
        entries.filter { $0.value.expires > now }.map { ($0.key.text, $0.value.expires, $0.value.response) }.sorted { $0.0 < $1.0 }
    }
}
