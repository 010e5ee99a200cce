import SimCore
import SIP
import Routing

/// The whole topology of a run, as the scenario builder hands it to the world.
public struct WorldConfig: Sendable {
    public var seed: UInt64
    public var latency: SimTime
    public var hosts: [(name: String, ip: String)]
    public var dns: DNSConfig?
    public var sipServers: [SIPServerConfig]
    public var telcos: [TelcoConfig]
    public var pbxs: [PBXConfig]
    public var defaults: CallDefaults
    public var traffic: [TrafficConfig] = []
    /// Calendar time at simulated time zero, seconds since 1970 (UTC, no time zone).
    public var startEpoch: Int64 = 1_767_603_600 // 2026-01-05 09:00 (a Monday)
    /// Initial packet loss probability (0...1) of every UDP path.
    public var loss: Double = 0
    /// Start with nothing registered and watch the boot (`cold_start: true`). By default (warm
    /// start) every card's registration is already in place at time zero, as on a site that has
    /// run for hours.
    public var coldStart = false

    public init(seed: UInt64, latency: SimTime, hosts: [(name: String, ip: String)], dns: DNSConfig?,
                sipServers: [SIPServerConfig], telcos: [TelcoConfig], pbxs: [PBXConfig], defaults: CallDefaults = .init()) {
        self.seed = seed; self.latency = latency; self.hosts = hosts; self.dns = dns
        self.sipServers = sipServers; self.telcos = telcos; self.pbxs = pbxs; self.defaults = defaults
    }
}

public struct CallDefaults: Sendable {
    /// How long an answered call lasts before the caller hangs up.
    public var hold: SimTime = .seconds(60)
    /// How long a caller waits for an answer before giving up (the call ends `no-answer`).
    public var noAnswerTimeout: SimTime = .seconds(60)
    /// How long an extension set `unanswered` rings before its PBX gives up (480 over SIP,
    /// no-answer on the public network).
    public var ringTimeout: SimTime = .seconds(30)
    public init() {}
}

public struct DNSConfig: Sendable {
    public var server: String
    public var records: [String: DNSZoneEntry]
    public var defaultTTL: SimTime = .seconds(300)
    /// Stub resolver: per-query timeout and number of tries.
    public var resolverTimeout: SimTime = .seconds(2)
    public var resolverAttempts: Int = 2
    public init(server: String, records: [String: DNSZoneEntry]) { self.server = server; self.records = records }
}

public struct SIPServerConfig: Sendable {
    public var host: String
    public var domain: String
    /// The carrier terminates calls to numbers nobody registered on the public network (as a
    /// SIP provider does), through the telephone company of the number's area.
    public var pstnGateway = false
    /// How the server answers from the start (`respond:` in the scenario; nil = normally). A lab
    /// server that live mode meets (silent, 503, a UAS that answers 200) is described this way,
    /// so that the simulation of the same scenario predicts what live mode measures.
    public var respond: RespondMode?
    public init(host: String, domain: String) { self.host = host; self.domain = domain }
}

public struct TelcoConfig: Sendable {
    public var name: String
    public var areaCode: String
    /// Processing delay of this company's exchange for each call-setup message.
    public var switchingDelay: SimTime = .milliseconds(200)
    /// Extra delay of the toll transit when a call leaves this company's area.
    public var tollDelay: SimTime = .milliseconds(300)
    /// Plain subscriber lines that behave like phones.
    public var subscribers: [SubscriberRange] = []
    public init(name: String, areaCode: String) { self.name = name; self.areaCode = areaCode }
}

/// How long a phone rings before it is answered: fixed, or uniform between two durations.
public enum RingDelay: Sendable, Equatable {
    case fixed(SimTime)
    case uniform(SimTime, SimTime)

    func draw(_ rng: inout Xoshiro256) -> SimTime {
        switch self {
        case .fixed(let d): return d
        case .uniform(let a, let b): return SimTime(ns: a.ns + Int64(rng.uniformInclusive(UInt64(b.ns - a.ns) / 1_000_000)) * 1_000_000)
        }
    }
}

public struct ExtensionConfig: Sendable {
    public var number: String
    public var answerAfter: RingDelay
    /// Toll restriction level (1 = everything allowed ... 7 = everything barred).
    public var trsLevel: Int = 1
    public init(number: String, answerAfter: RingDelay = .fixed(.seconds(2)), trsLevel: Int = 1) {
        self.number = number; self.answerAfter = answerAfter; self.trsLevel = trsLevel
    }
}

/// A range of subscriber lines a telephone company owns (numbers as digits, inclusive).
public struct SubscriberRange: Sendable {
    public var first: String
    public var last: String
    public var answerAfter: RingDelay
    public init(first: String, last: String, answerAfter: RingDelay) { self.first = first; self.last = last; self.answerAfter = answerAfter }
    /// Whether `n` is in the range: as long as its ends and between them. The ends are ASCII
    /// digits (the loader accepts nothing else), so an ASCII `n` is as long as they are when its
    /// UTF-8 is (no grapheme counting per call); a number with any other character is in no range.
    public func contains(_ n: String) -> Bool {
        n.utf8.count == first.utf8.count && n.utf8.allSatisfy({ $0 < 0x80 }) && n >= first && n <= last
    }
}

/// A group of IP gateways (another PBX's VoIP gateway, by address), tried lowest-numbered first.
public struct GatewayGroupConfig: Sendable {
    public struct Gateway: Sendable {
        public var name: String
        public var ip: String
        public var channels: Int
        public init(name: String, ip: String, channels: Int) { self.name = name; self.ip = ip; self.channels = channels }
    }
    public var id: Int
    public var gateways: [Gateway]
    /// No reply within this long: the call is rerouted (Panasonic: "about 4 seconds").
    public var timeout: SimTime = .seconds(4)
    public init(id: Int, gateways: [Gateway]) { self.id = id; self.gateways = gateways }
}

/// A group of public trunk channels.
public struct TrunkGroupConfig: Sendable {
    public var id: Int
    public var channels: Int
    public var hunt: HuntOrder
    /// Numbers the telephone company delivers to this group (digits only).
    public var numbers: [String]
    public init(id: Int, channels: Int, hunt: HuntOrder = .lowest, numbers: [String] = []) {
        self.id = id; self.channels = channels; self.hunt = hunt; self.numbers = numbers
    }
}

/// Direct inward dialling: explicit numbers (ranges expanded) and/or a remove/add rule.
public struct DIDConfig: Sendable {
    public var map: [String: String] = [:]
    /// Ranges of delivered numbers mapped to ranges of extensions (same length).
    public var ranges: [(first: String, last: String, firstExt: String)] = []
    public var remove: Int?
    public var add: String = ""
    public init() {}

    /// The extension a delivered number maps to (before checking it exists).
    public func map(_ n: String) -> String? {
        if let e = map[n] { return e }
        for r in ranges where n.count == r.first.count && n >= r.first && n <= r.last {
            guard let off = Int(n.dropFirst(commonPrefix(r.first, r.last))), let base = Int(r.firstExt.dropFirst(0)),
                  let start = Int(r.first.dropFirst(commonPrefix(r.first, r.last))) else { continue }
            let v = String(base + off - start)
            return String(repeating: "0", count: max(0, r.firstExt.count - v.count)) + v
        }
        if let k = remove { return add + n.dropFirst(min(k, n.count)) }
        return nil
    }

    func commonPrefix(_ a: String, _ b: String) -> Int { zip(a, b).prefix { $0 == $1 }.count }
}

public struct PBXConfig: Sendable {
    public var name: String
    public var host: String
    public var telco: String
    public var extensions: [ExtensionConfig]
    /// Public trunk groups (`public_trunk` is group 1).
    public var trunkGroups: [TrunkGroupConfig]
    public var did: DIDConfig
    public var card: CardConfig?
    public var ars: ARSConfig?
    public var trs: TRSConfig?
    /// Quick Dial rerouting map for private numbers (leading digits -> public digits).
    public var quickDial: [String: String] = [:]
    /// The outside-line access code (`9`, or `0` in Japan) that only selects a trunk; stripped
    /// before routing. None: numbers are dialled with their trunk prefix directly.
    public var accessCode: String?
    /// Exception-table and no-ARS calls use these groups, in order (default: every group).
    public var defaultTrunkGroups: [Int]?
    /// IP gateway groups for private (TIE) calls over the IP network (Panasonic §4.3.2.1).
    public var gatewayGroups: [GatewayGroupConfig] = []
    /// Leading digits of private numbers -> gateway group.
    public var tieRoutes: [(leading: String, group: Int)] = []
    public init(name: String, host: String, telco: String, extensions: [ExtensionConfig], trunkGroups: [TrunkGroupConfig],
                did: DIDConfig, card: CardConfig?) {
        self.name = name; self.host = host; self.telco = telco; self.extensions = extensions
        self.trunkGroups = trunkGroups; self.did = did; self.card = card
    }
}

/// Fail-back: where a new request starts after a failover (domain §3.4).
public enum FailbackPolicy: Sendable, Equatable {
    case newRequests
    case duration(SimTime)
    case registration
    case dnsTTL
}

/// How long a card waits before registering again after every registrar target failed.
public enum RegisterRetry: Sendable, Equatable {
    /// A fixed interval (Panasonic terminals: 10 s).
    case fixed(SimTime)
    /// RFC 5626 §4.5: W = min(max, base · 2^(k−1)) after the k-th consecutive failure, the wait
    /// uniform in [W/2, W].
    case rfc5626(base: SimTime, max: SimTime)

    public var description: String {
        switch self {
        case .fixed(let d): return d.durationString
        case .rfc5626(let b, let m): return "rfc5626 (base \(b.durationString), max \(m.durationString))"
        }
    }
}

/// The V-SIPGW card (Panasonic PC Programming 9.10 Slot—Port Property—V-SIPGW).
public struct CardConfig: Sendable {
    public var sipServer: ServerAddress
    public var sipServerFailover: String?
    public var registrar: ServerAddress?
    public var registrarFailover: String?
    /// Numbers this card registers and answers (digits only); the first is the caller ID.
    public var numbers: [String]
    public var transport: Transport = .udp
    public var timers: TimerPolicy = .rfcDefault
    /// Per-target INVITE timeout; nil = Timer B (`rfc`).
    public var inviteTimeout: SimTime? = .seconds(4)
    /// Per-target REGISTER timeout; nil = Timer F (`rfc`).
    public var failoverTimerRegister: SimTime?
    public var registerExpires: Int = 3600
    public var registerRefreshPercent: Int = 90
    public var registerRetry: RegisterRetry = .fixed(.seconds(10))
    public var reroutePolicy: ReroutePolicy = .failures
    public var failback: FailbackPolicy = .newRequests
    public var callsFollowRegistration = false
    public var domain: String?
    /// When true, a REGISTER that got a 1xx and then nothing still fails over to the next
    /// registrar target (the REGISTER failover timer keeps running); RFC 3263 says a provisional
    /// response means the server is alive (default false).
    public var registerFailoverAfterProvisional = false
    /// Simultaneous calls the SIP trunk carries; a call beyond it overflows to the public route.
    public var channels: Int?

    public init(sipServer: ServerAddress, numbers: [String]) { self.sipServer = sipServer; self.numbers = numbers }

    /// The domain used in Request-URIs and AORs: the configured domain, else the registrar or
    /// SIP server name.
    public var sipDomain: String {
        if let d = domain { return uriHost(d) }
        if case .name(let n, _)? = registrar { return n }
        if case .name(let n, _) = sipServer { return n }
        // An address: IPv6 in brackets (RFC 3261 §25.1 IPv6reference, RFC 5118).
        return sipServer.description.hasPrefix("[") ? sipServer.description : uriHost(sipServer.description)
    }

    /// The name whose DNS targets form the last failover stage (the registrar name, else the
    /// SIP server name).
    public var dnsName: (String, Int?)? {
        if case .name(let n, let p)? = registrar { return (n, p) }
        if case .name(let n, let p) = sipServer { return (n, p) }
        return nil
    }
}

/// Generated calls (`traffic:`): Poisson arrivals from a range of extensions to numbers.
public struct TrafficConfig: Sendable {
    public enum Hold: Sendable, Equatable {
        case exponential(mean: SimTime)
        case fixed(SimTime)
        /// Lognormal with this mean and the standard deviation `sigma` of the underlying normal.
        case lognormal(mean: SimTime, sigma: Double)
        public var mean: SimTime {
            switch self { case .exponential(let m), .fixed(let m), .lognormal(let m, _): return m }
        }
    }
    public var pbx: String
    /// Caller extension numbers.
    public var callers: [String]
    /// Destinations: single numbers or ranges (first, last), digits only.
    public var destinations: [(first: String, last: String)]
    /// Mean arrivals per second.
    public var rate: Double
    public var hold: Hold
    public var calls: Int?
    public var duration: SimTime?
    public var startAt: SimTime = .zero
    public init(pbx: String, callers: [String], destinations: [(first: String, last: String)], rate: Double, hold: Hold) {
        self.pbx = pbx; self.callers = callers; self.destinations = destinations; self.rate = rate; self.hold = hold
    }

    /// Arrival rates a run accepts: at least one call in the longest run (366 days), at most a
    /// million calls per second of simulated time.
    public static let minRate = 1 / SimTime.maxDuration.seconds
    public static let maxRate = 1_000_000.0
    /// The most calls a scenario's traffic may offer in one run (all sources together).
    public static let maxCalls = 100_000_000
    public static func rateMessage(_ rate: Double) -> String {
        "an arrival rate of \(rate) calls/s is outside 1 call per 366 days ... 1,000,000 calls/s"
    }
}

extension CardConfig {
    /// The INVITE failover order of this card (feature guide §4.1.1.1): the registrar it is
    /// registered with (`calls_follow_registration`), a fail-back target, the SIP server (its first
    /// DNS target when it is a name), the SIP server's failover address, then every DNS target of the
    /// registrar (or SIP server) name. One definition for the simulated card and live mode.
    public func inviteSequence(registeredWith: RouteTarget?, preferred: RouteTarget?) -> FailoverSequence {
        // At most five stages: one allocation, not one per append (this runs for every call).
        var stages = [FailoverSequence.Stage](reservingCapacity: 5)
        if callsFollowRegistration, let reg = registeredWith { stages.append(.address(reg.ip, port: reg.port, origin: .preferred)) }
        if let pref = preferred { stages.append(.address(pref.ip, port: pref.port, origin: .preferred)) }
        switch sipServer {
        case .ip(let ip, let port): stages.append(.address(ip, port: port, origin: .configured))
        case .name(let n, let port): stages.append(.firstOf(name: n, port: port))
        }
        if let f = sipServerFailover { stages.append(.address(f, port: nil, origin: .failover)) }
        if let (n, port) = dnsName { stages.append(.allOf(name: n, port: port)) }
        return FailoverSequence(stages: stages, transport: transport)
    }

    /// The REGISTER failover order: the registrar (its first DNS target when it is a name), the
    /// registrar failover address, then the DNS targets of the registrar name.
    public var registerStages: [FailoverSequence.Stage] {
        var stages: [FailoverSequence.Stage] = []
        switch registrar {
        case .ip(let ip, let port)?: stages.append(.address(ip, port: port, origin: .configured))
        case .name(let n, let port)?: stages.append(.firstOf(name: n, port: port))
        case nil: break
        }
        if let f = registrarFailover { stages.append(.address(f, port: nil, origin: .failover)) }
        if let (n, port) = dnsName { stages.append(.allOf(name: n, port: port)) }
        return stages
    }

    /// The configuration of this card's `RegistrationCore`.
    public var registrationConfig: RegistrationCore.Config {
        let retry: RegistrationCore.Retry
        switch registerRetry {
        case .fixed(let d): retry = .fixed(d.ns)
        case .rfc5626(let base, let maxW): retry = .rfc5626(base: base.ns, max: maxW.ns)
        }
        return .init(stages: registerStages, transport: transport, failoverTimeout: (failoverTimerRegister ?? SimTime(ns: timers.timerF)).ns,
                     expires: registerExpires, refreshPercent: registerRefreshPercent, retry: retry,
                     failoverAfterProvisional: registerFailoverAfterProvisional)
    }

    /// The card's fail-back policy as the target-health core takes it.
    public var healthFailback: TargetHealth.Failback {
        switch failback {
        case .newRequests: return .newRequests
        case .duration(let d): return .duration(d.ns)
        case .registration: return .registration
        case .dnsTTL: return .dnsTTL
        }
    }
}
