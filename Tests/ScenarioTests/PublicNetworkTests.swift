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
        var scheduled: [(step: PSTNStep, call: Int, after: SimTime)] = []
        var answers: [(call: Int, after: SimTime)] = []
        var offers: [(call: Int, pbx: Int, group: Int, number: String)] = []
        var failures: [(call: Int, outcome: CallOutcome, detail: String)] = []
        var answeredBy: [Int: String] = [:]
        var steps: [(kind: StepKind, actor: String, detail: String)] = []
        var pbxNumbers: [String: (Int, Int)] = ["0123451011": (1, 0)]
        func schedule(_ step: PSTNStep, call: Int, after delay: SimTime) { scheduled.append((step, call, delay)) }
        func scheduleAnswer(call: Int, after delay: SimTime) { answers.append((call, delay)) }
        func terminatingPBX(for national: String) -> (pbx: Int, group: Int)? { pbxNumbers[national].map { ($0.0, $0.1) } }
        func pbxName(_ pbx: Int) -> String { "PBX-\(pbx + 1)" }
        func offer(call: Int, toPBX pbx: Int, group: Int, number: String) { offers.append((call, pbx, group, number)) }
        func failed(call: Int, outcome: CallOutcome, detail: String) { failures.append((call, outcome, detail)) }
        func answered(call: Int, by party: String) { answeredBy[call] = party }
        func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
            steps.append((kind, actor, detail()))
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

    @Test func whatAnExchangeMakesOfDialledDigits() {
        #expect(PublicNetwork.nationalNumber("0123451011", originArea: "098") == "0123451011")
        #expect(PublicNetwork.nationalNumber("3451011", originArea: "098") == "0983451011") // local number
        #expect(PublicNetwork.nationalNumber("00450123451011", originArea: "098") == "0123451011") // carrier access code
        #expect(PublicNetwork.nationalNumber("0123451011#99", originArea: "098") == "0123451011")
    }

    @Test func tollTransitAddsItsDelayAndReachesThePBX() throws {
        let ctx = FakeContext()
        let net = network()
        net.setup(call: 1, digits: "0123451011", originTelco: 0, at: 0, toll: false, ctx)
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
        net.setup(call: 1, digits: "0120001234", originTelco: 1, at: 1, toll: false, ctx)
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
        net.setup(call: 2, digits: "0120001234", originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.failures.last?.call == 2 && ctx.failures.last?.outcome == .busy)
        // Released, the line rings again.
        net.release(call: 1)
        net.setup(call: 3, digits: "0120001234", originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(net.holdsLine(3) && ctx.failures.count == 1)
    }

    @Test func unallocatedAndNotInServiceNumbers() {
        let ctx = FakeContext()
        let net = network()
        net.setup(call: 1, digits: "0551234567", originTelco: 0, at: 0, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.failures.last?.outcome == .failed && ctx.steps.last?.detail.contains("unallocated") == true)
        // In TELCO-012's area, neither a subscriber line nor a PBX number.
        net.setup(call: 2, digits: "0129999999", originTelco: 1, at: 1, toll: false, ctx)
        ctx.deliverArrival(net)
        #expect(ctx.failures.last?.call == 2 && ctx.steps.last?.detail == "SETUP 0129999999: number not in service")
    }
}
