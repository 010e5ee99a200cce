import Testing
import SimCore
import SIP
import Routing
import Trace
@testable import Telephony

/// A PBX's calling side alone, through a fake context (issue 9 items 2 and 6): dialling, the
/// route decision (internal, unallocated, no card, card out of service, SIP channels busy), TRS,
/// the public trunk's channel hunt and SETUP, ALERTING and CONNECT, the holding time, the release
/// of what the call holds, and the call row, without the engine or the rest of the site.
@Suite struct PBXCallerTests {
    final class FakeContext: PBXCallerContext {
        var now = SimTime.seconds(10)
        var ids = 0
        var calls = 0
        var timers: [(kind: String, call: Int, after: SimTime, id: EventID)] = []
        var cancelled: [EventID] = []
        var setups: [(call: Int, digits: String, telco: String)] = []
        var releases: [Int] = []
        var rows: [CallRecord] = []
        var forgotten: [Int] = []
        var cardStates: [CardState] = []
        var party: [Int: String] = [:]
        var networkUp = true
        var steps: [(kind: StepKind, actor: String, detail: String, fields: [StepField])] = []
        let callee = CalleeFake()

        var noAnswerTimeout: SimTime { .seconds(60) }
        var defaultHold: SimTime { .seconds(30) }
        func calendarNow() -> (weekday: Int, minute: Int) { (3, 600) }
        func newCallID() -> Int { calls += 1; return calls }
        func uniqueToken() -> String { ids += 1; return String(ids, radix: 16) }
        func newTag() -> String { ids += 1; return "t\(ids)" }
        func newBranch() -> String { ids += 1; return "z9hG4bK-\(ids)" }
        private func timer(_ kind: String, _ call: Int, _ after: SimTime) -> EventID {
            let id = EventID(slot: UInt32(timers.count + 1), generation: 1)
            timers.append((kind, call, after, id))
            return id
        }
        func scheduleNoAnswer(call: Int, after delay: SimTime) -> EventID { timer("no-answer", call, delay) }
        func scheduleHangup(call: Int, after delay: SimTime) -> EventID { timer("hangup", call, delay) }
        func cancel(_ id: EventID) { cancelled.append(id) }
        func callStream(_ call: Int) -> Xoshiro256 { Xoshiro256(seed: 7) }
        func startTransaction(_ request: SIPMessage, branch: String?, owner: TxnOwner, to ip: String, port: Int, transport: Transport,
                              timers: TimerPolicy, call: Int?, actor: String) -> Int {
            Issue.record("no SIP transaction expected here"); return 0
        }
        func transaction(_ id: Int) -> Txn? { nil }
        func abandonTransaction(_ id: Int) {}
        func send(_ message: SIPMessage, to ip: String, port: Int, transport: Transport, call: Int, retransmission: Bool) {}
        var ownNetworkUp: Bool { networkUp }
        func gatewayAvailable(_ ip: String) -> Bool { true }
        /// The PBX whose card the driver sets (the world records a step and sets it).
        weak var pbx: PBXState?
        func setCardState(_ s: CardState, reason: String) { cardStates.append(s); pbx?.card?.state = s }
        var trunkContext: TrunkCallContext { fatalError("no trunk call expected here") }
        func publicSetup(call: Int, digits: String, telco: String) -> Bool { setups.append((call, digits, telco)); return telco == "TELCO-098" }
        func publicRelease(call: Int) { releases.append(call) }
        var calleeContext: PBXCalleeContext { callee }
        func answeredParty(of call: Int) -> String? { party[call] }
        func callRecorded(_ record: CallRecord) { rows.append(record) }
        func forgotten(call: Int) { forgotten.append(call) }
        func record(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
            steps.append((kind, actor(), detail(), fields()))
        }
        func decision() -> String? {
            guard case .text(let d)? = steps.last(where: { $0.kind == .routeSelected })?.fields.first(where: { $0.name == "decision" })?.value else { return nil }
            return d
        }
    }

    /// The PBX's own receiving side, for internal calls: what it says back.
    final class CalleeFake: PBXCalleeContext {
        var now = SimTime.seconds(10)
        var progress: [(String, Int)] = []
        func scheduleAnswer(call: Int, after delay: SimTime) -> EventID { EventID(slot: 900, generation: 1) }
        func scheduleRingTimeout(call: Int, after delay: SimTime) -> EventID { EventID(slot: 901, generation: 1) }
        func cancel(_ id: EventID) {}
        func alerting(call: Int) { progress.append(("ALERTING", call)) }
        func connect(call: Int, party: String) { progress.append(("CONNECT", call)) }
        func failed(call: Int, outcome: CallOutcome, reason: EndReason) { progress.append(("failed", call)) }
        func ringTimedOut(call: Int) {}
        func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {}
    }

    func pbx(card: Bool = false, channels: Int = 2, trs: TRSConfig? = nil, sipChannels: Int? = nil) -> PBXState {
        var cardConfig = CardConfig(sipServer: .name("itsp.example", port: nil), numbers: ["0983451000"])
        cardConfig.channels = sipChannels
        var config = PBXConfig(name: "PBX-1", host: "pbx1", telco: "TELCO-098",
                               extensions: [ExtensionConfig(number: "1000", trsLevel: trs == nil ? 1 : 3), ExtensionConfig(number: "1001")],
                               trunkGroups: [TrunkGroupConfig(id: 1, channels: channels)], did: DIDConfig(),
                               card: card ? cardConfig : nil)
        config.trs = trs
        let p = PBXState(config: config, ip: "198.51.100.1", ringRNG: Xoshiro256(seed: 1), ringTimeout: .seconds(60))
        if let c = config.card { p.card = VSIPGWCard(config: c, actor: "PBX-1/V-SIPGW", callID: "reg-1@pbx1", fromTag: "rt1") }
        return p
    }

    @Test func anOutsideCallWithoutACardSeizesAChannelAndIsAnsweredOverThePublicTrunk() throws {
        let ctx = FakeContext()
        let p = pbx()
        let call = p.dial(p.extensions["1000"]!, number: "012-345-1011", hold: .seconds(5), ctx)
        #expect(call.id == 1 && p.calls[1] === call && p.extensions["1000"]?.activity == .dialing(call: 1))
        #expect(ctx.timers.first?.kind == "no-answer" && ctx.timers.first?.after == .seconds(60))
        #expect(ctx.decision() == "public-no-card")
        #expect(p.trunkInUse == 1 && call.originChannel == ChannelRef(group: 0, channel: 0))
        #expect(ctx.setups.count == 1 && ctx.setups[0].digits == "0123451011" && ctx.setups[0].telco == "TELCO-098")
        // ALERTING, then CONNECT: answered, the no-answer timer cancelled, the hangup after the hold.
        p.publicProgress(call, .alerting, ctx)
        #expect(call.alertedAt == .seconds(10) && call.phase == .alerting)
        ctx.now = .seconds(14)
        ctx.party[1] = "PBX-2/1011"
        p.publicProgress(call, .connect, ctx)
        #expect(call.answeredAt == .seconds(14) && ctx.cancelled.contains(ctx.timers[0].id))
        #expect(ctx.timers.last?.kind == "hangup" && ctx.timers.last?.after == .seconds(5))
        #expect(p.extensions["1000"]?.activity == .talking(call: 1))
        // The holding time ends: the channel is released, the public network told, the row written.
        ctx.now = .seconds(19)
        p.hangup(call, ctx)
        #expect(p.trunkInUse == 0 && ctx.releases == [1] && p.extensions["1000"]?.activity == .idle)
        let row = try #require(ctx.rows.first)
        #expect(row.outcome == .answered && row.route == .publicTrunk && row.answeredBy == "PBX-2/1011")
        #expect(row.setupDelayNs == SimTime.seconds(4).ns && row.pddNs == 0 && row.endedAtNs == SimTime.seconds(19).ns)
        #expect(row.trunkGroup == 1 && row.sentDigits == "0123451011" && row.releasedBy == "caller")
        #expect(p.calls.isEmpty && ctx.forgotten == [1])
        #expect(p.stats.offered == 1 && p.stats.answeredPublic == 1)
    }

    @Test func routeDecisions() {
        // An internal call rings the PBX's own extension.
        let ctx = FakeContext()
        let p = pbx()
        let c1 = p.dial(p.extensions["1000"]!, number: "1001", hold: nil, ctx)
        #expect(ctx.decision() == "internal" && c1.ringsHere && p.extensions["1001"]?.activity == .ringing(call: 1))
        #expect(ctx.callee.progress.first?.0 == "ALERTING")
        // The caller is busy: a second call from 1000 fails at once.
        _ = p.dial(p.extensions["1000"]!, number: "0123451011", hold: nil, ctx)
        #expect(ctx.rows.last?.callID == 2 && ctx.rows.last?.outcome == .failed)
        #expect(ctx.steps.last?.detail == "failed: caller PBX-1/1000 is already in a call")
        // Neither an extension nor an outside number.
        let q = pbx()
        _ = q.dial(q.extensions["1001"]!, number: "4711", hold: nil, ctx)
        #expect(ctx.decision() == "unallocated" && ctx.rows.last?.outcome == .failed)
        #expect(q.extensions["1001"]?.activity == .idle)
    }

    @Test func theCardsStateAndChannelsSendACallToThePublicTrunk() {
        let ctx = FakeContext()
        let p = pbx(card: true)
        p.card!.state = .ous
        _ = p.dial(p.extensions["1000"]!, number: "0123451011", hold: nil, ctx)
        #expect(ctx.decision() == "public-card-out-of-service" && p.trunkInUse == 1)
        // The PBX's own network is down: the card goes to Fault first.
        let q = pbx(card: true)
        ctx.pbx = q
        ctx.networkUp = false
        _ = q.dial(q.extensions["1000"]!, number: "0123451011", hold: nil, ctx)
        #expect(ctx.cardStates == [.fault] && ctx.decision() == "public-card-out-of-service")
        // Every SIP channel of the card busy: overflow.
        ctx.networkUp = true
        let r = pbx(card: true, sipChannels: 1)
        r.card!.channelsInUse = 1
        _ = r.dial(r.extensions["1000"]!, number: "0123451011", hold: nil, ctx)
        #expect(ctx.decision() == "public-sip-channels-busy" && r.trunkInUse == 1 && r.card!.channelsInUse == 1)
    }

    @Test func tollRestrictionAndBusyTrunksEndTheCall() {
        let ctx = FakeContext()
        let p = pbx(trs: TRSConfig(levels: [3: .init(denied: ["0"], exceptions: [])]))
        _ = p.dial(p.extensions["1000"]!, number: "0123451011", hold: nil, ctx)
        #expect(ctx.decision() == "trs-denied" && ctx.rows.last?.outcome == .rejected && p.trunkInUse == 0)
        // One channel: the second outside call finds it busy and is blocked.
        let q = pbx(channels: 1)
        _ = q.dial(q.extensions["1000"]!, number: "0123451011", hold: nil, ctx)
        _ = q.dial(q.extensions["1001"]!, number: "0123451012", hold: nil, ctx)
        #expect(ctx.steps.contains { $0.kind == .trunkBusy })
        #expect(ctx.rows.last?.outcome == .blocked && q.trunkInUse == 1)
    }
}
