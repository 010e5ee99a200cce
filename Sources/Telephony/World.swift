import SimCore
import SIP
import Routing
import Trace

/// The events of the telephony model, scheduled on the engine.
public enum Event: Sendable {
    /// A packet arrives (the packet itself waits in the world's in-flight table, so events stay small).
    case deliver(packet: Int)
    case txnTimer(txn: Int, timer: SIPTimer)
    case failoverTimer(call: Int, attempt: Int)
    case dnsTimeout(pbx: Int, job: Int, attempt: Int)
    case command(id: Int)
    case registerCycle(pbx: Int)
    case registerFailover(pbx: Int, attempt: Int)
    /// An answering PBX's extension answers (a UAS leg, by its key).
    case answer(pbx: Int, leg: Int)
    /// An answering PBX's extension rang out its ring timeout.
    case legNoAnswer(pbx: Int, leg: Int)
    /// A finished leg is forgotten (after 32 s of absorbing late requests).
    case legCollect(pbx: Int, leg: Int)
    /// A subscriber line a public-network call rings answers.
    case lineAnswer(call: Int)
    /// The extension a PBX rings for a public-trunk or internal call answers, or rings out.
    case calleeAnswer(pbx: Int, call: Int)
    case calleeRingTimeout(pbx: Int, call: Int)
    case hangup(call: Int)
    case noAnswer(call: Int)
    case pstn(call: Int, PSTNStep)
    /// An address's Retry-After block at a card ends (the address by its interned id).
    case blocklistExpiry(pbx: Int, address: Int)
    /// A carrier server forgets an upstream record (its id at that server).
    case serverTxnExpiry(server: Int, record: Int)
    case serverTimer(id: Int, timer: SIPTimer)
    case traffic(source: Int)
}

/// The steps of a public-network call (ISDN-like signalling, not on the IP network).
public enum PSTNStep: Sendable, Equatable {
    case arriveTelco(telco: Int, toll: Bool)
    case alerting
    case connect
}

/// Who owns a client transaction.
enum TxnOwner {
    case callInvite(call: Int)
    case callBye(call: Int)
    case callCancel(call: Int)
    /// A CANCEL a proxy forwards downstream (§16.10).
    case proxyCancel
    /// The called side's BYE (after a missing ACK, or a `hangup N callee`).
    case uasBye
    /// The INVITE of a call whose caller hung up before a final response: it runs on to send the
    /// CANCEL once a provisional arrives (§9.1) and to ACK and BYE a 2xx that crosses it (§15).
    case cancelledInvite(call: Int, pbx: Int, cancelSent: Bool)
    case register(pbx: Int)
    case proxyInvite(server: Int, upstreamBranch: String)
}

final class Txn {
    var machine: ClientTransaction
    /// What the driver reads on every input, kept beside the machine so that reading it does not
    /// copy the machine out of its enum: its transport, its matching key (§17.1.3), its branch.
    let transport: Transport
    let key: StringKey
    let branch: String
    /// The two addresses' host indices in the network, looked up once.
    let localHost: Int?, remoteHost: Int?
    /// The machine reached `terminated` (from its `stateChanged` actions).
    var terminated = false
    var owner: TxnOwner
    var localIP: String
    var remoteIP: String
    var remotePort: Int
    var timers = TimerSlots()
    var callID: Int?
    var actor: String
    /// The transaction has ended and left its stack.
    var removed = false

    init(machine: ClientTransaction, owner: TxnOwner, localIP: String, remoteIP: String, remotePort: Int, callID: Int?, actor: String,
         localHost: Int?, remoteHost: Int?) {
        self.localHost = localHost; self.remoteHost = remoteHost
        self.machine = machine; self.owner = owner; self.localIP = localIP; self.remoteIP = remoteIP
        self.transport = machine.transport; self.key = StringKey(machine.key); self.branch = machine.branch
        self.remotePort = remotePort; self.callID = callID; self.actor = actor
    }
}

/// The simulated world: the registry of the site's nodes (the IP network, the DNS server, the
/// carrier's SIP servers, the PBXs, the public network, the traffic sources) and the dispatcher
/// of the engine's events and the network's packets to them, through one context per node kind.
/// The nodes own their state and emit trace events to the sink.
public final class World {
    public internal(set) var sim = Simulation<Event>()
    public let config: WorldConfig
    public var network: Network
    var dnsServer: DNSServer?
    public internal(set) var sipServers: [CarrierServer] = []
    /// The nodes at each host, by host index (what a packet carries): what a packet reaches.
    struct HostNodes { var server: Int?; var pbx: Int?; var stack: Int? }
    var atHost: [HostNodes] = []
    /// The public network (telephone companies, subscriber lines) and its context.
    let publicNetwork: PublicNetwork
    lazy var publicNetworkContext = WorldPublicNetworkContext(world: self)
    /// The context of the IP network.
    lazy var networkContext = WorldNetworkContext(world: self)
    /// The context of the traffic sources.
    lazy var trafficContext = WorldTrafficContext(world: self)
    /// The context of the site's DNS server.
    lazy var dnsContext = WorldDNSContext(world: self)
    /// The context of the carrier's SIP servers (`CarrierServer`).
    lazy var carrierContext = WorldCarrierContext(world: self)
    public internal(set) var pbxs: [PBXState] = []
    public let telcos: [TelcoConfig]
    /// The calls in progress, by id: which PBX placed each (the call itself is that PBX's record).
    var callIndex = IntMap<Int>()
    public internal(set) var callCount = 0
    /// The SIP stacks of the nodes (PBXs, carrier servers), and which is at which address.
    var stacks: [SIPStack] = []
    var stackIndex: [StringKey: Int] = [:]
    /// Emptied action lists of the client transactions, reused input after input.
    var actionLists = ActionListPool<TransactionAction>(capacity: TransactionAction.listCapacity)
    /// True during a warm start's untraced boot before time zero.
    var warmingUp = false
    /// Per PBX, the context of its calls' trunk nodes (`TrunkCall`); made with the world, as the
    /// caller and resolver contexts below (see the end of `init`).
    private(set) var trunkContexts: [WorldTrunkContext] = []
    /// Per PBX, the contexts of its registration and stub-resolver nodes (made once).
    lazy var registrationContexts = pbxs.indices.map { WorldRegistrationContext(world: self, pbx: $0) }
    private(set) var resolverContexts: [WorldResolverContext] = []
    var idCounter: UInt64 = 0
    /// Per PBX, the context of its answering card (made once).
    lazy var uasContexts = pbxs.indices.map { WorldUASContext(world: self, pbx: $0) }
    /// Per PBX, the context of its receiving side for public-trunk and internal calls.
    lazy var calleeContexts = pbxs.indices.map { WorldCalleeContext(world: self, pbx: $0) }
    /// Per PBX, the context of its calling side.
    private(set) var callerContexts: [WorldCallerContext] = []
    /// Who answered each call in progress, as the answering node reported it (the trace's
    /// `answered_by`): an observation of the run, not part of any node's state.
    var answeredParty = IntMap<String>()
    /// The carrier server whose gateway terminated each call on the public network (the
    /// dispatcher's registry: the server forgets its leg when the call is forgotten).
    var gatewayLegs = IntMap<Int>()
    /// Addresses interned as integer ids, for events that name one.
    var addresses: [String] = []
    var addressIDs: [String: Int] = [:]
    /// Scheduled scenario commands, by id.
    var scheduledCommands: [Int: Command] = [:]
    var commandCounter = 0
    var traffic: [TrafficSource] = []
    let streams: RandomStreams
    public let sink: TraceSink
    /// How much the models record (see `TraceLevel`).
    public var traceLevel: TraceLevel = .full
    /// Scenario events (timeline commands, traffic) still to come; the run is quiet when this is
    /// zero and no call is in progress.
    public var pendingScenarioEvents = 0
    /// Errors from commands that could not be executed (unknown host at run time, ...).
    public internal(set) var commandErrors: [String] = []
    /// Called with each finished call (after it is recorded).
    public var onCallEnded: ((CallRecord) -> Void)?

    public init(config: WorldConfig, sink: TraceSink) {
        self.config = config
        self.sink = sink
        self.streams = RandomStreams(seed: config.seed)
        self.telcos = config.telcos
        publicNetwork = PublicNetwork(telcos: config.telcos, answerStream: streams.stream("subscribers"))
        network = Network(latency: config.latency, rng: streams.stream("network"))
        network.loss = config.loss
        for h in config.hosts { network.addHost(name: h.name, ip: h.ip) }
        if let d = config.dns, let ip = network.ip(of: d.server) {
            dnsServer = DNSServer(hostIP: ip, zone: d.records, defaultTTL: d.defaultTTL)
        }
        var locations: [String: LocationService] = [:]
        // The first server and the first PBX at each address take its packets.
        var serverIndex: [String: Int] = [:], pbxIndex: [String: Int] = [:]
        for s in config.sipServers {
            let ip = network.ip(of: s.host) ?? s.host
            let location = locations[s.domain] ?? LocationService(domain: s.domain)
            locations[s.domain] = location
            if serverIndex[ip] == nil { serverIndex[ip] = sipServers.count }
            sipServers.append(CarrierServer(id: sipServers.count, config: s, ip: ip, name: network.name(ofIP: ip), location: location))
            if s.respond?.code == RespondMode.refuseCode { _ = network.update(s.host) { $0.refusesSIP = true } }
        }
        for (i, p) in config.pbxs.enumerated() {
            let st = PBXState(config: p, ip: network.ip(of: p.host) ?? p.host, ringRNG: streams.stream("ring-\(p.name)"), ringTimeout: config.defaults.ringTimeout)
            if let c = p.card {
                st.card = VSIPGWCard(config: c, actor: st.cardActor, callID: "reg-\(i + 1)@\(p.host)", fromTag: "rt\(i + 1)")
            }
            if pbxIndex[st.ip] == nil { pbxIndex[st.ip] = pbxs.count }
            st.index = pbxs.count
            pbxs.append(st)
        }
        atHost = network.hosts.map { h in HostNodes(server: serverIndex[h.ip], pbx: pbxIndex[h.ip], stack: nil) }
        // The per-PBX contexts of the hot path, made once the PBXs are (in this order: a caller
        // and a resolver context hold their PBX's trunk context). Stored, not lazy: read per event.
        trunkContexts = pbxs.indices.map { WorldTrunkContext(world: self, pbx: $0) }
        callerContexts = pbxs.indices.map { WorldCallerContext(world: self, pbx: $0) }
        resolverContexts = pbxs.indices.map { WorldResolverContext(world: self, pbx: $0) }
    }

    public var now: SimTime { sim.now }

    // MARK: - Identifiers (deterministic)

    func addressID(_ ip: String) -> Int {
        if let id = addressIDs[ip] { return id }
        addresses.append(ip)
        addressIDs[ip] = addresses.count - 1
        return addresses.count - 1
    }

    func nextID() -> UInt64 { idCounter += 1; return idCounter }
    func newBranch() -> String { hexTagged(branchPrefix, nextID()) }
    func newTag() -> String { hexTagged("t", nextID()) }

    // MARK: - Trace helpers

    /// Records a step. The detail is built only when steps are recorded.
    func step(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int? = nil,
              fields: @autoclosure () -> [StepField] = []) {
        guard traceLevel != .calls, !warmingUp else { return }
        sink.record(.step(Step(atNs: sim.now.ns, callID: call, actor: actor(), kind: kind, detail: detail(), fields: fields())))
    }

    // MARK: - Running

    /// Schedules a scenario command; counts toward the pending scenario events.
    public func schedule(_ command: Command, at time: SimTime) {
        pendingScenarioEvents += 1
        commandCounter += 1
        scheduledCommands[commandCounter] = command
        sim.schedule(.command(id: commandCounter), at: time, first: true)
    }


    /// True when nothing the scenario asked for is still to happen.
    public var isQuiet: Bool { pendingScenarioEvents == 0 && callIndex.isEmpty }

    /// Runs one event; false when the queue is empty or the next event is after `limit`.
    @discardableResult
    public func step(until limit: SimTime = .never) -> Bool {
        guard let e = sim.step(until: limit) else { return false }
        note(e.time, e.payload)
        handle(e.payload)
        return true
    }

    /// Time of the last event executed (commands included), if any.
    public internal(set) var lastEventTime: SimTime?
    /// Time of the last event other than a scenario command.
    public internal(set) var lastModelEventTime: SimTime?

    func note(_ time: SimTime, _ payload: Event) {
        lastEventTime = time
        if case .command = payload { return }
        lastModelEventTime = time
    }

    /// Runs until the scenario is quiet (every call ended, nothing pending), or `limit`.
    public func runUntilQuiet(limit: SimTime = .never, shouldStop: () -> Bool = { false }) {
        while !isQuiet && !shouldStop() {
            if !step(until: limit) { break }
        }
    }

    /// Runs every event strictly before `time`, and sets the clock to it. Events at `time` stay
    /// pending (see `Simulation.step(before:)`).
    public func run(until time: SimTime, shouldStop: () -> Bool = { false }) {
        while !shouldStop() {
            guard let e = sim.step(before: time) else { break }
            note(e.time, e.payload)
            handle(e.payload)
        }
    }

    /// Runs the events still pending at the current instant (after `step`, or when a quiet point
    /// was reached mid-instant), so that the instant is complete.
    public func drainCurrentInstant() {
        while let t = sim.nextEventTime(), t == sim.now, let e = sim.step() { note(e.time, e.payload); handle(e.payload) }
    }

    /// Executes a command now, the way the same command at this time in a scenario timeline would
    /// run: scheduled as a first-class event at the current instant and run at once.
    public func executeNow(_ c: Command) {
        schedule(c, at: sim.now)
        while let t = sim.nextEventTime(), t == sim.now, sim.nextIsFirst(), let e = sim.step() { note(e.time, e.payload); handle(e.payload) }
    }

    func handle(_ e: Event) {
        switch e {
        case .deliver(let id):
            if let p = network.arrive(packet: id, networkContext) { deliver(p) }
        case .txnTimer(let id, let timer): txnTimerFired(id, timer)
        case .failoverTimer(let c, let attempt):
            withCall(c) { p, call, _ in call.trunk?.failoverTimerFired(attempt: attempt, at: sim.now.ns, trunkContexts[p.index]) }
        case .dnsTimeout(let p, let job, let attempt): dnsTimeout(pbx: p, job: job, attempt: attempt)
        case .command(let id):
            pendingScenarioEvents -= 1
            if let c = scheduledCommands.removeValue(forKey: id) { execute(c) }
        case .registerCycle(let p): registrationTimer(pbx: p, .cycle)
        case .registerFailover(let p, let attempt): registrationTimer(pbx: p, .failover(attempt: attempt))
        case .answer(let p, let leg): pbxs[p].uas.answer(leg: leg, uasContext(p))
        case .legNoAnswer(let p, let leg): pbxs[p].uas.ringTimedOut(leg: leg, uasContext(p))
        case .legCollect(let p, let leg): pbxs[p].uas.collect(leg: leg)
        case .lineAnswer(let c): publicNetwork.lineAnswers(call: c, publicNetworkContext)
        case .calleeAnswer(let p, let c): pbxs[p].answer(call: c, calleeContexts[p])
        case .calleeRingTimeout(let p, let c): pbxs[p].ringTimeoutExpired(call: c, calleeContexts[p])
        case .hangup(let c): withCall(c) { p, call, ctx in p.hangup(call, ctx) }
        case .noAnswer(let c): withCall(c) { p, call, ctx in p.callerGivesUp(call, ctx) }
        case .pstn(let c, let s): pstnStep(call: c, s)
        case .blocklistExpiry(let p, let a): blocklistExpired(pbx: p, ip: addresses[a])
        case .serverTxnExpiry(let s, let r): sipServers[s].expire(record: r)
        case .serverTimer(let id, let timer): serverTimerFired(id, timer)
        case .traffic(let k): trafficArrival(k)
        }
    }

    // MARK: - Network

    /// Puts a SIP message on the network (captured in the trace as it goes).
    func sendSIP(_ msg: SIPMessage, from src: String, srcPort: Int = 5060, to dst: String, dstPort: Int,
                 transport: Transport, call: Int?, retransmission: Bool) {
        network.sendSIP(msg, from: src, srcPort: srcPort, to: dst, dstPort: dstPort, transport: transport, call: call,
                        retransmission: retransmission, networkContext)
    }

    func sendDNS(_ payload: Payload, from src: String, srcPort: Int, to dst: String, dstPort: Int) -> Bool {
        network.sendDNS(payload, from: src, srcPort: srcPort, to: dst, dstPort: dstPort, networkContext)
    }

    /// A packet reached its destination: the node at that address takes it.
    func deliver(_ p: Packet) {
        switch p.payload {
        case .dnsQuery(let q):
            guard dnsServer?.hostIP == p.dstIP else { return }
            dnsServer!.receive(q, from: (p.srcIP, p.srcPort), dnsContext)
        case .dnsResponse(let r):
            if let pi = atHost[p.dstHost].pbx { dnsAnswer(pbx: pi, r) }
        case .unreachable(let branch, let method, let transport):
            if let id = atHost[p.dstHost].stack.flatMap({ stacks[$0].clientByKey[StringKey(ClientTransaction.key(branch: branch, method: method))] }) {
                let t = transactions[id]!
                step(.transportError, t.actor, transport == .udp ? "ICMP port unreachable from \(hostPort(p.srcIP, p.srcPort))"
                     : "\(transport == .tls ? "TCP connection (for TLS)" : "TCP connection") to \(hostPort(p.srcIP, p.srcPort)) refused", call: t.callID,
                     fields: [StepField("peer", hostPort(p.srcIP, p.srcPort)), StepField("transport", transport.rawValue),
                              StepField("cause", transport == .udp ? "icmp-port-unreachable" : "connection-refused")])
                txnInput(id) { m, now, out in m.transportError(now: now, into: &out) }
            }
        case .sip(let msg, let transport):
            let nodes = atHost[p.dstHost]
            if msg.isRequest {
                if let si = nodes.server {
                    sipServers[si].receive(msg, from: (p.srcIP, p.srcPort), localPort: p.dstPort, transport: transport, call: p.traceCall, carrierContext)
                } else if let pi = nodes.pbx {
                    pbxReceiveRequest(pi, msg, from: p, transport: transport)
                }
            } else if let b = msg.branch, let s = nodes.stack,
                      let id = stacks[s].clientByKey[StringKey(ClientTransaction.key(branch: b, method: msg.cseq?.method ?? ""))] {
                txnInput(id) { m, now, out in m.receive(msg, now: now, into: &out) }
            }
            else if let code = msg.statusCode, code >= 200, code < 300, msg.cseq?.method == "INVITE" {
                // A copy of a 2xx to INVITE whose client transaction has ended with the first one.
                if let si = nodes.server {
                    sipServers[si].forward2xxCopy(msg, call: p.traceCall, carrierContext)
                } else if let pi = nodes.pbx {
                    pbxs[pi].retransmitted2xx(msg, callerContexts[pi])
                }
            }
            // Otherwise a late response for a transaction that is gone: absorbed.
        }
    }
}

/// The world as the context of the IP network: deliveries are engine events, the capture and the
/// steps go to the trace sink.
final class WorldNetworkContext: NetworkContext {
    // unowned(unsafe), here and in every World*Context: the world owns its contexts and outlives
    // them; a checked unowned reference cost a retain and release on every call (about 5 % of
    // the models' time in perf).
    unowned(unsafe) let world: World
    init(world: World) { self.world = world }
    var now: SimTime { world.sim.now }
    func scheduleDelivery(packet id: Int, after delay: SimTime) { world.sim.schedule(.deliver(packet: id), after: delay) }
    func capture(_ message: SIPMessage, src: @autoclosure () -> String, dst: @autoclosure () -> String, transport: Transport, call: Int?, delivered: Bool, retransmission: Bool) {
        guard world.traceLevel == .full, !world.warmingUp else { return }
        world.sink.record(.sipMessage(SIPMessageRecord(
            atNs: world.sim.now.ns, callID: call, src: src(), dst: dst(), method: message.method,
            statusCode: message.statusCode, branch: message.branch ?? "", sipCallID: message.callID ?? "", delivered: delivered,
            retransmission: retransmission, transport: transport.rawValue, raw: message.encoded())))
    }
    func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
        world.step(kind, actor, detail(), call: call, fields: fields())
    }
}
