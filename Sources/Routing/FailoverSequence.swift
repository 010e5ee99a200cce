import SIP

/// The ordered list of places to send one request (an INVITE or a REGISTER), built lazily stage by
/// stage as the Panasonic V-SIPGW does (feature guide §4.1.1.1): the configured server, then the
/// configured failover address, then the targets DNS gives for the registrar name, addresses
/// already tried dropped.
///
/// A stage that needs DNS stops the walk with `.needResolution`; the driver resolves the name over
/// the network and calls `provide(_:for:using:)`, after which `next` continues.
public struct FailoverSequence: Sendable {
    public enum Stage: Sendable, Hashable, CustomStringConvertible {
        /// One address (an IP literal).
        case address(String, port: Int?, origin: RouteTarget.Origin)
        /// The first target a name resolves to (a server configured by name).
        case firstOf(name: String, port: Int?)
        /// Every target a name resolves to, in RFC 2782 / A-record order.
        case allOf(name: String, port: Int?)

        public var description: String {
            switch self {
            case .address(let ip, let port, _): return port.map { "\(ip):\($0)" } ?? ip
            case .firstOf(let n, let p): return "first of \(n)\(p.map { ":\($0)" } ?? "")"
            case .allOf(let n, let p): return "dns \(n)\(p.map { ":\($0)" } ?? "")"
            }
        }
    }

    public enum Step: Sendable, Equatable {
        case target(RouteTarget)
        case needResolution(name: String, port: Int?)
        case exhausted
    }

    /// Why a candidate was passed over.
    public enum SkipReason: Sendable, Equatable, CustomStringConvertible {
        case alreadyTried
        case blocklisted
        case resolutionFailed(String)
        public var description: String {
            switch self {
            case .alreadyTried: return "already tried"
            case .blocklisted: return "blocklisted (Retry-After)"
            case .resolutionFailed(let why): return "resolution failed: \(why)"
            }
        }
        /// The reason as a category for the trace's typed `cause` field (docs/trace-schema.md).
        public var cause: String {
            switch self {
            case .alreadyTried: return "already-tried"
            case .blocklisted: return "blocklisted"
            case .resolutionFailed: return "resolution-failed"
            }
        }
    }

    public let stages: [Stage]
    public let transport: Transport
    public let defaultPort: Int
    private var stageIndex = 0
    /// Targets of the current stage; those from `pendingNext` on are not handed out yet (an
    /// index, not removal from the front, which moved the rest each time).
    private var pending: [RouteTarget] = []
    private var pendingNext = 0
    private var stageLoaded = false
    /// IP addresses already handed out: each address is tried once per request.
    public private(set) var tried: [String] = []
    /// Resolutions received, by name (one resolution serves `firstOf` and `allOf` of a name): a
    /// list scanned by name, not a table, since a sequence names one or two names (a dictionary
    /// was an allocation and a hash per call, issue 11).
    private var resolved: [(name: String, targets: [RouteTarget])] = []
    private var failedNames: [(name: String, why: String)] = []
    /// What was passed over and why, in order (drained by the driver for the trace).
    public var skipped: [(target: String, reason: SkipReason)] = []

    public init(stages: [Stage], transport: Transport = .udp) {
        self.stages = stages
        self.transport = transport
        self.defaultPort = transport.defaultPort
        // Room for the usual handful of addresses, so that appending does not regrow per call.
        tried.reserveCapacity(4)
        skipped.reserveCapacity(4)
    }

    /// The next target, or what is needed to find it.
    /// - Parameter isBlocked: whether an address is on the Retry-After blocklist now.
    public mutating func next(isBlocked: (String) -> Bool) -> Step {
        while stageIndex < stages.count {
            if !stageLoaded {
                switch stages[stageIndex] {
                case .address(let ip, let port, let origin):
                    // The list's buffer kept from stage to stage (no new array per address).
                    pending.removeAll(keepingCapacity: true)
                    pending.append(RouteTarget(ip: ip, port: port ?? defaultPort, transport: transport, origin: origin))
                case .firstOf(let name, let port), .allOf(let name, let port):
                    if let why = failedNames.first(where: { $0.name == name })?.why {
                        skipped.append((name, .resolutionFailed(why)))
                        pending = []
                    } else if let list = resolvedTargets(name) {
                        if case .firstOf = stages[stageIndex] { pending = Array(list.prefix(1)) } else { pending = list }
                    } else {
                        return .needResolution(name: name, port: port)
                    }
                }
                pendingNext = 0
                stageLoaded = true
            }
            while pendingNext < pending.count {
                let t = pending[pendingNext]
                pendingNext += 1
                if tried.contains(t.ip) {
                    skipped.append((t.ip, .alreadyTried))
                    continue
                }
                if isBlocked(t.ip) {
                    tried.append(t.ip)
                    skipped.append((t.ip, .blocklisted))
                    continue
                }
                tried.append(t.ip)
                return .target(t)
            }
            stageIndex += 1
            stageLoaded = false
        }
        return .exhausted
    }

    /// Hands the routing core the resolver's answer for `name`. SRV records are ordered here per
    /// RFC 2782 with the caller's random stream; each SRV target's addresses are tried in order.
    public mutating func provide<G: UniformSource>(_ resolution: Resolution, for name: String, using rng: inout G) {
        switch resolution {
        case .failure(let why):
            setFailed(name, why)
        case .addresses(let ips, let port):
            setResolved(name, ips.map { RouteTarget(ip: $0, port: port, transport: transport, origin: .dns(name: name, host: name)) })
        case .srv(let rrs):
            let ordered = RFC2782.orderedIndices(rrs.count, { rrs[$0].record.key }, using: &rng)
            var list: [RouteTarget] = []
            list.reserveCapacity(rrs.reduce(0) { $0 + $1.addresses.count })
            for k in ordered {
                let rr = rrs[k].record
                for ip in rrs[k].addresses {
                    list.append(RouteTarget(ip: ip, port: Int(rr.port), transport: transport, origin: .dns(name: name, host: rr.target)))
                }
            }
            if list.isEmpty { setFailed(name, "no usable SRV target") } else { setResolved(name, list) }
        }
    }

    /// The ordered list a name resolved to (for the trace).
    public func resolvedTargets(_ name: String) -> [RouteTarget]? { resolved.first(where: { $0.name == name })?.targets }

    /// A later answer for a name replaces the earlier one, as a table entry would.
    private mutating func setResolved(_ name: String, _ targets: [RouteTarget]) {
        if let i = resolved.firstIndex(where: { $0.name == name }) { resolved[i].targets = targets } else { resolved.append((name, targets)) }
    }

    private mutating func setFailed(_ name: String, _ why: String) {
        if let i = failedNames.firstIndex(where: { $0.name == name }) { failedNames[i].why = why } else { failedNames.append((name, why)) }
    }
}
