import CResolv
import Routing
import SimCore
import SIP
import Telephony

/// Where live mode's RFC 3263 procedure gets its DNS answers: the scenario's own records,
/// answered in-process (no DNS packet leaves the machine), or the system resolver
/// (`--system-dns`, res_query of /etc/resolv.conf's servers). Either way the procedure
/// (`ResolutionProcedure`) and the ordering of targets (`FailoverSequence`, RFC 2782) are the
/// simulation's own.
public protocol LiveResolver: AnyObject {
    /// What the answer comes from, for the trace (`scenario`, `system`).
    var label: String { get }
    /// False when there is nothing to ask (a scenario without a DNS server): a resolution then
    /// fails at once, as it does in the simulation ("no DNS server configured").
    var available: Bool { get }
    /// Answers one question; the TTL is in nanoseconds.
    func answer(name: String, type: DNSType) -> (answer: DNSAnswer, ttlNs: Int64)
}

/// The scenario's `dns:` records and host names, answered as its simulated DNS server would.
public final class ScenarioResolver: LiveResolver {
    public let label = "scenario"
    public var available: Bool { server != nil }
    private var server: DNSServer?
    private var network: Network

    public init(config: WorldConfig) {
        network = Network(latency: config.latency, rng: Xoshiro256(seed: config.seed))
        for h in config.hosts { network.addHost(name: h.name, ip: h.ip) }
        if let d = config.dns {
            server = DNSServer(hostIP: network.ip(of: d.server) ?? d.server, zone: d.records, defaultTTL: d.defaultTTL)
        }
    }

    public func answer(name: String, type: DNSType) -> (answer: DNSAnswer, ttlNs: Int64) {
        guard var s = server else { return (DNSAnswer(name: name, type: type, rcode: .servfail, srv: [], a: [], additional: [:]), 0) }
        let r = s.answer(DNSQuery(id: 0, name: name, type: type), network: network)
        server = s
        guard let r else {
            return (DNSAnswer(name: name, type: type, rcode: .servfail, srv: [], a: [], additional: [:]), 0)
        }
        return (r.answer, r.ttl.ns)
    }
}

/// The machine's resolver (res_query): SRV, A and AAAA from the real DNS, through the name
/// servers of /etc/resolv.conf, or through one given server (`--dns-server IP[:PORT]`).
public final class SystemResolver: LiveResolver {
    public let label: String
    public let available = true
    let server: (ip: String, port: Int)?
    public init(server: (ip: String, port: Int)? = nil) {
        self.server = server
        label = server.map { "system (\(hostPort($0.ip, $0.port)))" } ?? "system"
    }

    public func answer(name: String, type: DNSType) -> (answer: DNSAnswer, ttlNs: Int64) {
        let code: Int32 = type == .srv ? 33 : type == .a ? 1 : 28
        var buf = [UInt8](repeating: 0, count: 8192)
        let n = buf.withUnsafeMutableBufferPointer { b -> Int32 in
            if let s = server { return pbxsim_res_query_at(s.ip, Int32(s.port), name, code, b.baseAddress, Int32(b.count)) }
            return pbxsim_res_query(name, code, b.baseAddress, Int32(b.count))
        }
        var out = DNSAnswer(name: name, type: type, rcode: .noError, srv: [], a: [], additional: [:])
        if n < 0 {
            // h_errno: HOST_NOT_FOUND (1) is NXDOMAIN, NO_DATA (4) an empty answer, else a failure.
            let h = pbxsim_h_errno()
            out.rcode = h == 1 ? .nxdomain : h == 4 ? .noError : .servfail
            return (out, 0)
        }
        let parsed = DNSWire.parse(Array(buf[0..<Int(n)]))
        out.srv = parsed.srv
        out.a = type == .a ? parsed.a : type == .aaaa ? parsed.aaaa : []
        for (host, ips) in parsed.additional { out.additional[host] = ips }
        return (out, Int64(parsed.minTTL) * 1_000_000_000)
    }
}

/// A minimal reader of DNS answers (RFC 1035 §4.1): the answer and additional sections' SRV, A
/// and AAAA records, names decompressed.
public enum DNSWire {
    public struct Parsed {
        public var srv: [SRVRecord] = []
        var a: [String] = []
        var aaaa: [String] = []
        public var additional: [String: [String]] = [:]
        public var minTTL: UInt32 = 300
    }

    public static func parse(_ m: [UInt8]) -> Parsed {
        var p = Parsed()
        guard m.count >= 12 else { return p }
        func u16(_ i: Int) -> Int { i + 1 < m.count ? Int(m[i]) << 8 | Int(m[i + 1]) : 0 }
        func name(_ start: Int) -> (String, Int) {
            var labels: [String] = [], i = start, end = -1, hops = 0
            while i < m.count, hops < 64 {
                let len = Int(m[i])
                if len == 0 { i += 1; break }
                if len & 0xC0 == 0xC0 {
                    if end < 0 { end = i + 2 }
                    i = (len & 0x3F) << 8 | Int(m[min(i + 1, m.count - 1)]); hops += 1; continue
                }
                guard i + 1 + len <= m.count else { break }
                labels.append(String(decoding: m[(i + 1)...(i + len)], as: UTF8.self))
                i += 1 + len
            }
            return (labels.joined(separator: "."), end >= 0 ? end : i)
        }
        let qd = u16(4), an = u16(6), ns = u16(8), ar = u16(10)
        var i = 12
        for _ in 0..<qd { i = name(i).1 + 4 }
        var ttls: [UInt32] = []
        for section in 0..<3 {
            let count = section == 0 ? an : section == 1 ? ns : ar
            for _ in 0..<count {
                guard i < m.count else { return p }
                let (owner, after) = name(i)
                i = after
                guard i + 10 <= m.count else { return p }
                let type = u16(i), ttl = UInt32(u16(i + 4)) << 16 | UInt32(u16(i + 6)), rdlen = u16(i + 8)
                let rd = i + 10
                i = rd + rdlen
                guard i <= m.count else { return p }
                switch (section, type) {
                case (0, 33):
                    let target = name(rd + 6).0
                    p.srv.append(SRVRecord(priority: UInt16(u16(rd)), weight: UInt16(u16(rd + 2)), port: UInt16(u16(rd + 4)), target: target.isEmpty ? "." : target))
                    ttls.append(ttl)
                case (_, 1) where rdlen == 4:
                    let ip = m[rd..<rd + 4].map(String.init).joined(separator: ".")
                    if section == 0 { p.a.append(ip); ttls.append(ttl) } else if section == 2 { p.additional[owner, default: []].append(ip) }
                case (_, 28) where rdlen == 16:
                    var groups: [String] = []
                    for g in 0..<8 { groups.append(String(u16(rd + 2 * g), radix: 16)) }
                    let ip = ServerAddress.canonicalIP(groups.joined(separator: ":")) ?? groups.joined(separator: ":")
                    if section == 0 { p.aaaa.append(ip); ttls.append(ttl) } else if section == 2 { p.additional[owner, default: []].append(ip) }
                default: break
                }
            }
        }
        if let t = ttls.min() { p.minTTL = t }
        return p
    }
}
