import SimCore
import SIP
import Trace

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
    /// ICMP port unreachable (UDP) or a TCP reset for a refused connection, about a SIP request
    /// whose top Via branch is `branch` and method `method` (an ICMP error quotes the start of the
    /// datagram it is about): the pair names its client transaction, so that the error about a
    /// CANCEL does not reach the INVITE with the same branch (RFC 3261 §17.1.3).
    case unreachable(branch: String, method: String, transport: Transport)
}

public struct Packet: Sendable {
    public var srcIP: String
    public var srcPort: Int
    public var dstIP: String
    public var dstPort: Int
    /// The two hosts by their index in the network (every packet in flight is between two hosts
    /// of the network: a send to an unknown address is dropped at once), so that the receiving
    /// node is found without hashing an address.
    public var srcHost: Int
    public var dstHost: Int
    public var payload: Payload
    /// The call the sender's trace attributes the packet to: trace correlation that travels with
    /// the packet (as a capture's annotation would), so that a receiver never reads the sender's
    /// state to know which call a message belongs to. No node decides anything from it.
    public var traceCall: Int?
}

/// What the IP network may ask of whoever runs it (issue 9 item 2): the engine's clock and a
/// delivery event, the wire capture (the trace's SIP message rows) and the trace.
public protocol NetworkContext: AnyObject {
    var now: SimTime { get }
    /// Schedules the arrival of packet `id` (the network keeps the packet until then).
    func scheduleDelivery(packet id: Int, after delay: SimTime)
    /// A SIP message as it went on the wire (or was dropped, `delivered` false).
    func capture(_ message: SIPMessage, src: @autoclosure () -> String, dst: @autoclosure () -> String, transport: Transport, call: Int?, delivered: Bool, retransmission: Bool)
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField])
}

/// The IP network (a node): hosts by address (interned as indices), one-way latency, loss,
/// outages, partitions, the packets in flight and the open TLS connections. It decides at send
/// time whether and when a packet arrives, keeps it until then, and hands it over on arrival
/// unless its destination went down meanwhile.
public struct Network {
    public var latency: SimTime
    public var loss: Double = 0
    public private(set) var hosts: [Host] = []
    private var byIP: [StringKey: Int] = [:]
    private var byName: [StringKey: Int] = [:]
    /// Names and addresses in one table, a name first where a string is both (what
    /// `byName[x] ?? byIP[x]` gives, in one lookup: every send looks its addresses up).
    private var byKey: [StringKey: Int] = [:]
    /// Pairs of hosts (by index, smaller first) that a partition separates.
    private var cut: Set<Int64> = []
    var rng: Xoshiro256
    /// Packets on the wire, by id.
    private var inFlight: [Int: Packet] = [:]
    private var packetCounter = 0
    /// Open TLS connections, by unordered pair of hosts (by index, as partitions are): the first
    /// message between two hosts pays the TCP and TLS handshake, later ones (both ways) reuse it.
    private var tlsConnections: Set<Int64> = []

    public init(latency: SimTime, rng: Xoshiro256) {
        self.latency = latency
        self.rng = rng
    }

    public mutating func addHost(name: String, ip: String) {
        let ipKey = StringKey(ip), nameKey = StringKey(name)
        byIP[ipKey] = hosts.count
        byName[nameKey] = hosts.count
        byKey[nameKey] = hosts.count
        byKey[ipKey] = byName[ipKey] ?? hosts.count
        hosts.append(Host(name: name, ip: ip))
    }

    public func index(of nameOrIP: String) -> Int? { byKey[StringKey(nameOrIP)] }
    public func host(_ nameOrIP: String) -> Host? { index(of: nameOrIP).map { hosts[$0] } }
    public func ip(of name: String) -> String? { host(name)?.ip }
    public func name(ofIP ip: String) -> String { byIP[StringKey(ip)].map { hosts[$0].name } ?? ip }
    public func isUp(_ ip: String) -> Bool { index(of: ip).map { hosts[$0].up } ?? false }

    public mutating func update(_ nameOrIP: String, _ change: (inout Host) -> Void) -> Bool {
        guard let i = index(of: nameOrIP) else { return false }
        change(&hosts[i])
        return true
    }

    /// One-way latency from `a` to `b`: the larger of the two hosts' own latencies, else the
    /// network's.
    public func latency(from a: String, to b: String) -> SimTime { latency(index(of: a), index(of: b)) }

    /// The same, for two hosts by index (nil: not a host of the network).
    private func latency(_ a: Int?, _ b: Int?) -> SimTime {
        let la = a.flatMap { hosts[$0].latency }, lb = b.flatMap { hosts[$0].latency }
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
        fate(index(of: src), index(of: dst), reliable: reliable)
    }

    /// The same, for two hosts by index: a packet's addresses are looked up once per send.
    private mutating func fate(_ si: Int?, _ di: Int?, reliable: Bool) -> Fate {
        guard let si, hosts[si].up else { return .droppedSourceDown }
        guard let di else { return .droppedUnknownDestination }
        let s = hosts[si], d = hosts[di]
        guard d.up else { return .droppedDestinationDown }
        if partitioned(si, di) { return .droppedPartition }
        if !reliable {
            let keep = (1 - loss) * (1 - s.loss) * (1 - d.loss)
            if keep < 1 && rng.unitDouble() >= keep { return .lost }
        }
        return .delivered
    }

    // MARK: - The wire

    private mutating func transmit(_ p: Packet, after delay: SimTime, _ ctx: NetworkContext) {
        packetCounter += 1
        inFlight[packetCounter] = p
        ctx.scheduleDelivery(packet: packetCounter, after: delay)
    }

    /// Puts a SIP message on the wire: captured as sent; lost, dropped or refused (ICMP port
    /// unreachable or a TCP reset after one round trip) as the hosts and links stand; a first TLS
    /// message between two hosts pays one extra round trip for the handshakes.
    public mutating func sendSIP(_ msg: SIPMessage, from src: String, srcPort: Int, to dst: String, dstPort: Int,
                                 transport: Transport, call: Int?, retransmission: Bool, _ ctx: NetworkContext) {
        sendSIP(msg, from: src, host: index(of: src), srcPort: srcPort, to: dst, host: index(of: dst), dstPort: dstPort,
                transport: transport, call: call, retransmission: retransmission, ctx)
    }

    /// The same, with the two addresses' host indices already looked up (`index(of:)`; a client
    /// transaction looks them up once, not once per retransmission).
    mutating func sendSIP(_ msg: SIPMessage, from src: String, host si: Int?, srcPort: Int, to dst: String, host di: Int?, dstPort: Int,
                          transport: Transport, call: Int?, retransmission: Bool, _ ctx: NetworkContext) {
        let fate = fate(si, di, reliable: transport.isReliable)
        // A refusing host is reached, but nothing listens on its SIP port.
        let refused = fate == .delivered && (di.map { hosts[$0].refusesSIP } ?? false)
        let delivered = fate == .delivered && !refused
        ctx.capture(msg, src: hostPort(src, srcPort), dst: hostPort(dst, dstPort), transport: transport, call: call,
                    delivered: delivered, retransmission: retransmission)
        let lat = latency(si, di)
        if refused {
            if let b = msg.branch, msg.isRequest {
                let back = Packet(srcIP: dst, srcPort: dstPort, dstIP: src, dstPort: srcPort, srcHost: di!, dstHost: si!,
                                  payload: .unreachable(branch: b, method: msg.method ?? "", transport: transport))
                transmit(back, after: lat + latency(di, si), ctx)
            }
            return
        }
        guard delivered else { return }
        var handshake = SimTime.zero
        if transport == .tls, tlsConnections.insert(Self.pairKey(si!, di!)).inserted {
            // A new TLS connection: the TCP and TLS handshakes are modelled as one extra round trip
            // before the message can go (no crypto, no session resumption).
            handshake = lat + latency(di, si)
            let hs = handshake
            ctx.record(.tlsConnect, name(ofIP: src), "TLS connection to \(hostPort(dst, dstPort)): handshake, one extra round trip (\(hs.durationString))", call: call,
                       [StepField("peer", hostPort(dst, dstPort)), StepField("handshake_ns", hs.ns)])
        }
        transmit(Packet(srcIP: src, srcPort: srcPort, dstIP: dst, dstPort: dstPort, srcHost: si!, dstHost: di!,
                        payload: .sip(msg, transport: transport), traceCall: call),
                 after: lat + handshake, ctx)
    }

    /// Puts a DNS message on the wire (UDP); false when it is lost or dropped at once.
    public mutating func sendDNS(_ payload: Payload, from src: String, srcPort: Int, to dst: String, dstPort: Int, _ ctx: NetworkContext) -> Bool {
        let si = index(of: src), di = index(of: dst)
        guard fate(si, di, reliable: false) == .delivered else { return false }
        transmit(Packet(srcIP: src, srcPort: srcPort, dstIP: dst, dstPort: dstPort, srcHost: si!, dstHost: di!, payload: payload),
                 after: latency(si, di), ctx)
        return true
    }

    /// Packet `id`'s time of arrival came: the packet, unless its destination went down in flight.
    public mutating func arrive(packet id: Int, _ ctx: NetworkContext) -> Packet? {
        guard let p = inFlight.removeValue(forKey: id) else { return nil }
        guard hosts[p.dstHost].up else {
            ctx.record(.packetDropped, "network", "\(p.srcIP) -> \(p.dstIP): destination went down in flight", call: nil,
                       [StepField("src", p.srcIP), StepField("dst", p.dstIP), StepField("cause", "destination-down-in-flight")])
            return nil
        }
        return p
    }

    /// Hosts (by name or address) that go down or close their SIP port lose their TLS
    /// connections: the next message to them pays the handshake again.
    public mutating func dropConnections(of hosts: [String]) {
        let gone = Set(hosts.compactMap { index(of: $0) }.map(Int64.init))
        guard !gone.isEmpty else { return }
        tlsConnections = tlsConnections.filter { !gone.contains($0 >> 32) && !gone.contains($0 & 0xffff_ffff) }
    }
}
