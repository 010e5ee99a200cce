/// The kinds of step the models record. A closed set: the trace schema documents each one
/// (docs/trace-schema.md), and people who train on the traces rely on these exact strings.
public enum StepKind: String, Sendable, CaseIterable {
    case callPlaced = "call-placed"
    case routeSelected = "route-selected"
    case dnsQuery = "dns-query"
    case dnsAnswer = "dns-answer"
    case dnsFailure = "dns-failure"
    case dnsCacheHit = "dns-cache-hit"
    case targetsResolved = "targets-resolved"
    case targetSkipped = "target-skipped"
    case attemptStarted = "attempt-started"
    case txnState = "txn-state"
    case timerFired = "timer-fired"
    case sipResponse = "sip-response"
    case cancel = "cancel"
    case transportError = "transport-error"
    case tlsConnect = "tls-connect"
    case failover = "failover"
    case blocklistAdded = "blocklist-added"
    case blocklistExpired = "blocklist-expired"
    case reroute = "reroute"
    case trunkSeized = "trunk-seized"
    case trunkReleased = "trunk-released"
    case trunkBusy = "trunk-busy"
    case pstnSetup = "pstn-setup"
    case pstnAlerting = "pstn-alerting"
    case pstnConnect = "pstn-connect"
    case didMapped = "did-mapped"
    case extensionRinging = "extension-ringing"
    case extensionAnswered = "extension-answered"
    case extensionBusy = "extension-busy"
    case callAnswered = "call-answered"
    case callEnded = "call-ended"
    case callRejected = "call-rejected"
    case registration = "registration"
    case cardState = "card-state"
    case proxy = "proxy"
    case hostState = "host-state"
    case command = "command"
    case packetDropped = "packet-dropped"
}

/// How a call ended: the `call.outcome` column (documented in docs/trace-schema.md).
public enum CallOutcome: String, Sendable, CaseIterable, CustomStringConvertible {
    case answered, busy, rejected, blocked, failed, abandoned
    case noAnswer = "no-answer"
    /// Not ended when the run stopped (`ended_at_us` NULL).
    case inProgress = "in-progress"
    /// Live mode only: the card gave the call to the public trunk, which live mode does not dial
    /// (route `public`; the simulation goes on to the PSTN instead).
    case rerouted
    public var description: String { rawValue }
}

/// The route a call ended on: the `call.route` column.
public enum CallRoute: String, Sendable, CaseIterable, CustomStringConvertible {
    case sip
    case publicTrunk = "public"
    public var description: String { rawValue }
}

/// A typed value of a step field.
public enum FieldValue: Sendable, Equatable {
    case int(Int64)
    case double(Double)
    case text(String)
}

/// One named, typed field of a step (the `step.fields` column): what a program reads instead of
/// the prose of `detail`. Documented per step kind in docs/trace-schema.md.
public struct StepField: Sendable, Equatable {
    public var name: String
    public var value: FieldValue
    public init(_ name: String, _ value: String) { self.name = name; self.value = .text(value) }
    public init(_ name: String, _ value: Int) { self.name = name; self.value = .int(Int64(value)) }
    public init(_ name: String, _ value: Int64) { self.name = name; self.value = .int(value) }
    public init(_ name: String, _ value: Double) { self.name = name; self.value = .double(value) }
}

extension Array where Element == StepField {
    /// The fields as one JSON object, in order; nil when there are none.
    public var json: String? {
        guard !isEmpty else { return nil }
        var out = JSONBytes(capacity: 96)
        writeJSON(&out)
        return out.text
    }

    /// The same JSON text appended to a byte buffer (specialized here: a caller in another module
    /// would otherwise go through the generic writer, a witness call per byte).
    public func appendJSON(to out: inout JSONBytes) { writeJSON(&out) }

    /// The same JSON text, byte by byte into `out` (a buffer, or the trace fingerprint's hash:
    /// no string is built per field; this runs for every step of the trace).
    @inline(__always) public func writeJSON<S: UTF8ByteSink>(_ out: inout S) {
        out.put(0x7B)
        for (i, f) in enumerated() {
            if i > 0 { out.put(0x2C) }
            out.putJSONString(f.name)
            out.put(0x3A)
            switch f.value {
            case .int(let v): out.putDecimal(v)
            case .double(let v): out.put(JSON.number(v))
            case .text(let v): out.putJSONString(v)
            }
        }
        out.put(0x7D)
    }
}

extension Array where Element == StepField {
    /// The text value of the field `name`, if it has one.
    public func text(_ name: String) -> String? {
        for f in self where f.name == name { if case .text(let v) = f.value { return v } }
        return nil
    }
    /// The integer value of the field `name`, if it has one.
    public func int(_ name: String) -> Int64? {
        for f in self where f.name == name { if case .int(let v) = f.value { return v } }
        return nil
    }
}

/// One recorded step: a decision or state change at a simulated instant.
public struct Step: Sendable, Equatable {
    /// Simulated time in nanoseconds since the start of the run.
    public var atNs: Int64
    public var callID: Int?
    /// Who acted: `PBX-1`, `PBX-1/V-SIPGW`, `sip1.itsp.example`, `TELCO-098`, `PBX-2/1011`, `network`.
    public var actor: String
    public var kind: StepKind
    /// For people: one line of prose. Programs read `fields`.
    public var detail: String
    /// Typed fields of this kind of step (empty for kinds that have none yet).
    public var fields: [StepField]

    public init(atNs: Int64, callID: Int?, actor: String, kind: StepKind, detail: String, fields: [StepField] = []) {
        self.atNs = atNs; self.callID = callID; self.actor = actor; self.kind = kind; self.detail = detail; self.fields = fields
    }
}

/// One SIP message put on the network (retransmissions included).
public struct SIPMessageRecord: Sendable, Equatable {
    public var atNs: Int64
    public var callID: Int?
    /// `ip:port`
    public var src: String
    public var dst: String
    public var method: String?
    public var statusCode: Int?
    public var branch: String
    public var sipCallID: String
    /// False when the network dropped it (down host, loss, closed port).
    public var delivered: Bool
    public var retransmission: Bool
    public var transport: String
    public var raw: String

    public init(atNs: Int64, callID: Int?, src: String, dst: String, method: String?, statusCode: Int?, branch: String,
                sipCallID: String, delivered: Bool, retransmission: Bool, transport: String, raw: String) {
        self.atNs = atNs; self.callID = callID; self.src = src; self.dst = dst; self.method = method
        self.statusCode = statusCode; self.branch = branch; self.sipCallID = sipCallID; self.delivered = delivered
        self.retransmission = retransmission; self.transport = transport; self.raw = raw
    }
}

/// The final record of a call, written when it ends.
public struct CallRecord: Sendable, Equatable {
    public var callID: Int
    public var caller: String
    public var dialed: String
    public var placedAtNs: Int64
    public var endedAtNs: Int64?
    public var outcome: CallOutcome
    public var route: CallRoute?
    public var answeredBy: String?
    public var setupDelayNs: Int64?
    /// Distinct addresses that received an INVITE for this call, in order.
    public var sipTargets: [String]
    public var sipAttempts: Int
    public var rerouted: Bool
    /// Final SIP status that decided the call over SIP, if any.
    public var finalCode: Int?
    public var pbx: String
    public var cardState: String?
    /// Public route: the ARS carrier, the trunk group and the digits sent on the trunk.
    public var carrier: String?
    public var trunkGroup: Int?
    public var sentDigits: String?
    /// Post-dial delay: dialling to the first ringback (180/183 or ALERTING) or answer; nil when
    /// the call reached neither.
    public var pddNs: Int64?
    /// Which side ended an answered call: `caller` (hung up, or its hold time ran out) or `callee`
    /// (the called side's BYE, also after a 2xx that was never ACKed); nil for unanswered calls
    /// and calls still in progress.
    public var releasedBy: String?
    /// Why a call that was not answered ended, as a category (the `cause` of its `call-ended`
    /// step: `no-extension`, `sip-final`, ...; docs/trace-schema.md); nil for answered calls and
    /// calls still in progress.
    public var endCause: String?

    public init(callID: Int, caller: String, dialed: String, placedAtNs: Int64, endedAtNs: Int64?, outcome: CallOutcome,
                route: CallRoute?, answeredBy: String?, setupDelayNs: Int64?, sipTargets: [String], sipAttempts: Int,
                rerouted: Bool, finalCode: Int?, pbx: String, cardState: String?) {
        self.callID = callID; self.caller = caller; self.dialed = dialed; self.placedAtNs = placedAtNs
        self.endedAtNs = endedAtNs; self.outcome = outcome; self.route = route; self.answeredBy = answeredBy
        self.setupDelayNs = setupDelayNs; self.sipTargets = sipTargets; self.sipAttempts = sipAttempts
        self.rerouted = rerouted; self.finalCode = finalCode; self.pbx = pbx; self.cardState = cardState
    }
}

/// How much of a run the models record: `full` (steps, SIP messages with their text, calls),
/// `steps` (no SIP messages), `calls` (call rows only). Less costs less: at `calls` the models
/// do not even build the step texts.
public enum TraceLevel: String, Sendable, CaseIterable {
    case full, steps, calls
}

/// A fact about the past, as the models emit it.
public enum TraceEvent: Sendable, Equatable {
    case step(Step)
    case sipMessage(SIPMessageRecord)
    case callEnded(CallRecord)
}

/// Receives trace events. Sinks attach from outside the models (SQLite, memory, console).
public protocol TraceSink: AnyObject {
    func record(_ event: TraceEvent)
    /// Called when the run ends or pauses (REPL): commit what is buffered.
    func flush() throws
}

/// Keeps every event in memory: for tests and small runs.
public final class MemoryTraceSink: TraceSink {
    public private(set) var events: [TraceEvent] = []
    public init() {}
    public func record(_ event: TraceEvent) { events.append(event) }
    public func flush() throws {}

    public var steps: [Step] { events.compactMap { if case .step(let s) = $0 { return s } else { return nil } } }
    public var sipMessages: [SIPMessageRecord] {
        events.compactMap { if case .sipMessage(let s) = $0 { return s } else { return nil } }
    }
    public var calls: [CallRecord] { events.compactMap { if case .callEnded(let c) = $0 { return c } else { return nil } } }
}

/// Hands every event to several sinks, in order.
public final class FanOutTraceSink: TraceSink {
    public var sinks: [TraceSink]
    public init(_ sinks: [TraceSink]) { self.sinks = sinks }
    public func record(_ event: TraceEvent) { for s in sinks { s.record(event) } }
    public func flush() throws { for s in sinks { try s.flush() } }
}

/// The typed fields of a recorded step, read back from the `step.fields` column (a flat JSON
/// object of strings and numbers, as `[StepField].json` writes it). Kept as pairs sorted by name
/// (a step has a handful): no hashing to read one, and `json` needs no sort.
public struct StepFields: Sendable, Equatable {
    /// Sorted by name, one per name.
    private var pairs: [(name: String, value: FieldValue)] = []

    public init(_ values: [String: FieldValue] = [:]) {
        pairs = values.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
    }

    /// The fields by name.
    public var values: [String: FieldValue] { Dictionary(uniqueKeysWithValues: pairs.map { ($0.name, $0.value) }) }

    public static func == (a: StepFields, b: StepFields) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public subscript(_ name: String) -> FieldValue? {
        for p in pairs where p.name == name { return p.value }
        return nil
    }
    public func text(_ name: String) -> String? {
        switch self[name] { case .text(let s)?: return s; default: return nil }
    }
    public func int(_ name: String) -> Int64? {
        switch self[name] { case .int(let v)?: return v; case .double(let d)?: return Int64(exactly: d); default: return nil }
    }
    public func double(_ name: String) -> Double? {
        switch self[name] { case .int(let v)?: return Double(v); case .double(let d)?: return d; default: return nil }
    }

    /// Sets a field, keeping the pairs sorted (a later value for a name replaces the earlier).
    mutating func set(_ name: String, _ value: FieldValue) {
        var i = pairs.count
        while i > 0 && pairs[i - 1].name > name { i -= 1 }
        if i > 0 && pairs[i - 1].name == name { pairs[i - 1].value = value } else { pairs.insert((name, value), at: i) }
    }

    /// The fields as a JSON object, keys sorted (`{}` when there are none).
    public var json: String {
        var o = JSONObject()
        for (k, v) in pairs {
            switch v {
            case .int(let x): o.add(k, x)
            case .double(let x): o.add(k, x)
            case .text(let x): o.add(k, x)
            }
        }
        return o.text
    }

    /// Parses what `[StepField].json` wrote; nil or malformed text gives no fields (what was read
    /// before the fault is kept, as the reader always did).
    public static func parse(_ json: String?) -> StepFields {
        guard var json else { return StepFields() }
        return json.withUTF8 { parse(utf8: $0) }
    }

    static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> StepFields {
        var out = StepFields()
        var i = 0
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        func string() -> String? {
            guard i < b.count, b[i] == 0x22 else { return nil }
            i += 1
            // Without escapes (the usual case) the text is the bytes between the quotes.
            let start = i
            while i < b.count, b[i] != 0x22, b[i] != 0x5C { i += 1 }
            if i >= b.count || b[i] == 0x22 {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            var bytes = Array(b[start..<i])
            while i < b.count, b[i] != 0x22 {
                if b[i] == 0x5C, i + 1 < b.count {
                    i += 1
                    switch b[i] {
                    case 0x6E: bytes.append(0x0A)
                    case 0x72: bytes.append(0x0D)
                    case 0x74: bytes.append(0x09)
                    case 0x75 where i + 4 < b.count:
                        let hex = String(decoding: UnsafeBufferPointer(rebasing: b[(i + 1)...(i + 4)]), as: UTF8.self)
                        if let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) { bytes.append(contentsOf: Array(String(u).utf8)) }
                        i += 4
                    default: bytes.append(b[i])
                    }
                } else { bytes.append(b[i]) }
                i += 1
            }
            i += 1
            return String(decoding: bytes, as: UTF8.self)
        }
        skipSpace()
        guard i < b.count, b[i] == 0x7B else { return out }
        i += 1
        while true {
            skipSpace()
            if i < b.count, b[i] == 0x7D { break }
            guard let key = string() else { break }
            skipSpace()
            guard i < b.count, b[i] == 0x3A else { break }
            i += 1
            skipSpace()
            if i < b.count, b[i] == 0x22 {
                guard let v = string() else { break }
                out.set(key, .text(v))
            } else {
                let start = i
                while i < b.count, b[i] != 0x2C, b[i] != 0x7D { i += 1 }
                let t = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self).filter { $0 != " " }
                if let v = Int64(t) { out.set(key, .int(v)) } else if let d = Double(t) { out.set(key, .double(d)) }
            }
            skipSpace()
            if i < b.count, b[i] == 0x2C { i += 1; continue }
            break
        }
        return out
    }
}
