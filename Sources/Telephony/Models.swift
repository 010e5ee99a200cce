import SimCore
import SIP
import Routing
import Trace

/// Panasonic port status (domain §1.3): INS in service, OUS out of service, Fault unreachable.
public enum CardState: String, Sendable { case ins = "INS", ous = "OUS", fault = "Fault" }

public enum ExtensionActivity: Sendable, Equatable {
    case idle
    case dialing(call: Int)
    case ringing(call: Int)
    case talking(call: Int)
}

public final class ExtensionState {
    public let number: String
    public var answerAfter: RingDelay
    public let trsLevel: Int
    public var mode: PhoneMode = .normal
    public var activity: ExtensionActivity = .idle {
        didSet {
            let idle = activity == .idle
            if idle != (oldValue == .idle) { for (pool, i) in pools { pool.set(i, idle: idle) } }
        }
    }
    /// The idle pools of the traffic sources whose caller range holds this extension, with its
    /// position in each.
    var pools: [(IdlePool, Int)] = []
    init(number: String, answerAfter: RingDelay, trsLevel: Int) { self.number = number; self.answerAfter = answerAfter; self.trsLevel = trsLevel }
    public var isFree: Bool { activity == .idle && mode != .busy }
}

/// The idle extensions of a traffic source's caller range, in range order, as a Fenwick tree of
/// 0/1 flags: the k-th idle extension is found in O(log n), and an extension going on or off the
/// phone costs O(log n), so a traffic arrival no longer scans the range (flat in its size). The
/// pick is the same as filtering the range for idle extensions and taking the k-th.
public final class IdlePool {
    private var tree: [Int32]
    private var flags: [Bool]
    public private(set) var idleCount: Int
    public let count: Int

    public init(count: Int) {
        self.count = count
        tree = [Int32](repeating: 0, count: count + 1)
        flags = [Bool](repeating: true, count: count)
        idleCount = count
        // Every extension starts idle: build the tree in O(n).
        var i = 1
        while i <= count {
            tree[i] += 1
            let j = i + (i & -i)
            if j <= count { tree[j] += tree[i] }
            i += 1
        }
    }

    public func set(_ i: Int, idle: Bool) {
        guard flags[i] != idle else { return }
        flags[i] = idle
        idleCount += idle ? 1 : -1
        var j = i + 1
        let d: Int32 = idle ? 1 : -1
        while j <= count { tree[j] += d; j += j & -j }
    }

    public func isIdle(_ i: Int) -> Bool { flags[i] }

    /// How many of the positions before `i` are idle.
    public func idleBefore(_ i: Int) -> Int {
        var sum: Int32 = 0, j = i
        while j > 0 { sum += tree[j]; j -= j & -j }
        return Int(sum)
    }

    /// The position of the k-th idle extension (0-based k), in range order.
    public func kthIdle(_ k: Int) -> Int {
        var pos = 0, rem = Int32(k + 1)
        var step = 1
        while step * 2 <= count { step *= 2 }
        while step > 0 {
            let next = pos + step
            if next <= count && tree[next] < rem { pos = next; rem -= tree[next] }
            step /= 2
        }
        return pos // 0-based index of the element (pos + 1 is 1-based)
    }
}

public final class VSIPGWCard {
    public let config: CardConfig
    public var state: CardState = .ins
    /// The card's registration node (shared with live mode).
    public let registration: CardRegistration
    /// The Retry-After blocklist and the fail-back policy's preferred target (shared by INVITE
    /// routing and registration).
    var health: TargetHealth
    public internal(set) var channelsInUse = 0
    init(config: CardConfig, actor: String, callID: String, fromTag: String) {
        self.config = config
        self.registration = CardRegistration(config: config, actor: actor, callID: callID, fromTag: fromTag)
        self.health = TargetHealth(failback: config.healthFailback)
    }
}

/// The channels of one public trunk group.
public struct TrunkGroupState {
    public let config: TrunkGroupConfig
    /// Its channels: the free ones and the hunt (`ChannelPool`).
    var pool: ChannelPool
    public var inUse: Int { pool.inUse }
    /// The group's numbers, for O(1) delivery lookups (ranges expand to many numbers).
    let numbers: Set<String>
    init(config: TrunkGroupConfig) {
        self.config = config
        self.pool = ChannelPool(channels: config.channels, order: config.hunt)
        self.numbers = Set(config.numbers)
    }
}

/// The channels of a trunk group (issue 9 item 5): which are free, kept in a Fenwick tree over
/// the channels, so that the hunt (lowest free, highest free, or the next free after the last one
/// seized) is O(log n) instead of a scan, and the count in use is a running number. It picks what
/// `Hunt.channel` picks on the same busy flags (checked by `ChannelPoolTests`).
struct ChannelPool {
    let order: HuntOrder
    private let free: IdlePool
    /// The channel seized last (rotation starts after it).
    private(set) var last: Int?

    init(channels: Int, order: HuntOrder) {
        self.order = order
        free = IdlePool(count: channels)
    }

    var count: Int { free.count }
    var inUse: Int { free.count - free.idleCount }
    func isBusy(_ ch: Int) -> Bool { !free.isIdle(ch) }

    /// Seizes a channel per the hunt order; nil when all are busy.
    mutating func seize() -> Int? {
        guard free.idleCount > 0 else { return nil }
        let ch: Int
        switch order {
        case .lowest: ch = free.kthIdle(0)
        case .highest: ch = free.kthIdle(free.idleCount - 1)
        case .rotation:
            let start = ((last ?? -1) + 1) % free.count
            let before = free.idleBefore(start)
            ch = free.kthIdle(before < free.idleCount ? before : 0)
        }
        free.set(ch, idle: false)
        last = ch
        return ch
    }

    /// Frees a channel; false when it was not in use.
    mutating func release(_ ch: Int) -> Bool {
        guard isBusy(ch) else { return false }
        free.set(ch, idle: true)
        return true
    }
}

/// A seized public trunk channel of the PBX that holds the reference.
struct ChannelRef: Equatable { var group: Int; var channel: Int }

/// A PBX's side of a call it receives: the incoming trunk channel it seized, the extension it
/// rings (or talks on), and its timers for that extension (answer or ring timeout).
struct CalleeSide {
    var channel: ChannelRef?
    var ext: String?
    var events: [EventID] = []
}

/// A PBX's extensions by number, keyed by `StringKey` (a lookup hashes the number once, without
/// SipHash: the models look extensions up several times a call).
public struct ExtensionTable {
    private var byNumber: [StringKey: ExtensionState] = [:]
    public subscript(_ number: String) -> ExtensionState? { byNumber[StringKey(number)] }
    /// The numbers, in no particular order.
    public var keys: [String] { byNumber.keys.map(\.string) }
    /// The extensions, in no particular order.
    public var values: Dictionary<StringKey, ExtensionState>.Values { byNumber.values }
    mutating func insert(_ e: ExtensionState) { byNumber[StringKey(e.number)] = e }
}

public final class PBXState {
    public let config: PBXConfig
    public let ip: String
    /// Its position among the site's PBXs (what a call's `pbx` names).
    public internal(set) var index = 0
    /// The calls its extensions placed that are still in progress (its calling side's records),
    /// and the same by SIP Call-ID (to ACK a copy of a 2xx again).
    public internal(set) var calls = IntMap<Call>()
    var callBySIPCallID: [StringKey: Int] = [:]
    /// Its extensions by number, fixed when the PBX is built.
    public private(set) var extensions = ExtensionTable()
    public var card: VSIPGWCard?
    public var groups: [TrunkGroupState]
    public var trunkPeak = 0
    /// Channels in use over all groups (a running count), and the groups' channels.
    public private(set) var trunkInUse = 0
    public let trunkChannels: Int
    /// Integral of channels in use over time (channel·ns), for the mean occupancy.
    var occupancyIntegral: Double = 0
    var lastOccupancyChange: SimTime = .zero
    var ringRNG: Xoshiro256
    /// The PBX's stub resolver (a node: RFC 3263 jobs, TTL cache, timeouts).
    let stub = StubResolver()
    /// The answering side of its V-SIPGW card (a node: the UAS legs).
    lazy var uas = CardUAS(pbx: self, ringTimeout: ringTimeout)
    /// How long an unanswered extension rings before the call fails.
    let ringTimeout: SimTime
    /// Its side of the calls it receives (public trunk or internal), by call id: the incoming
    /// channel it seized and the extension it rings. The PBX's own state, not the caller's.
    var callee: [Int: CalleeSide] = [:]
    /// What its cache holds.
    var resolver: ResolverCache { stub.cache }
    public var stats = PBXStats()
    /// Calls in progress per gateway name.
    var gatewayInUse: [StringKey: Int] = [:]
    init(config: PBXConfig, ip: String, ringRNG: Xoshiro256, ringTimeout: SimTime) {
        self.config = config
        self.ringTimeout = ringTimeout
        self.ip = ip
        self.ringRNG = ringRNG
        self.groups = config.trunkGroups.map { TrunkGroupState(config: $0) }
        self.trunkChannels = config.trunkGroups.reduce(0) { $0 + $1.channels }
        for e in config.extensions { extensions.insert(ExtensionState(number: e.number, answerAfter: e.answerAfter, trsLevel: e.trsLevel)) }
    }
    public var name: String { config.name }
    /// The actors of its card and of its IP gateway in the trace, built once.
    lazy var cardActor = "\(config.name)/V-SIPGW"
    lazy var gatewayActor = "\(config.name)/IP-GW"
    /// Its SIP address as Via and Contact write it.
    lazy var localHostPort = hostPort(ip, 5060)

    /// The extension a called number reaches: its DID entry, else an extension of that number.
    func didMap(_ number: String) -> String? {
        if let e = config.did.map(number) { return e }
        return extensions[number] != nil ? number : nil
    }

    /// Seizes a channel of group `gi` per its hunt order; nil when all are busy.
    func seize(group gi: Int, now: SimTime) -> Int? {
        guard groups[gi].pool.inUse < groups[gi].pool.count else { return nil }
        noteOccupancy(now)
        let ch = groups[gi].pool.seize()!
        trunkInUse += 1
        trunkPeak = max(trunkPeak, trunkInUse)
        return ch
    }

    func release(group gi: Int, channel ch: Int, now: SimTime) {
        guard groups[gi].pool.isBusy(ch) else { return }
        noteOccupancy(now)
        _ = groups[gi].pool.release(ch)
        trunkInUse -= 1
    }

    func noteOccupancy(_ now: SimTime) {
        occupancyIntegral += Double(trunkInUse) * Double((now - lastOccupancyChange).ns)
        lastOccupancyChange = now
    }

    /// Mean channels in use from time zero to `end`.
    public func meanOccupancy(until end: SimTime) -> Double {
        guard end.ns > 0 else { return 0 }
        let total = occupancyIntegral + Double(trunkInUse) * Double((end - lastOccupancyChange).ns)
        return total / Double(end.ns)
    }
}

/// Response mode of a SIP server set by `respond HOST ...` or `sip_servers[].respond`: a status code
/// for every new request (100: only 100 Trying; 200: the server answers as a UAS, with a Contact,
/// and takes the ACK and BYE; 300-699: that final response), or `silent` (it reads every request
/// and answers nothing, as a hung process behind an open port does).
public struct RespondMode: Sendable, Equatable {
    public var code: Int
    public var retryAfter: SimTime?
    public init(code: Int, retryAfter: SimTime?) { self.code = code; self.retryAfter = retryAfter }
    /// The code that stands for `silent`.
    public static let silentCode = 0
    /// The code that stands for `refuse` (scenario only: its SIP port is closed from the start, as
    /// the `refuse HOST` command does).
    public static let refuseCode = -1
    public var isSilent: Bool { code == RespondMode.silentCode }
    /// The code a word of the command language or scenario names: `silent`, 100, 200 or 300-699.
    public static func code(_ word: String) -> Int? {
        if word.lowercased() == "silent" { return silentCode }
        guard let c = Int(word), c == 100 || c == 200 || (300...699).contains(c) else { return nil }
        return c
    }
    public static func text(_ code: Int) -> String { code == silentCode ? "silent" : code == refuseCode ? "refuse" : String(code) }
}


public enum CallPhase: Sendable, Equatable { case routing, sipTrying, sipProceeding, pstnSetup, alerting, connected, ending, ended }

/// A call from an extension, from dialling to release.
public final class Call {
    public let id: Int
    public let pbx: Int
    public let callerExt: String
    /// The calling extension itself (an extension is never replaced: no lookup by number).
    let callerState: ExtensionState
    public let dialed: String
    public let digits: String
    public let placedAt: SimTime
    public let hold: SimTime
    public var phase: CallPhase = .routing
    public var route: CallRoute?
    /// The call's routing over the SIP trunk (or an IP gateway), once it takes that route.
    public internal(set) var trunk: TrunkCall?
    public var sipTargets: [String] { trunk?.targets ?? [] }
    public var sipAttempts: Int { trunk?.attempts ?? 0 }
    public var rerouted = false
    public var finalCode: Int?
    /// Which side ended an answered call: `caller` or `callee`.
    public var releasedBy: String?
    /// Why the call ended unanswered (`EndReason.cause`), once it has.
    public var endCause: String?
    public var answeredAt: SimTime?
    public var outcome: CallOutcome?
    public var endedAt: SimTime?
    /// The INVITE transaction of the current attempt (the trunk node's).
    var inviteTxn: Int? {
        get { trunk?.inviteTxn }
        set { trunk?.inviteTxn = newValue }
    }
    var noAnswerTimer: EventID?
    var hangupEvent: EventID?
    var sipCallID: String
    var fromTag: String
    var lastInvite: SIPMessage?
    var lastInviteTransport: Transport?
    var dialog2xx: SIPMessage?
    /// The ACK sent for the 2xx and where it went: sent again for every copy of the 2xx (§13.2.2.4).
    var ack: (message: SIPMessage, ip: String, port: Int, transport: Transport)?
    var byeTxn: Int?
    // PSTN leg
    var originChannel: ChannelRef?
    /// An internal call: the extension it rings is on the same PBX (its `callee` entry).
    var ringsHere = false
    /// First ringback (180/183 or ALERTING) seen by the caller.
    var alertedAt: SimTime?
    /// Digits actually sent on the public trunk (after ARS modification).
    var sentDigits: String?
    var carrier: String?
    var trunkGroup: Int?
    var usesSIPChannel = false
    /// A private call over an IP gateway (not the SIP trunk card).
    var viaGateway: (name: String, ip: String)?
    var cardStateAtDial: String?
    var recorded = false

    init(id: Int, pbx: Int, caller: ExtensionState, dialed: String, digits: String, placedAt: SimTime, hold: SimTime,
         sipCallID: String, fromTag: String) {
        self.id = id; self.pbx = pbx; self.callerExt = caller.number; self.callerState = caller; self.dialed = dialed; self.digits = digits
        self.placedAt = placedAt; self.hold = hold; self.sipCallID = sipCallID; self.fromTag = fromTag
    }
}

extension Xoshiro256: UniformSource {}

/// Digits of a phone number: dashes, spaces and dots are not digits.
public func phoneDigits(_ s: String) -> String {
    // Most numbers carry no separator: return them as they are, without a pass over characters.
    if !s.utf8.contains(where: { $0 == 0x2D || $0 == 0x20 || $0 == 0x2E || $0 == 0x28 || $0 == 0x29 }) { return s }
    return String(s.filter { $0 != "-" && $0 != " " && $0 != "." && $0 != "(" && $0 != ")" })
}
