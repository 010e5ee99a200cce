import SIP
import SimCore
import Trace

/// Where a call entered the public network, so that its progress and its failure travel back
/// to the right end: the public trunk of the PBX that placed it, or a carrier SIP server that
/// terminated a SIP call on the public network (its gateway).
public enum CircuitOrigin: Sendable, Equatable {
    case pbx(Int)
    case gateway(server: Int)
}

/// What the public network may ask of whoever runs it (issue 9 item 2): the engine, the PBXs
/// behind public trunks, the end that placed the call, and the trace.
public protocol PublicNetworkContext: AnyObject {
    var now: SimTime { get }
    /// Schedules a message of the call's signalling (`arriveTelco`, `alerting`, `connect`).
    func schedule(_ step: PSTNStep, call: Int, after delay: SimTime) -> EventID
    /// Schedules the answer of the subscriber line the call rings.
    func scheduleLineAnswer(call: Int, after delay: SimTime) -> EventID
    func cancel(_ id: EventID)
    /// The PBX and public trunk group that own a national number (their DID ranges and numbers).
    func terminatingPBX(for national: String) -> (pbx: Int, group: Int)?
    func pbxName(_ pbx: Int) -> String
    /// SETUP reached a PBX's public trunk: the PBX seizes a channel, maps the DID and rings.
    func offer(call: Int, toPBX pbx: Int, group: Int, number: String)
    /// The PBX the call was offered to lets it go (its incoming channel, the extension it rings);
    /// `quietly` when the network drops that part of a call whose origin decides what follows.
    func releaseCallee(call: Int, atPBX pbx: Int, quietly: Bool)
    /// The call cannot be completed (unallocated, busy, no DID entry): its origin decides (the
    /// caller's PBX ends the call; a gateway answers the INVITE with a final response).
    func failed(call: Int, origin: CircuitOrigin, outcome: CallOutcome, reason: EndReason)
    /// The trace's name of the party that answered (CONNECT carries the connected party).
    func answered(call: Int, by party: String)
    /// A step of the trace; its actor, text and fields are built only when the trace records it.
    func record(_ kind: StepKind, _ actor: @autoclosure () -> String, _ detail: @autoclosure () -> String, call: Int, _ fields: @autoclosure () -> [StepField])
}

/// The public network (a node): the telephone companies' exchanges by area code, their
/// subscriber lines, and the path of each call through them (ISDN-like signalling without IP
/// packets: each exchange adds its switching delay, a toll call the toll transit delay, and the
/// progress messages travel back over the same path). It owns the lines' busy state, their
/// answer-time stream and the paths; PBXs reach it through their public trunks, the carrier's
/// gateway through its handoff.
public final class PublicNetwork {
    public let telcos: [TelcoConfig]
    private let byName: [StringKey: Int]
    /// Area codes by length, longest first, for the longest-prefix match of a national number.
    private let areaLengths: [Int]
    private let byArea: [StringKey: Int]
    /// The same table for ASCII area codes of up to 7 bytes, keyed by their bytes packed into an
    /// integer (`packed`): a number's owner is found without making a string of each prefix and
    /// hashing it (about 850 instructions a lookup, two a call, issue 11's profile).
    private let byPackedArea: IntMap<Int>
    /// Subscriber lines in a call.
    private var busy: Set<StringKey> = []
    /// How long subscriber lines ring before they answer.
    private var answerStream: Xoshiro256

    /// A call's path (the network's record of it): where it entered, the digits the first
    /// exchange received, the caller's area (for local numbers), the delay of one message end to
    /// end, the subscriber line it holds or the PBX it was offered to, and the messages of its
    /// signalling still under way (cancelled when the call is released). A reference, so that
    /// reading one field of it (the delay, for each message) does not copy its strings out of the
    /// table (issue 11's profile: about a dozen copies a call).
    final class Path {
        let origin: CircuitOrigin
        let digits: String
        let originArea: String
        var delay: SimTime
        var subscriber: (telco: Int, number: String)?
        var destPBX: Int?
        var events: [EventID] = []
        init(origin: CircuitOrigin, digits: String, originArea: String, delay: SimTime) {
            self.origin = origin; self.digits = digits; self.originArea = originArea; self.delay = delay
            events.reserveCapacity(4) // SETUP's hops, ALERTING, CONNECT: one allocation
        }
    }
    private var paths = IntMap<Path>()

    public init(telcos: [TelcoConfig], answerStream: Xoshiro256) {
        self.telcos = telcos
        self.answerStream = answerStream
        var names: [StringKey: Int] = [:], areas: [StringKey: Int] = [:]
        for (i, t) in telcos.enumerated() {
            if names[StringKey(t.name)] == nil { names[StringKey(t.name)] = i }
            // The first company listed for an area code owns it (as the scan in list order did).
            if areas[StringKey(t.areaCode)] == nil { areas[StringKey(t.areaCode)] = i }
        }
        byName = names
        byArea = areas
        areaLengths = Set(telcos.map(\.areaCode.count)).sorted(by: >)
        var packedAreas = IntMap<Int>()
        for (key, i) in areas {
            key.string.utf8.withContiguousStorageIfAvailable { b in
                if let k = PublicNetwork.packed(b, b.count) { packedAreas[k] = i }
            }
        }
        byPackedArea = packedAreas
    }

    /// The company of that name.
    public func telco(named name: String) -> Int? { byName[StringKey(name)] }

    /// The telephone company that owns a national number (longest area-code prefix).
    public func owner(of national: String) -> Int? {
        let length = national.utf8.count // area codes and numbers are ASCII digits
        let fast = national.utf8.withContiguousStorageIfAvailable { b -> Int?? in
            guard b.allSatisfy({ $0 < 0x80 }) else { return .none }
            for n in areaLengths where n <= length {
                // An ASCII area code is as long in bytes as in characters.
                guard let k = PublicNetwork.packed(b, n) else { return .none }
                if let i = byPackedArea[k] { return .some(i) }
            }
            return .some(nil)
        }
        if let fast, let answer = fast { return answer }
        for n in areaLengths where n <= length {
            if let i = byArea[StringKey(String(national.prefix(n)))] { return i }
        }
        return nil
    }

    /// The first `n` bytes of `b`, ASCII and at most 7 of them, packed with their count into a
    /// positive integer (equal keys, equal bytes); nil otherwise.
    static func packed(_ b: UnsafeBufferPointer<UInt8>, _ n: Int) -> Int? {
        guard n <= 7, n <= b.count else { return nil }
        var k = n << 56
        for i in 0..<n {
            guard b[i] < 0x80 else { return nil }
            k |= Int(b[i]) << (8 * i)
        }
        return k
    }

    /// What a telephone company makes of the digits it receives: a leading carrier access code
    /// (00XY) is the carrier choice, not part of the number; anything from `#` on is dropped; a
    /// number without the trunk prefix is a local number in the caller's area.
    public static func nationalNumber(_ digits: String, originArea: String) -> String {
        // Dialled numbers are ASCII: work on their bytes in place (no grapheme breaking, no
        // substring views: about 1,300 instructions a call each before, issue 11's profile).
        let ascii = digits.utf8.withContiguousStorageIfAvailable { bytes -> String? in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
            let end = bytes.firstIndex(of: UInt8(ascii: "#")) ?? bytes.count
            let zero = UInt8(ascii: "0")
            let start = end > 4 && bytes[0] == zero && bytes[1] == zero && bytes[2] != zero ? 4 : 0
            let number = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            return start < end && bytes[start] == zero ? number : concat(originArea, number)
        }
        if let ascii, let national = ascii { return national }
        var d = Substring(digits)
        if let hash = d.firstIndex(of: "#") { d = d[..<hash] }
        if d.hasPrefix("00"), d.count > 4, d.dropFirst(2).first != "0" { d = d.dropFirst(4) }
        return d.first == "0" ? String(d) : originArea + d
    }

    /// The delay of one message over the call's path so far (zero for a call not in the network).
    public func delay(of call: Int) -> SimTime { paths[call]?.delay ?? .zero }

    /// Whether the call rings (or talks to) a subscriber line of a company.
    public func holdsLine(_ call: Int) -> Bool { paths[call]?.subscriber != nil }

    /// Whether the call is in the network (set up and not released).
    public func carries(_ call: Int) -> Bool { paths[call] != nil }

    /// Where the call entered the network.
    public func origin(of call: Int) -> CircuitOrigin? { paths[call]?.origin }

    /// The PBX the call was offered to, if any.
    public func destination(of call: Int) -> Int? { paths[call]?.destPBX }

    /// SETUP enters the network at `telco` (the caller's company for a PBX's public trunk; the
    /// number's company for a carrier's gateway, `toll` then), `digits` as sent.
    public func setup(call: Int, digits: String, origin: CircuitOrigin, originTelco: Int, at telco: Int, toll: Bool, _ ctx: PublicNetworkContext) {
        let d = telcos[telco].switchingDelay
        paths[call] = Path(origin: origin, digits: digits, originArea: telcos[originTelco].areaCode, delay: d)
        send(.arriveTelco(telco: telco, toll: toll), call: call, after: d, ctx)
    }

    /// Schedules a message of the call's signalling and keeps it with the path.
    private func send(_ step: PSTNStep, call: Int, after delay: SimTime, _ ctx: PublicNetworkContext) {
        let e = ctx.schedule(step, call: call, after: delay)
        paths[call]?.events.append(e)
    }

    /// SETUP arrives at an exchange: on to the number's company (toll), to a subscriber line, or
    /// to the PBX whose public trunk owns the number.
    public func arrive(call id: Int, telco ti: Int, toll: Bool, _ ctx: PublicNetworkContext) {
        guard let path = paths[id] else { return }
        let telco = telcos[ti]
        let national = PublicNetwork.nationalNumber(path.digits, originArea: path.originArea)
        guard let owner = owner(of: national) else {
            ctx.record(.pstnSetup, telco.name, "\(national): no telephone company owns this number (unallocated)", call: id,
                       [StepField("number", national), StepField("result", "unallocated")])
            fail(call: id, outcome: .failed, reason: .unallocatedNumber, ctx)
            return
        }
        if owner != ti && !toll {
            ctx.record(.pstnSetup, telco.name, "SETUP \(national): toll call to \(telcos[owner].name)", call: id,
                       [StepField("number", national), StepField("result", "toll"), StepField("to", telcos[owner].name)])
            let d = telco.tollDelay + telcos[owner].switchingDelay
            path.delay += d
            send(.arriveTelco(telco: owner, toll: true), call: id, after: d, ctx)
            return
        }
        if let sub = telco.subscribers.first(where: { $0.contains(national) }) {
            ctx.record(.pstnSetup, telco.name, "SETUP \(national) to a subscriber line", call: id,
                       [StepField("number", national), StepField("result", "subscriber")])
            ring(call: id, telco: ti, number: national, range: sub, ctx)
            return
        }
        guard let (dp, gi) = ctx.terminatingPBX(for: national) else {
            ctx.record(.pstnSetup, telco.name, "SETUP \(national): number not in service", call: id,
                       [StepField("number", national), StepField("result", "not-in-service")])
            fail(call: id, outcome: .failed, reason: .unallocatedNumber, ctx)
            return
        }
        paths[id]?.destPBX = dp
        ctx.record(.pstnSetup, telco.name, "SETUP \(national) to the public trunk of \(ctx.pbxName(dp))", call: id,
                   [StepField("number", national), StepField("result", "pbx"), StepField("to", ctx.pbxName(dp))])
        ctx.offer(call: id, toPBX: dp, group: gi, number: national)
    }

    /// Subscriber lines behave like phones: one call at a time, answer after their ring delay.
    private func ring(call id: Int, telco ti: Int, number: String, range: SubscriberRange, _ ctx: PublicNetworkContext) {
        // The line's name, written only for the trace (and a busy line's failure detail).
        let who = { concat(self.telcos[ti].name, "/", number) }
        if busy.contains(StringKey(number)) {
            ctx.record(.extensionBusy, who(), "subscriber busy", call: id, [StepField("party", who())])
            fail(call: id, outcome: .busy, reason: .subscriberBusy(who()), ctx)
            return
        }
        busy.insert(StringKey(number))
        paths[id]?.subscriber = (ti, number)
        ctx.record(.extensionRinging, who(), "ringing", call: id, [StepField("party", who())])
        send(.alerting, call: id, after: delay(of: id), ctx)
        paths[id]?.events.append(ctx.scheduleLineAnswer(call: id, after: range.answerAfter.draw(&answerStream)))
    }

    /// The subscriber line the call rings answers: CONNECT travels back.
    public func lineAnswers(call id: Int, _ ctx: PublicNetworkContext) {
        guard let sub = paths[id]?.subscriber else { return }
        let who = "\(telcos[sub.telco].name)/\(sub.number)"
        ctx.answered(call: id, by: who)
        ctx.record(.extensionAnswered, who, "answers", call: id, [StepField("party", who)])
        send(.connect, call: id, after: delay(of: id), ctx)
    }

    /// The PBX the call was offered to sends ALERTING (its extension rings) or CONNECT (it
    /// answered): the message travels back over the call's path.
    public func progress(_ step: PSTNStep, call id: Int, _ ctx: PublicNetworkContext) {
        send(step, call: id, after: delay(of: id), ctx)
    }

    /// The call fails in the network or at the PBX it was offered to. A gateway's call leaves the
    /// network at once (its line, its far PBX and its pending messages released, quietly) and the
    /// gateway answers the INVITE; a PBX's call stays until that PBX ends it.
    public func fail(call id: Int, outcome: CallOutcome, reason: EndReason, _ ctx: PublicNetworkContext) {
        guard let path = paths[id] else { return }
        if case .gateway = path.origin { drop(call: id, quietly: true, ctx) }
        ctx.failed(call: id, origin: path.origin, outcome: outcome, reason: reason)
    }

    /// The call is released: its messages under way are cancelled, the PBX it was offered to
    /// lets it go, its line is free again, and its path is gone.
    public func release(call id: Int, _ ctx: PublicNetworkContext) {
        drop(call: id, quietly: false, ctx)
    }

    private func drop(call id: Int, quietly: Bool, _ ctx: PublicNetworkContext) {
        guard let path = paths.removeValue(forKey: id) else { return }
        for e in path.events { ctx.cancel(e) }
        if let dp = path.destPBX { ctx.releaseCallee(call: id, atPBX: dp, quietly: quietly) }
        if let sub = path.subscriber { busy.remove(StringKey(sub.number)) }
    }
}
