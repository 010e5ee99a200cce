import Testing
import SimCore
import Trace
@testable import Telephony

/// A PBX's receiving side for public-trunk and internal calls alone, through a fake context
/// (issue 9 items 2 and 6): the incoming channel, the DID map, ringing with ALERTING back and the
/// extension's answer delay, CONNECT with the answering party, a busy trunk, a missing DID entry,
/// an absent or busy extension, the ring timeout, and the release (recorded, or quiet).
@Suite struct PBXCalleeTests {
    final class FakeContext: PBXCalleeContext {
        var now = SimTime.zero
        var ids: UInt32 = 0
        var timers: [(kind: String, call: Int, after: SimTime, id: EventID)] = []
        var cancelled: [EventID] = []
        var progress: [(message: String, call: Int)] = []
        var parties: [Int: String] = [:]
        var failures: [(call: Int, outcome: CallOutcome, reason: EndReason)] = []
        var rangOut: [Int] = []
        var steps: [(kind: StepKind, actor: String, detail: String)] = []
        private func add(_ kind: String, _ call: Int, _ after: SimTime) -> EventID {
            ids += 1
            let id = EventID(slot: ids, generation: 1)
            timers.append((kind, call, after, id))
            return id
        }
        func scheduleAnswer(call: Int, after delay: SimTime) -> EventID { add("answer", call, delay) }
        func scheduleRingTimeout(call: Int, after delay: SimTime) -> EventID { add("ring-timeout", call, delay) }
        func cancel(_ id: EventID) { cancelled.append(id) }
        func alerting(call: Int) { progress.append(("ALERTING", call)) }
        func connect(call: Int, party: String) { progress.append(("CONNECT", call)); parties[call] = party }
        func failed(call: Int, outcome: CallOutcome, reason: EndReason) { failures.append((call, outcome, reason)) }
        func ringTimedOut(call: Int) { rangOut.append(call) }
        func record(_ kind: StepKind, _ actor: String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField]) {
            steps.append((kind, actor, detail()))
        }
    }

    func pbx(channels: Int = 2) -> PBXState {
        var did = DIDConfig()
        did.map["0123451011"] = "1011"
        did.map["0123451012"] = "1012"
        did.map["0123451099"] = "1099" // no such extension
        let config = PBXConfig(name: "PBX-2", host: "pbx2", telco: "TELCO-012",
                               extensions: [ExtensionConfig(number: "1011", answerAfter: .fixed(.seconds(3))), ExtensionConfig(number: "1012")],
                               trunkGroups: [TrunkGroupConfig(id: 1, channels: channels)], did: did, card: nil)
        return PBXState(config: config, ip: "198.51.100.2", ringRNG: Xoshiro256(seed: 1), ringTimeout: .seconds(60))
    }

    @Test func anOfferSeizesAChannelMapsTheDIDRingsAndConnects() throws {
        let ctx = FakeContext()
        let p = pbx()
        p.offer(call: 1, group: 0, number: "0123451011", ctx)
        #expect(p.trunkInUse == 1)
        #expect(ctx.steps.map(\.kind) == [.trunkSeized, .didMapped, .extensionRinging])
        #expect(ctx.steps[1].detail == "DID 0123451011 -> extension 1011")
        #expect(p.extensions["1011"]?.activity == .ringing(call: 1))
        // ALERTING goes back at once; the extension answers after its 3 s.
        #expect(ctx.progress.map(\.message) == ["ALERTING"])
        #expect(ctx.timers.count == 1 && ctx.timers[0].kind == "answer" && ctx.timers[0].after == .seconds(3))
        p.answer(call: 1, ctx)
        #expect(p.extensions["1011"]?.activity == .talking(call: 1))
        #expect(ctx.progress.map(\.message) == ["ALERTING", "CONNECT"] && ctx.parties[1] == "PBX-2/1011")
        // The caller releases: the channel is freed (recorded), the extension is idle again.
        p.releaseCallee(call: 1, quietly: false, ctx)
        #expect(p.trunkInUse == 0 && p.extensions["1011"]?.activity == .idle)
        #expect(ctx.steps.last?.kind == .trunkReleased && ctx.steps.last?.detail == "incoming trunk group 1 channel 1 released")
        #expect(ctx.cancelled == [ctx.timers[0].id])
        #expect(p.callee[1] == nil)
    }

    @Test func aBusyTrunkAMissingDIDAndABusyOrAbsentExtensionFailTheCall() {
        let ctx = FakeContext()
        let p = pbx(channels: 1)
        p.offer(call: 1, group: 0, number: "0123451011", ctx)
        // The only channel is held: the next offer finds the trunk busy, and holds nothing.
        p.offer(call: 2, group: 0, number: "0123451012", ctx)
        #expect(ctx.failures.last?.call == 2 && ctx.failures.last?.outcome == .busy && ctx.failures.last?.reason == .farEndTrunkBusy
                && ctx.failures.last?.reason.detail == "far-end trunk busy" && ctx.failures.last?.reason.cause == "far-end-trunk-busy")
        #expect(p.callee[2] == nil && p.trunkInUse == 1)

        let q = pbx()
        q.offer(call: 3, group: 0, number: "0123450000", ctx)
        #expect(ctx.failures.last?.call == 3 && ctx.failures.last?.reason == .noDIDEntry(pbx: "PBX-2", number: "0123450000")
                && ctx.failures.last?.reason.detail == "PBX-2 has no DID entry for 0123450000")
        // The channel it seized stays seized until the call is released, then is freed quietly.
        #expect(q.trunkInUse == 1)
        q.releaseCallee(call: 3, quietly: true, ctx)
        #expect(q.trunkInUse == 0 && ctx.steps.last?.kind != .trunkReleased)

        q.offer(call: 4, group: 0, number: "0123451099", ctx)
        #expect(ctx.failures.last?.reason == .noExtension("PBX-2/1099") && ctx.failures.last?.reason.detail == "no extension PBX-2/1099")

        q.extensions["1012"]?.mode = .absent
        q.ring(call: 5, ext: "1012", ctx)
        #expect(ctx.failures.last?.call == 5 && ctx.failures.last?.outcome == .failed && ctx.steps.last?.kind == .callRejected)

        q.ring(call: 6, ext: "1011", ctx)
        q.ring(call: 7, ext: "1011", ctx)
        #expect(ctx.failures.last?.call == 7 && ctx.failures.last?.outcome == .busy && ctx.steps.last?.kind == .extensionBusy)
        // Releasing the busy attempt leaves the first call's ringing alone.
        q.releaseCallee(call: 7, quietly: false, ctx)
        #expect(q.extensions["1011"]?.activity == .ringing(call: 6))
    }

    @Test func anUnansweredExtensionRingsOutTheRingTimeout() {
        let ctx = FakeContext()
        let p = pbx()
        p.extensions["1012"]?.mode = .unanswered
        p.ring(call: 9, ext: "1012", ctx)
        #expect(ctx.timers.last?.kind == "ring-timeout" && ctx.timers.last?.after == .seconds(60))
        p.ringTimeoutExpired(call: 9, ctx)
        #expect(ctx.rangOut == [9] && ctx.steps.last?.detail == "not answered within \(SimTime.seconds(60).durationString)" && ctx.steps.last?.actor == "PBX-2/1012")
    }
}
