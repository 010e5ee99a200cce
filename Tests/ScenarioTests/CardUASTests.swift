import Testing
import SimCore
import SIP
import Trace
@testable import Telephony

/// The answering side of a PBX's card alone, through a fake context (issue 9 item 6): the DID map,
/// 180 then 200 with SDP after the extension's delay, the 2xx retransmitted until the ACK, 486,
/// 404, 480 after the ring timeout, CANCEL (200, then 487), BYE from the caller, 481 for an
/// unknown dialog, BYE sent when no ACK comes, and a retried INVITE answered as the leg stands.
@Suite struct CardUASTests {
    final class FakeContext: CardUASContext {
        var ids = 0
        var serverTxns = FakeServerTransactions()
        var responses: [(txn: Int, msg: SIPMessage)] = []
        var twoXX: [Int: SIPMessage] = [:]
        var stopped: [Int] = []
        var resent: [SIPMessage] = []
        var byes: [(msg: SIPMessage, ip: String, port: Int)] = []
        var timers: [(kind: String, leg: Int, after: SimTime)] = []
        var cancelled: [EventID] = []
        var answeredBy: [Int: String] = [:]
        var steps: [(kind: StepKind, detail: String)] = []
        var placedHere: Set<Int> = []
        var hungUp: [Int] = []
        func newTag() -> String { ids += 1; return "tag\(ids)" }
        func newBranch() -> String { ids += 1; return "z9hG4bK-b\(ids)" }
        func matchServerTransaction(_ request: SIPMessage) -> Bool { serverTxns.matches(request) }
        func startServerTransaction(_ request: SIPMessage, leg: Int, localPort: Int, replyTo: (ip: String, port: Int),
                                    transport: Transport, call: Int?) -> Int { serverTxns.start(request) }
        func respond(_ txn: Int, _ response: SIPMessage) { responses.append((txn, response)) }
        func startTwoXX(_ response: SIPMessage, leg: Int, replyTo: (ip: String, port: Int), transport: Transport, call: Int?) -> Int {
            twoXX[100 + leg] = response
            return 100 + leg
        }
        func stopTwoXX(_ id: Int) { stopped.append(id) }
        func sendRetransmission(_ message: SIPMessage, to: (ip: String, port: Int), transport: Transport, call: Int?) { resent.append(message) }
        func sendBye(_ bye: SIPMessage, to ip: String, port: Int, transport: Transport, call: Int?) { byes.append((bye, ip, port)) }
        func scheduleAnswer(leg: Int, after delay: SimTime) -> EventID { timers.append(("answer", leg, delay)); return EventID(slot: UInt32(timers.count), generation: 1) }
        func scheduleRingTimeout(leg: Int, after delay: SimTime) -> EventID { timers.append(("ring-timeout", leg, delay)); return EventID(slot: UInt32(timers.count), generation: 1) }
        func scheduleCollect(leg: Int, after delay: SimTime) { timers.append(("collect", leg, delay)) }
        func cancel(_ id: EventID) { cancelled.append(id) }
        func isAnsweredCallPlacedHere(_ call: Int?) -> Bool { call.map(placedHere.contains) ?? false }
        func farEndHungUp(call: Int) { hungUp.append(call) }
        func answered(call: Int?, by party: String) { if let c = call { answeredBy[c] = party } }
        func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField]) {
            steps.append((kind, detail()))
        }
        var codes: [Int] { responses.compactMap(\.msg.statusCode) }
    }

    let caller = (ip: "192.0.2.10", port: 5060)

    func pbx() -> PBXState {
        var did = DIDConfig()
        did.map["0123451011"] = "1011"
        did.map["0123451012"] = "1012"
        did.map["0123451013"] = "1013"
        did.map["0123451099"] = "1099" // no such extension
        let config = PBXConfig(name: "PBX-2", host: "pbx2", telco: "TELCO-012",
                               extensions: [ExtensionConfig(number: "1011", answerAfter: .fixed(.seconds(3))),
                                            ExtensionConfig(number: "1012"), ExtensionConfig(number: "1013")],
                               trunkGroups: [], did: did, card: nil)
        return PBXState(config: config, ip: "198.51.100.2", ringRNG: Xoshiro256(seed: 1), ringTimeout: .seconds(60))
    }

    func invite(_ number: String, branch: String = "z9hG4bK-i1", callID: String = "c1@pbx1") -> SIPMessage {
        .invite(requestURI: "sip:\(number)@198.51.100.2:5060", from: "sip:0983451000@itsp.example", fromTag: "f1",
                to: "sip:\(number)@itsp.example", callID: callID, cseq: 1, transport: .udp,
                localHostPort: "198.51.100.1:5060", localIP: "198.51.100.1", contactUser: "0983451000", branch: branch, sessionID: 1)
    }

    func inDialog(_ method: String, _ inv: SIPMessage, branch: String) -> SIPMessage {
        var m = inv
        m.startLine = .request(method: method, uri: inv.requestURI ?? "")
        m.setHeader("Via", SIPMessage.via(transport: .udp, sentBy: "192.0.2.10:5060", branch: branch))
        m.setHeader("CSeq", "2 \(method)")
        m.body = ""
        return m
    }

    @Test func ringsThenAnswersWithSDPAndRetransmitsTheOKUntilTheACK() throws {
        let ctx = FakeContext()
        let p = pbx()
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(60))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        let inv = invite("0123451011")
        uas.receive(inv, from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        #expect(ctx.codes == [180])
        #expect(ctx.responses[0].msg.header("Contact") == "<sip:0123451011@198.51.100.2:5060>")
        #expect(ctx.timers.first?.kind == "answer" && ctx.timers.first?.after == .seconds(3)) // the extension's delay
        #expect(p.extensions["1011"]?.activity == .ringing(call: 1))
        uas.answer(leg: ctx.timers[0].leg, ctx)
        let ok = try #require(ctx.responses.last?.msg)
        #expect(ok.statusCode == 200 && ok.header("Content-Type") == "application/sdp" && ok.body.contains("m=audio"))
        // One dialog: the 180 and the 200 carry the same To tag.
        #expect(SIPMessage.parameter("tag", in: ok.header("To") ?? "") == SIPMessage.parameter("tag", in: ctx.responses[0].msg.header("To") ?? ""))
        #expect(ctx.twoXX.count == 1 && ctx.answeredBy[1] == "PBX-2/1011")
        #expect(p.extensions["1011"]?.activity == .talking(call: 1))
        // The ACK (a new branch, end to end) stops the 2xx retransmission.
        var ack = inDialog("ACK", inv, branch: "z9hG4bK-ack")
        ack.setHeader("CSeq", "1 ACK")
        uas.receive(ack, from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        #expect(ctx.stopped == Array(ctx.twoXX.keys))
        // The caller's BYE: 200, the extension is free.
        uas.receive(inDialog("BYE", inv, branch: "z9hG4bK-bye"), from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        #expect(ctx.codes.last == 200 && p.extensions["1011"]?.activity == .idle)
        #expect(ctx.steps.last?.detail == "BYE received: far end released")
    }

    @Test func busyAbsentAndUnknownNumbers() {
        let ctx = FakeContext()
        let p = pbx()
        p.extensions["1012"]?.mode = .busy
        p.extensions["1013"]?.mode = .absent
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(60))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        uas.receive(invite("0123451012", callID: "a"), from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        uas.receive(invite("0123451013", branch: "z9hG4bK-2", callID: "b"), from: caller, localPort: 5060, transport: .udp, call: 2, ctx)
        uas.receive(invite("0123451099", branch: "z9hG4bK-3", callID: "c"), from: caller, localPort: 5060, transport: .udp, call: 3, ctx)
        uas.receive(invite("0550000000", branch: "z9hG4bK-4", callID: "d"), from: caller, localPort: 5060, transport: .udp, call: 4, ctx)
        #expect(ctx.codes == [486, 404, 404, 404])
        #expect(ctx.steps.last?.detail == "404 Not Found: no extension for 0550000000")
        // Each final is kept 32 s for late requests, then forgotten.
        #expect(ctx.timers.filter { $0.kind == "collect" }.map(\.after) == Array(repeating: .seconds(32), count: 4))
        for t in ctx.timers where t.kind == "collect" { uas.collect(leg: t.leg) }
        #expect(uas.legCount == 0)
    }

    @Test func unansweredRingsOutWith480() {
        let ctx = FakeContext()
        let p = pbx()
        p.extensions["1011"]?.mode = .unanswered
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(45))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        uas.receive(invite("0123451011"), from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        #expect(ctx.timers.first?.kind == "ring-timeout" && ctx.timers.first?.after == .seconds(45))
        uas.ringTimedOut(leg: ctx.timers[0].leg, ctx)
        #expect(ctx.codes == [180, 480] && p.extensions["1011"]?.activity == .idle)
    }

    @Test func cancelWhileRingingGets200Then487() {
        let ctx = FakeContext()
        let p = pbx()
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(60))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        let inv = invite("0123451011")
        uas.receive(inv, from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        uas.receive(inv.cancelRequest(), from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        // 200 on the CANCEL's own transaction, then 487 on the INVITE's.
        #expect(ctx.responses.map(\.txn) == [1, 2, 1] && ctx.codes == [180, 200, 487])
        #expect(ctx.cancelled.count == 1 && p.extensions["1011"]?.activity == .idle)
        // The answer timer was cancelled; if it fired anyway, nothing happens.
        uas.answer(leg: ctx.timers[0].leg, ctx)
        #expect(ctx.codes == [180, 200, 487])
    }

    @Test func byeForAnUnknownDialogAndForACallPlacedHere() {
        let ctx = FakeContext()
        let p = pbx()
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(60))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        uas.receive(inDialog("BYE", invite("0123451011"), branch: "z9hG4bK-x"), from: caller, localPort: 5060, transport: .udp, call: 9, ctx)
        #expect(ctx.codes == [481] && ctx.hungUp.isEmpty)
        ctx.placedHere = [7]
        uas.receive(inDialog("BYE", invite("0983451000", callID: "mine"), branch: "z9hG4bK-y"), from: caller, localPort: 5060, transport: .udp, call: 7, ctx)
        #expect(ctx.codes == [481, 200] && ctx.hungUp == [7])
    }

    @Test func noACKMeansABYEToTheCallersContact() throws {
        let ctx = FakeContext()
        let p = pbx()
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(60))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        uas.receive(invite("0123451011"), from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        uas.answer(leg: ctx.timers[0].leg, ctx)
        uas.noAck(leg: ctx.timers[0].leg, ctx)
        let bye = try #require(ctx.byes.first)
        #expect(bye.msg.method == "BYE" && bye.ip == "198.51.100.1" && bye.port == 5060) // the Contact of the INVITE
        #expect(p.extensions["1011"]?.activity == .idle)
        #expect(ctx.steps.last?.detail.contains("§13.3.1.4") == true)
    }

    @Test func aRetriedInviteIsAnsweredAsTheLegStands() {
        let ctx = FakeContext()
        let p = pbx()
        let uas = CardUAS(pbx: p, ringTimeout: .seconds(60))
        defer { withExtendedLifetime(p) {} } // the card holds its PBX unowned, as PBXState.uas does
        uas.receive(invite("0123451011"), from: caller, localPort: 5060, transport: .udp, call: 1, ctx)
        // The same call through another proxy: a new branch, the same Call-ID.
        uas.receive(invite("0123451011", branch: "z9hG4bK-other"), from: ("192.0.2.11", 5060), localPort: 5060, transport: .udp, call: 1, ctx)
        #expect(ctx.resent.map(\.statusCode) == [180] && ctx.serverTxns.started.count == 1)
    }
}
