/// A fingerprint of a trace, as OMNeT++ fingerprints a simulation: a 64-bit FNV-1a hash over the
/// typed content of every step (time, call, actor, kind, typed fields), SIP message (time, call,
/// addresses, method or status, branch, Call-ID, flags, text) and call row, in order. The prose
/// `detail` of a step is left out, so rewording a step does not change it; any change of
/// behaviour does. Same scenario and seed give the same fingerprint in any process, with any
/// `--jobs`, and through `generate` shards. Written `fp64:` + 16 hex digits.
public struct TraceFingerprint: Sendable {
    public private(set) var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}

    /// A text's bytes, then the field separator. Over the UTF-8 buffer (`FNVBytes`), not the
    /// UTF8View's iterator, which cost five times the instructions a byte on every byte of every
    /// SIP message of the full trace.
    mutating func mix(_ s: String) {
        var f = FNVBytes(hash: hash)
        f.put(s)
        f.put(0x1f)
        hash = f.hash
    }
    /// An integer as its 8 bytes (no text formatting on the hot path); nil as a distinct marker.
    mutating func mix(_ v: Int64) {
        var f = FNVBytes(hash: hash)
        var x = UInt64(bitPattern: v)
        for _ in 0..<8 { f.put(UInt8(x & 0xff)); x >>= 8 }
        hash = f.hash
    }
    mutating func mix(_ v: Int?) { if let v { mix(Int64(v)) } else { mix("-") } }
    mutating func mix(_ v: Int64?) { if let v { mix(v) } else { mix("-") } }

    public mutating func add(_ event: TraceEvent) {
        switch event {
        case .step(let s):
            mix("S"); mix(s.atNs); mix(s.callID); mix(s.actor); mix(s.kind.rawValue)
            // The fields' JSON text, hashed as it is written (the same bytes as mix(json)).
            var f = FNVBytes(hash: hash)
            if !s.fields.isEmpty { s.fields.writeJSON(&f) }
            f.put(0x1f)
            hash = f.hash
        case .sipMessage(let m):
            mix("M"); mix(m.atNs); mix(m.callID); mix(m.src); mix(m.dst)
            if let method = m.method { mix(method) } else { mix(m.statusCode) }
            mix(m.branch); mix(m.sipCallID); mix(m.delivered ? "1" : "0"); mix(m.retransmission ? "1" : "0"); mix(m.transport); mix(m.raw)
        case .callEnded(let c):
            mix("C"); mix(Int64(c.callID)); mix(c.caller); mix(c.dialed); mix(c.placedAtNs); mix(c.endedAtNs)
            mix(c.outcome.rawValue); mix(c.route?.rawValue ?? "-"); mix(c.answeredBy ?? "-"); mix(c.setupDelayNs)
            mix(c.sipTargets.joined(separator: ",")); mix(c.sipAttempts); mix(c.rerouted ? "1" : "0"); mix(c.finalCode)
            mix(c.pbx); mix(c.cardState ?? "-"); mix(c.carrier ?? "-"); mix(c.trunkGroup); mix(c.sentDigits ?? "-"); mix(c.pddNs)
            mix(c.releasedBy ?? "-"); mix(c.endCause ?? "-")
        }
    }

    public var text: String {
        let h = String(hash, radix: 16)
        return "fp64:" + String(repeating: "0", count: 16 - h.count) + h
    }

    public static func of(_ events: [TraceEvent]) -> String {
        var f = TraceFingerprint()
        for e in events { f.add(e) }
        return f.text
    }
}

/// FNV-1a 64 over bytes as they are put (a JSON writer's, a text's, an integer's): the one place
/// the fingerprint's hash step is written.
struct FNVBytes: UTF8ByteSink {
    var hash: UInt64
    @inline(__always) mutating func put(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
}

/// A sink that only fingerprints what passes through it.
public final class FingerprintSink: TraceSink {
    public private(set) var fingerprint = TraceFingerprint()
    public init() {}
    public func record(_ event: TraceEvent) { fingerprint.add(event) }
    public func flush() throws {}
}
