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
            guard isIPv6(ip) else { return nil }
            if rest.isEmpty { return .ip(ip, port: nil) }
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else { return nil }
            return .ip(ip, port: p)
        }
        if isIPv6(text) { return .ip(text, port: nil) }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let host = parts.first, !host.isEmpty else { return nil }
        var port: Int? = nil
        if parts.count == 2 {
            guard let p = Int(parts[1]), (1...65535).contains(p) else { return nil }
            port = p
        }
        let h = String(host)
        if isIPv4(h) { return .ip(h, port: port) }
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

    public var description: String {
        switch self {
        case .ip(let h, let p): return p.map { hostPort(h, $0) } ?? h
        case .name(let h, let p): return p.map { "\(h):\($0)" } ?? h
        }
    }
}

