import Routing
import Scenario
import SIP
import Telephony

/// Why live mode will not start, with the scenario file and line where there is one.
public struct LiveError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

extension LiveCard {
    /// Checks that live mode can drive this scenario, before any packet is sent: a PBX with a
    /// V-SIPGW card, UDP or TCP, no generated traffic, and a timeline of `dial` and `hangup`
    /// commands only (commands that break simulated hosts have nothing to act on in the real
    /// world: break the real server instead).
    public static func validate(_ s: Scenario, pbxName: String?) throws -> (pbx: PBXConfig, card: CardConfig) {
        let p: PBXConfig
        if let name = pbxName {
            guard let found = s.world.pbxs.first(where: { $0.name == name }) else {
                throw LiveError("\(s.file): no PBX named '\(name)' (the scenario has \(s.world.pbxs.map(\.name).joined(separator: ", ")))")
            }
            p = found
        } else {
            guard let found = s.world.pbxs.first(where: { $0.card != nil }) else {
                throw LiveError("\(s.file): no PBX has a v_sipgw card; live mode drives a V-SIPGW card")
            }
            p = found
        }
        guard let card = p.card else { throw LiveError("\(s.file): \(p.name) has no v_sipgw card; live mode drives a V-SIPGW card") }
        if card.transport == .tls {
            throw LiveError("\(s.file): \(p.name)'s card uses transport: tls; live mode speaks UDP and TCP (no TLS)")
        }
        if !s.world.traffic.isEmpty {
            throw LiveError("\(s.file): live mode places only the timeline's dial commands and no generated traffic; remove traffic:")
        }
        var problems: [String] = []
        for t in s.timeline {
            let at = "\(s.file)\(t.line.map { ":\($0)" } ?? ""): timeline '\(t.text)'"
            switch t.command {
            case .dial(let caller, let number, _):
                if let pn = caller.pbx, pn != p.name {
                    problems.append("\(at): the caller is on \(pn); live mode drives \(p.name) only (--pbx chooses)")
                } else if !p.extensions.contains(where: { $0.number == caller.number }) {
                    problems.append("\(at): \(p.name) has no extension \(caller.number)")
                } else {
                    let d = phoneDigits(number)
                    let external = p.accessCode.map { d.hasPrefix($0) && d.count > $0.count } ?? (d.first == "0")
                    if !external { problems.append("\(at): \(number) is not an outside number; live mode places calls over the SIP trunk only") }
                }
            case .hangup(_, let callee):
                if callee { problems.append("\(at): the called side is a real server in live mode; it cannot be told to hang up") }
            default:
                let word = t.text.split(separator: " ").first.map(String.init) ?? t.text
                problems.append("\(at): '\(word)' breaks a simulated host and is refused in live mode; break the real server instead (stop it, firewall it, make it answer 503)")
            }
        }
        if !problems.isEmpty { throw LiveError(problems.joined(separator: "\n")) }
        return (p, card)
    }

    /// Every address the card may send to, as far as the scenario tells before the run: its
    /// configured IP literals and what its names resolve to in the scenario's own DNS records.
    public static func namedAddresses(_ s: Scenario, card: CardConfig) -> [String] {
        var out: [String] = []
        func add(_ ip: String) { if !out.contains(ip) { out.append(ip) } }
        let resolver = ScenarioResolver(config: s.world)
        var names: [(String, Int?)] = []
        for a in [card.sipServer, card.registrar].compactMap({ $0 }) {
            switch a {
            case .ip(let ip, _): add(ip)
            case .name(let n, let port): names.append((n, port))
            }
        }
        for f in [card.sipServerFailover, card.registrarFailover].compactMap({ $0 }) { add(f) }
        for (n, port) in names where resolver.available {
            var proc = ResolutionProcedure(name: n, port: port, transport: card.transport)
            var next = proc.first
            for _ in 0..<32 {
                guard case .query(let q, let t) = next else { break }
                next = proc.answer(resolver.answer(name: q, type: t).answer) { _ in nil }
            }
            switch next {
            case .done(.srv(let list)): for x in list { x.addresses.forEach(add) }
            case .done(.addresses(let ips, _)): ips.forEach(add)
            default: break
            }
        }
        return out
    }
}
