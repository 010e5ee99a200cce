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

    public var hostPort: String { "\(ip):\(port)" }
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

    /// Parses `192.0.2.10`, `192.0.2.10:5070`, `itsp.example`, `itsp.example:5060`.
    public static func parse(_ text: String) -> ServerAddress? {
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

    public var description: String {
        switch self {
        case .ip(let h, let p), .name(let h, let p): return p.map { "\(h):\($0)" } ?? h
        }
    }
}
