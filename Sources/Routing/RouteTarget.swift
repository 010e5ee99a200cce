import SIP

/// Where a SIP request can be sent: one address, one port, one transport.
public struct RouteTarget: Sendable, Hashable, CustomStringConvertible {
    public enum Origin: Sendable, Hashable {
        /// The configured SIP server (or registrar) address.
        case configured
        /// The configured failover address.
        case failover
        /// From DNS: SRV target host (or the name itself for A records).
        case dns(name: String, host: String)
        /// The server that last accepted REGISTER / the sticky failback server.
        case preferred
    }

    public var ip: String
    public var port: Int
    public var transport: Transport
    public var origin: Origin

    public init(ip: String, port: Int = 5060, transport: Transport = .udp, origin: Origin) {
        self.ip = ip; self.port = port; self.transport = transport; self.origin = origin
    }

    public var hostPort: String { SIP.hostPort(ip, port) }
    public var description: String { hostPort }

    public var originLabel: String {
        switch origin {
        case .configured: return "configured"
        case .failover: return "failover"
        case .dns(let name, let host): return "dns \(name) -> \(host)"
        case .preferred: return "preferred"
        }
    }
}

/// How a configured server is written: an IP literal or a name, optionally with a port.
public enum ServerAddress: Sendable, Hashable, CustomStringConvertible {
    case ip(String, port: Int?)
    case name(String, port: Int?)

    /// Parses `192.0.2.10`, `192.0.2.10:5070`, `itsp.example`, `itsp.example:5060`,
    /// `2001:db8::10`, `[2001:db8::10]:5070`.
    public static func parse(_ text: String) -> ServerAddress? {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let ip = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard isIPv6(ip), let canon = canonicalIP(ip) else { return nil }
            if rest.isEmpty { return .ip(canon, port: nil) }
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else { return nil }
            return .ip(canon, port: p)
        }
        if isIPv6(text) { return .ip(canonicalIP(text)!, port: nil) }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else { return nil }
        var port: Int? = nil
        if parts.count == 2 {
            guard let p = Int(parts[1]), (1...65535).contains(p) else { return nil }
            port = p
        }
        let h = String(host)
        if isIPv4(h) { return .ip(canonicalIP(h)!, port: port) }
        // Digits and dots only is an address, never a name (RFC 1123 §2.1): 999.1.1.1 is invalid.
        if h.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) { return nil }
        let ok = h.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
        return ok ? .name(h, port: port) : nil
    }

    public static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy { $0.isASCII && $0.isNumber } && Int(p)! <= 255
        }
    }

    /// A literal IPv6 address (hex groups and colons, at most one `::`).
    public static func isIPv6(_ s: String) -> Bool {
        guard s.contains(":"), s.allSatisfy({ $0.isHexDigit || $0 == ":" }), !s.contains(":::") else { return false }
        if s.hasPrefix(":") && !s.hasPrefix("::") { return false }
        if s.hasSuffix(":") && !s.hasSuffix("::") { return false }
        let chars = Array(s)
        let doubles = zip(chars, chars.dropFirst()).filter { $0 == ":" && $1 == ":" }.count
        guard doubles <= 1 else { return false }
        let groups = s.split(separator: ":", omittingEmptySubsequences: true)
        guard groups.allSatisfy({ $0.count <= 4 }) else { return false }
        return doubles == 1 ? groups.count <= 7 : groups.count == 8
    }

    public static func isIP(_ s: String) -> Bool { isIPv4(s) || isIPv6(s) }

    /// The canonical text of an address, so that addresses compare as addresses: IPv4 without
    /// leading zeros, IPv6 as RFC 5952 writes it (lower case, no leading zeros, the longest run of
    /// two or more zero groups as `::`). `2001:0DB8:0000::0011` -> `2001:db8::11`. Nil when the
    /// text is not an address.
    public static func canonicalIP(_ s: String) -> String? {
        if isIPv4(s) { return s.split(separator: ".").map { String(Int($0)!) }.joined(separator: ".") }
        guard isIPv6(s) else { return nil }
        // Expand to 8 groups.
        let chars = Array(s)
        var halves = [s]
        if let k = (0..<max(chars.count - 1, 0)).first(where: { chars[$0] == ":" && chars[$0 + 1] == ":" }) {
            halves = [String(chars[..<k]), String(chars[(k + 2)...])]
        }
        func groups(_ t: String) -> [UInt16] { t.isEmpty ? [] : t.split(separator: ":").map { UInt16($0, radix: 16)! } }
        var g: [UInt16]
        if halves.count == 2 {
            let a = groups(halves[0]), b = groups(halves[1])
            g = a + [UInt16](repeating: 0, count: 8 - a.count - b.count) + b
        } else {
            g = groups(s)
        }
        guard g.count == 8 else { return nil }
        // The longest run of zero groups (length >= 2), the first one on a tie.
        var best = (start: -1, len: 0), i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > best.len { best = (i, j - i) }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if best.len < 2 { return hex(g[...]) }
        return hex(g[..<best.start]) + "::" + hex(g[(best.start + best.len)...])
    }

    public var description: String {
        switch self {
        case .ip(let h, let p): return p.map { hostPort(h, $0) } ?? h
        case .name(let h, let p): return p.map { "\(h):\($0)" } ?? h
        }
    }
}

