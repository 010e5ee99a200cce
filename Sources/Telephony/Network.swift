import SimCore
import SIP

/// A host on the simulated IP network.
public struct Host: Sendable {
    public var name: String
    public var ip: String
    /// A down host drops everything it would send or receive, silently.
    public var up = true
    /// Up, but its SIP port is closed: UDP gets ICMP port unreachable, TCP a refused connection.
    public var refusesSIP = false
    /// One-way latency of every path to or from this host (overrides the network's).
    public var latency: SimTime?
    /// Loss probability (0...1) of every packet to or from this host.
    public var loss: Double = 0
}

/// What travels on the network.
public enum Payload: Sendable {
    case sip(SIPMessage, transport: Transport)
    case dnsQuery(DNSQuery)
    case dnsResponse(DNSResponse)
    /// ICMP port unreachable (UDP) or a TCP reset for a refused connection, about a SIP message
    /// whose top Via branch is `branch`.
    case unreachable(branch: String, transport: Transport)
}

public struct Packet: Sendable {
    public var srcIP: String
    public var srcPort: Int
    public var dstIP: String
    public var dstPort: Int
    public var payload: Payload
    /// The call the sender's trace attributes the packet to: trace correlation that travels with
    /// the packet (as a capture's annotation would), so that a receiver never reads the sender's
    /// state to know which call a message belongs to. No node decides anything from it.
    public var traceCall: Int?
}

/// The IP network: hosts by address, one-way latency, loss, outages. Delivery is scheduled on
/// the engine by the world; the network only decides when and whether.
public struct Network {
    public var latency: SimTime
    public var loss: Double = 0
    public private(set) var hosts: [Host] = []
    private var byIP: [String: Int] = [:]
    private var byName: [String: Int] = [:]
    /// Pairs of hosts (by index, smaller first) that a partition separates.
    private var cut: Set<Int64> = []
    var rng: Xoshiro256

    public init(latency: SimTime, rng: Xoshiro256) {
        self.latency = latency
        self.rng = rng
    }

    public mutating func addHost(name: String, ip: String) {
        byIP[ip] = hosts.count
        byName[name] = hosts.count
        hosts.append(Host(name: name, ip: ip))
    }

    public func index(of nameOrIP: String) -> Int? { byName[nameOrIP] ?? byIP[nameOrIP] }
    public func host(_ nameOrIP: String) -> Host? { index(of: nameOrIP).map { hosts[$0] } }
    public func ip(of name: String) -> String? { host(name)?.ip }
    public func name(ofIP ip: String) -> String { byIP[ip].map { hosts[$0].name } ?? ip }
    public func isUp(_ ip: String) -> Bool { host(ip)?.up ?? false }

    public mutating func update(_ nameOrIP: String, _ change: (inout Host) -> Void) -> Bool {
        guard let i = index(of: nameOrIP) else { return false }
        change(&hosts[i])
        return true
    }

    /// One-way latency from `a` to `b`: the larger of the two hosts' own latencies, else the
    /// network's.
    public func latency(from a: String, to b: String) -> SimTime {
        let la = host(a)?.latency, lb = host(b)?.latency
        switch (la, lb) {
        case let (x?, y?): return max(x, y)
        case let (x?, nil): return x
        case let (nil, y?): return y
        default: return latency
        }
    }

    public enum Fate: Equatable { case delivered, droppedSourceDown, droppedDestinationDown, droppedUnknownDestination, droppedPartition, lost }

    private static func pairKey(_ a: Int, _ b: Int) -> Int64 { Int64(min(a, b)) << 32 | Int64(max(a, b)) }

    /// Separates every host of `a` from every host of `b` (both stay up). Unknown names are ignored.
    public mutating func partition(_ a: [String], _ b: [String]) {
        for x in a.compactMap(index(of:)) { for y in b.compactMap(index(of:)) where x != y { cut.insert(Self.pairKey(x, y)) } }
    }

    /// Removes every partition.
    public mutating func heal() { cut.removeAll() }

    /// Whether a partition separates the two hosts (by index).
    func partitioned(_ x: Int, _ y: Int) -> Bool { !cut.isEmpty && cut.contains(Self.pairKey(x, y)) }

    /// Decides at send time what happens to a packet. Loss is drawn from the network's own
    /// random stream, only when some loss is configured (so adding loss elsewhere does not shift
    /// other draws).
    public mutating func fate(from src: String, to dst: String, reliable: Bool) -> Fate {
        guard let si = index(of: src), hosts[si].up else { return .droppedSourceDown }
        guard let di = index(of: dst) else { return .droppedUnknownDestination }
        let s = hosts[si], d = hosts[di]
        guard d.up else { return .droppedDestinationDown }
        if partitioned(si, di) { return .droppedPartition }
        if !reliable {
            let keep = (1 - loss) * (1 - s.loss) * (1 - d.loss)
            if keep < 1 && rng.unitDouble() >= keep { return .lost }
        }
        return .delivered
    }
}
