import Testing
import SimCore
import Telephony
import Trace

/// The public network alone, through a fake context (issue 9 item 6): the number's company by
/// longest area-code prefix, what an exchange makes of dialled digits, toll transit and its
/// delay, subscriber lines (ringing, answer, busy, release), unallocated and not-in-service
/// numbers, and a number handed to the PBX whose public trunk owns it.
@Suite struct PublicNetworkTests {
    final class FakeContext: PublicNetworkContext {
        var now = SimTime.zero
        var nextEvent = 0
        var scheduled: [(step: PSTNStep, call: Int, after: SimTime, id: EventID)] = []
        var answers: [(call: Int, after: SimTime, id: EventID)] = []
        var cancelled: [EventID] = []
        var offers: [(call: Int, pbx: Int, group: Int, number: String)] = []
        var calleeReleases: [(call: Int, pbx: Int, quietly: Bool)] = []
        var failures: [(call: Int, origin: CircuitOrigin, outcome: CallOutcome, reason: EndReason)] = []
        var answeredBy: [Int: String] = [:]
        var steps: [(kind: StepKind, actor: String, detail: String)] = []
        var pbxNumbers: [String: (Int, Int)] = ["0123451011": (1, 0)]
        private func newID() -> EventID { nextEvent += 1; return EventID(slot: UInt32(nextEvent), generation: 1) }
        func schedule(_ step: PSTNStep, call: Int, after delay: SimTime) -> EventID {
            let id = newID(); scheduled.append((step, call, delay, id)); return id
        }
        func scheduleLineAnswer(call: Int, after delay: SimTime) -> EventID { let id = newID(); answers.append((call, delay, id)); return id }
        func cancel(_ id: EventID) { cancelled.append(id) }
        func terminatingPBX(for national: String) -> (pbx: Int, group: Int)? { pbxNumbers[national].map { ($0.0, $0.1) } }
        func pbxName(_ pbx: Int) -> String { "PBX-\(pbx + 1)" }
        func offer(call: Int, toPBX pbx: Int, group: Int, number: String) { offers.append((call, pbx, group, number)) }
        func releaseCallee(call: Int, atPBX pbx: Int, quietly: Bool) { calleeReleases.append((call, pbx, quietly)) }
        func failed(call: Int, origin: CircuitOrigin, outcome: CallOutcome, reason: EndReason) { failures.append((call, origin, outcome, reason)) }
        func answered(call: Int, by party: String) { answeredBy[call] = party }
        func record(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
            steps.append((kind, actor(), detail()))
        }
        /// Delivers the last scheduled `arriveTelco`.
        func deliverArrival(_ net: PublicNetwork) {
            guard case .arriveTelco(let ti, let toll)? = scheduled.last?.step, let call = scheduled.last?.call else { return }
            net.arrive(call: call, telco: ti, toll: toll, self)
        }
    }

    func network() -> PublicNetwork {
        var t098 = TelcoConfig(name: "TELCO-098", areaCode: "098")
        t098.switchingDelay = .milliseconds(200)
        t098.tollDelay = .milliseconds(300)
        var t012 = TelcoConfig(name: "TELCO-012", areaCode: "012")
        t012.switchingDelay = .milliseconds(150)
        t012.subscribers = [SubscriberRange(first: "0120000000", last: "0120009999", answerAfter: .fixed(.seconds(4)))]
        var t0125 = TelcoConfig(name: "TELCO-0125", areaCode: "0125")
        t0125.switchingDelay = .milliseconds(100)
        return PublicNetwork(telcos: [t098, t012, t0125], answerStream: Xoshiro256(seed: 1))
    }

    @Test func numbersBelongToTheLongestAreaCodePrefix() {
        let net = network()
        #expect(net.owner(of: "0123451011") == 1)
        #expect(net.owner(of: "0125551234") == 2) // 0125 beats 012
        #expect(net.owner(of: "0551234567") == nil)
        #expect(net.telco(named: "TELCO-098") == 0 && net.telco(named: "nowhere") == nil)
    }

    /// The owner table keyed by packed bytes (area codes of up to 7 ASCII bytes) and its
    /// fallback (longer area codes, numbers with other characters) give the same answers as a
    /// scan for the longest prefix.
    @Test func ownersOfLongAndOddAreaCodes() {
        let telcos = [TelcoConfig(name: "A", areaCode: "01"), TelcoConfig(name: "B", areaCode: "0123456"),
                      TelcoConfig(name: "C", areaCode: "012345678"), TelcoConfig(name: "D", areaCode: "0é")]
        let net = PublicNetwork(telcos: telcos, answerStream: Xoshiro256(seed: 1))
        func scan(_ n: String) -> Int? {
            telcos.indices.filter { n.hasPrefix(telcos[$0].areaCode) }.max { telcos[$0].areaCode.count < telcos[$1].areaCode.count }
        }
        for n in ["0199", "0123456000", "0123456789", "012345678", "01234567", "0123", "0é12", "0é", "01é", "02", "0", "", "0123456"] {
            #expect(net.owner(of: n) == scan(n), "\(n)")
        }
        #expect(net.owner(of: "0123456789") == 2 && net.owner(of: "01234567") == 1 && net.owner(of: "0é12") == 3)
    }

    @Test func subscriberRangesHoldNumbersOfTheirLength() {
        let r = SubscriberRange(first: "0120000000", last: "0120009999", answerAfter: .fixed(.seconds(1)))
        #expect(r.contains("0120000000") && r.contains("0120004321") && r.contains("0120009999"))
        #expect(!r.contains("0120010000") && !r.contains("012000999") && !r.contains("01200099990"))
        // As many bytes as the ends, but not digits: in no range.
        #expect("01200000é".utf8.count == 10 && !r.contains("01200000é"))
    }

    @Test func whatAnExchangeMakesOfDialledDigits() {
        #expect(PublicNetwork.nationalNumber("0123451011", originArea: "098") == "0123451011")
        #expect(PublicNetwork.nationalNumber("3451011", originArea: "098") == "0983451011") // local number
        #expect(PublicNetwork.nationalNumber("00450123451011", originArea: "098") == "0123451011") // carrier access code
        #expect(PublicNetwork.nationalNumber("0123451011#99", originArea: "098") == "0123451011")
    }

    @Test func tollTransitAddsItsDelayAndReachesThePBX() throws {
        let ctx = FakeContext()
        let net = network()
        net.setup(call: 1, digits: "0123451011", origin: .pbx(0), originTelco: 0, at: 0, toll: false, ctx)
        #expect(ctx.scheduled.count == 1 && ctx.scheduled[0].after == .milliseconds(200))
        ctx.deliverArrival(net)
        // The caller's exchange routes on as a toll call: toll transit 300 ms + the far exchange's 150 ms.
        #expect(ctx.steps.last?.detail == "SETUP 0123451011: toll call to TELCO-012")
        #expect(ctx.scheduled.last?.after == .milliseconds(450))
        #expect(net.delay(of: 1) == .milliseconds(650))
        ctx.deliverArrival(net)
        #expect(ctx.offers.count == 1 && ctx.offers[0].pbx == 1 && ctx.offers[0].number == "0123451011")
        #expect(ctx.steps.last?.detail == "SETUP 0123451011 to the public trunk of PBX-2")
    }

    @Test func subscriberLinesRingAnswerAndAreBusyOnceInUse() throws {
        let ctx = FakeContext()
        let net = network()
        net.setup(call: 1, digits: "0120001234", origin: .pbx(0), originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(net.holdsLine(1))
        // ALERTING back over the path (150 ms), the answer after the line's 4 s.
        let alerting = try #require(ctx.scheduled.last)
        if case .alerting = alerting.step {} else { Issue.record("no ALERTING scheduled") }
        #expect(alerting.after == .milliseconds(150))
        #expect(ctx.answers.last?.after == .seconds(4))
        net.lineAnswers(call: 1, ctx)
        #expect(ctx.answeredBy[1] == "TELCO-012/0120001234")
        if case .connect? = ctx.scheduled.last?.step {} else { Issue.record("no CONNECT scheduled") }

        // A second call to the same line while the first holds it: busy.
        net.setup(call: 2, digits: "0120001234", origin: .pbx(0), originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.failures.last?.call == 2 && ctx.failures.last?.outcome == .busy && ctx.failures.last?.reason == .subscriberBusy("TELCO-012/0120001234"))
        // Released, the line rings again.
        net.release(call: 1, ctx)
        net.setup(call: 3, digits: "0120001234", origin: .pbx(0), originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(net.holdsLine(3) && ctx.failures.count == 1)
    }

    @Test func unallocatedAndNotInServiceNumbers() {
        let ctx = FakeContext()
        let net = network()
        net.setup(call: 1, digits: "0551234567", origin: .pbx(0), originTelco: 0, at: 0, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.failures.last?.outcome == .failed && ctx.failures.last?.reason == .unallocatedNumber && ctx.steps.last?.detail.contains("unallocated") == true)
        // In TELCO-012's area, neither a subscriber line nor a PBX number.
        net.setup(call: 2, digits: "0129999999", origin: .pbx(0), originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.failures.last?.call == 2 && ctx.failures.last?.reason == .unallocatedNumber && ctx.steps.last?.detail == "SETUP 0129999999: number not in service")
    }

    @Test func aPBXsCallFailsBackToItsPBXAndIsReleasedByIt() throws {
        let ctx = FakeContext()
        let net = network()
        net.setup(call: 1, digits: "0123451011", origin: .pbx(0), originTelco: 0, at: 0, toll: false, ctx)
        ctx.deliverArrival(net)
        ctx.deliverArrival(net)
        #expect(net.destination(of: 1) == 1 && net.origin(of: 1) == .pbx(0))
        // The far PBX alerts: ALERTING back over the whole path (200 + 300 + 150 ms).
        net.progress(.alerting, call: 1, ctx)
        #expect(ctx.scheduled.last?.after == .milliseconds(650))
        // Its extension is busy: the failure goes to the caller's PBX, which still holds the call.
        net.fail(call: 1, outcome: .busy, reason: .extensionBusy("PBX-2/1011"), ctx)
        #expect(ctx.failures.count == 1 && ctx.failures[0].origin == .pbx(0) && ctx.failures[0].outcome == .busy && ctx.failures[0].reason == .extensionBusy("PBX-2/1011"))
        #expect(net.carries(1) && ctx.calleeReleases.isEmpty)
        // The caller's PBX releases it: every message under way is cancelled, the far PBX lets go
        // (with its steps), and nothing is reported to a gateway.
        net.release(call: 1, ctx)
        #expect(!net.carries(1))
        #expect(Set(ctx.cancelled.map(\.slot)) == Set(ctx.scheduled.map(\.id.slot)))
        #expect(ctx.calleeReleases.count == 1 && ctx.calleeReleases[0].pbx == 1 && !ctx.calleeReleases[0].quietly)
    }

    @Test func aGatewaysCallLeavesTheNetworkOnFailure() throws {
        let ctx = FakeContext()
        let net = network()
        // A carrier server hands a SIP call to the number's company (toll).
        net.setup(call: 7, digits: "0123451011", origin: .gateway(server: 2), originTelco: 0, at: 1, toll: true, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.offers.last?.call == 7 && net.destination(of: 7) == 1)
        net.fail(call: 7, outcome: .failed, reason: .noDIDEntry(pbx: "PBX-2", number: "0123451011"), ctx)
        // The far PBX lets go quietly, the path is gone, and the gateway decides (a final response).
        #expect(ctx.calleeReleases.count == 1 && ctx.calleeReleases[0].quietly)
        #expect(!net.carries(7) && ctx.failures.last?.origin == .gateway(server: 2))
        // A second gateway call that connects, then is released: its CONNECT under way is cancelled.
        net.setup(call: 8, digits: "0120001234", origin: .gateway(server: 2), originTelco: 1, at: 1, toll: true, ctx)
        ctx.deliverArrival(net)
        net.lineAnswers(call: 8, ctx)
        net.release(call: 8, ctx)
        #expect(!net.carries(8) && ctx.cancelled.contains(ctx.scheduled.last!.id))
        // The line is free again.
        net.setup(call: 9, digits: "0120001234", origin: .pbx(0), originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(net.holdsLine(9))
    }
}
