import Routing

/// Where live mode may send (issue 14, docs/live.md "Safety"): only to the addresses the scenario
/// names, and only to loopback or private addresses unless the user says `--yes`.
public enum AddressScope: String, Sendable {
    case loopback, `private`, linkLocal = "link-local", `public`

    /// The scope of an IPv4 or IPv6 literal.
    public static func of(_ ip: String) -> AddressScope {
        if ServerAddress.isIPv4(ip) {
            let o = ip.split(separator: ".").compactMap { Int($0) }
            guard o.count == 4 else { return .public }
            if o[0] == 127 { return .loopback }
            if o[0] == 10 || (o[0] == 172 && (16...31).contains(o[1])) || (o[0] == 192 && o[1] == 168) { return .private }
            if o[0] == 169 && o[1] == 254 { return .linkLocal }
            return .public
        }
        let v = (ServerAddress.canonicalIP(ip) ?? ip).lowercased()
        if v == "::1" { return .loopback }
        if v.hasPrefix("fc") || v.hasPrefix("fd") { return .private }          // fc00::/7 unique local
        if v.hasPrefix("fe8") || v.hasPrefix("fe9") || v.hasPrefix("fea") || v.hasPrefix("feb") { return .linkLocal }
        return .public
    }

    /// Whether live mode may send there without `--yes`.
    public var isLocal: Bool { self != .public }
}
