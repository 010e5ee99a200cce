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
    /// Initial packet loss probability (0...1) of every UDP path.
    public var loss: Double = 0

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
    public init(host: String, domain: String) { self.host = host; self.domain = domain }
}

public struct TelcoConfig: Sendable {
    public var name: String
    public var areaCode: String
    /// Processing delay of this company's exchange for each call-setup message.
    public var switchingDelay: SimTime = .milliseconds(200)
    /// Extra delay of the toll transit when a call leaves this company's area.
    public var tollDelay: SimTime = .milliseconds(300)
    public init(name: String, areaCode: String) { self.name = name; self.areaCode = areaCode }
}

public struct ExtensionConfig: Sendable {
    public var number: String
    public var answerAfter: SimTime
    public init(number: String, answerAfter: SimTime = .seconds(2)) { self.number = number; self.answerAfter = answerAfter }
}

public struct PBXConfig: Sendable {
    public var name: String
    public var host: String
    public var telco: String
    public var extensions: [ExtensionConfig]
    public var publicTrunk: PublicTrunkConfig?
    /// Delivered number (digits only) -> extension.
    public var did: [String: String]
    public var card: CardConfig?
    public init(name: String, host: String, telco: String, extensions: [ExtensionConfig], publicTrunk: PublicTrunkConfig?,
                did: [String: String], card: CardConfig?) {
        self.name = name; self.host = host; self.telco = telco; self.extensions = extensions
        self.publicTrunk = publicTrunk; self.did = did; self.card = card
    }
}

public struct PublicTrunkConfig: Sendable {
    public var channels: Int
    /// The numbers the telephone company delivers to this trunk (digits only).
    public var numbers: [String]
    public init(channels: Int, numbers: [String]) { self.channels = channels; self.numbers = numbers }
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

    public init(sipServer: ServerAddress, numbers: [String]) { self.sipServer = sipServer; self.numbers = numbers }

    /// The domain used in Request-URIs and AORs: the configured domain, else the registrar or
    /// SIP server name.
    public var sipDomain: String {
        if let d = domain { return d }
        if case .name(let n, _)? = registrar { return n }
        if case .name(let n, _) = sipServer { return n }
        return sipServer.description
    }

    /// The name whose DNS targets form the last failover stage (the registrar name, else the
    /// SIP server name).
    public var dnsName: (String, Int?)? {
        if case .name(let n, let p)? = registrar { return (n, p) }
        if case .name(let n, let p) = sipServer { return (n, p) }
        return nil
    }
}
