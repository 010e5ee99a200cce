import Dispatch
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// Records trace events into the store: prepared statements, one open transaction committed every
/// `batchSize` rows and on `flush()`. `seq` is one counter per run shared by `step` and
/// `sip_message`, so the interleaving of the two tables is recoverable.
///
/// Writing happens on a background queue: `record` only appends to a chunk; full chunks go to the
/// writer through a bounded hand-off (at most `maxChunksInFlight` waiting), so the simulation and
/// SQLite use both cores and memory stays bounded. After `flush()` returns, everything is
/// committed and the connection is idle, so the caller may use it again.
/// `@unchecked Sendable`: the statements and counters are only touched on `writer`.
public final class SQLiteTraceSink: TraceSink, @unchecked Sendable {
    let writer = DispatchQueue(label: "pbxsim.sqlite-writer")
    let slots = DispatchSemaphore(value: 4)
    static let chunkSize = 2048
    var chunk: [TraceEvent] = []
    let store: TraceStore
    public let runID: Int64
    let batchSize: Int
    let insertStep: SQLiteStatement
    let insertMessage: SQLiteStatement
    let insertCall: SQLiteStatement
    var seq: Int64 = 0
    /// Per transaction and direction, the last row whose text was stored (for retransmissions).
    struct TextKey: Hashable { var branch: String; var method: String?; var status: Int?; var src: String; var dst: String }
    var lastText: [TextKey: (seq: Int64, raw: String)] = [:]
    var pending = 0
    var inTransaction = false
    /// The first error met while recording; recording stops after it and `flush` rethrows it.
    public private(set) var error: Error?

    /// Rows are written in `record`, on the caller's thread (no writer queue).
    let inline: Bool

    init(store: TraceStore, runID: Int64, batchSize: Int, inline: Bool = false) throws {
        self.store = store
        self.runID = runID
        self.batchSize = batchSize
        self.inline = inline
        insertStep = try store.db.prepare("INSERT INTO step (run_id, seq, at_us, call_id, actor, kind, detail, at_ns, fields) VALUES (?,?,?,?,?,?,?,?,?)")
        insertMessage = try store.db.prepare("""
            INSERT INTO sip_message (run_id, seq, at_us, call_id, src, dst, method, status_code, branch, sip_call_id,
                                     delivered, raw, retransmission, transport, at_ns, raw_of)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """)
        insertCall = try store.db.prepare("""
            INSERT INTO call (run_id, call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by,
                              setup_delay_us, pbx, sip_attempts, sip_targets, rerouted, final_code, card_state,
                              carrier, trunk_group, sent_digits, pdd_us, released_by)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """)
    }

    public func record(_ event: TraceEvent) {
        if inline { write(event); return }
        chunk.append(event)
        if chunk.count >= SQLiteTraceSink.chunkSize { submit() }
    }

    /// Hands the current chunk to the writer (waiting while too many are in flight).
    func submit() {
        guard !chunk.isEmpty else { return }
        var batch = chunk
        chunk = []
        chunk.reserveCapacity(SQLiteTraceSink.chunkSize)
        // The writer moves the events out one by one (reversed, then popped) instead of copying
        // each (a copy retains every string of the event).
        batch.reverse()
        let box = EventBox(batch)
        slots.wait()
        writer.async {
            while let e = box.events.popLast() { self.write(e) }
            self.slots.signal()
        }
    }

    /// A chunk of events owned by the writer's block alone, so that it pops them in place.
    final class EventBox: @unchecked Sendable {
        var events: [TraceEvent]
        init(_ events: consuming [TraceEvent]) { self.events = events }
    }

    /// The texts of the row being written, one after another (its fields' JSON written straight
    /// in), and where each one is: bound in place, with no string built or array allocated per
    /// row. Kept between rows for their capacity; `write` works on them as locals (a stored
    /// property mutated per text costs a dynamic exclusivity check each time).
    var rowBytes = JSONBytes(capacity: 16_384)
    var spans: [SQLiteStatement.TextSpan] = []

    /// Binds and inserts one event (on the writer queue).
    func write(_ event: TraceEvent) {
        var texts = RowTexts(out: JSONBytes(capacity: 0), spans: [])
        swap(&texts.out, &rowBytes)
        swap(&texts.spans, &spans)
        texts.out.bytes.removeAll(keepingCapacity: true)
        texts.spans.removeAll(keepingCapacity: true)
        write(event, &texts)
        swap(&texts.out, &rowBytes)
        swap(&texts.spans, &spans)
    }

    /// A row's texts laid out one after another, and their parameters.
    struct RowTexts {
        var out: JSONBytes
        var spans: [SQLiteStatement.TextSpan]

        /// A text parameter (NULL when nil).
        @inline(__always) mutating func add(_ parameter: Int32, _ text: String?) {
            guard var text else { spans.append(.init(parameter: parameter, start: -1, count: 0)); return }
            let start = out.bytes.count
            text.withUTF8 { out.bytes.append(contentsOf: $0) }
            spans.append(.init(parameter: parameter, start: start, count: out.bytes.count - start))
        }

        /// The `fields` parameter: the fields as one JSON object (`[StepField].json`), NULL when none.
        @inline(__always) mutating func add(_ parameter: Int32, fields: [StepField]) {
            guard !fields.isEmpty else { spans.append(.init(parameter: parameter, start: -1, count: 0)); return }
            let start = out.bytes.count
            fields.appendJSON(to: &out)
            spans.append(.init(parameter: parameter, start: start, count: out.bytes.count - start))
        }
    }

    func write(_ event: TraceEvent, _ texts: inout RowTexts) {
        guard error == nil else { return }
        do {
            // Within an enclosing transaction the rows go into it; otherwise batches of our own.
            if !inTransaction && !store.db.inTransaction { try store.db.execute("BEGIN IMMEDIATE"); inTransaction = true }
            switch event {
            case .step(let s):
                seq += 1
                let st = insertStep
                st.bind(1, runID); st.bind(2, seq); st.bind(3, s.atNs / 1000); st.bind(4, s.callID); st.bind(8, s.atNs)
                texts.add(5, s.actor); texts.add(6, s.kind.rawValue); texts.add(7, s.detail); texts.add(9, fields: s.fields)
                try st.run(texts: texts.spans, in: texts.out.bytes)
            case .sipMessage(let m):
                seq += 1
                let st = insertMessage
                st.bind(1, runID); st.bind(2, seq); st.bind(3, m.atNs / 1000); st.bind(4, m.callID)
                st.bind(8, m.statusCode); st.bind(11, m.delivered ? 1 : 0)
                // A retransmission repeating the text of the last message of its transaction and
                // direction is stored once: '' here, and raw_of points at the row that has it.
                let key = TextKey(branch: m.branch, method: m.method, status: m.statusCode, src: m.src, dst: m.dst)
                let raw: String
                if m.retransmission, let first = lastText[key], first.raw == m.raw {
                    raw = ""; st.bind(16, first.seq)
                } else {
                    raw = m.raw; st.bind(16, nil as Int64?)
                    if lastText.count >= 100_000 { lastText.removeAll(keepingCapacity: true) }
                    lastText[key] = (seq, m.raw)
                }
                st.bind(13, m.retransmission ? 1 : 0); st.bind(15, m.atNs)
                texts.add(5, m.src); texts.add(6, m.dst); texts.add(7, m.method); texts.add(9, m.branch); texts.add(10, m.sipCallID)
                texts.add(12, raw); texts.add(14, m.transport)
                try st.run(texts: texts.spans, in: texts.out.bytes)
            case .callEnded(let c):
                let st = insertCall
                st.bind(1, runID); st.bind(2, c.callID); st.bind(3, c.caller); st.bind(4, c.dialed)
                st.bind(5, c.placedAtNs / 1000); st.bind(6, c.endedAtNs.map { $0 / 1000 }); st.bind(7, c.outcome.rawValue)
                st.bind(8, c.route?.rawValue); st.bind(9, c.answeredBy); st.bind(10, c.setupDelayNs.map { $0 / 1000 })
                st.bind(11, c.pbx); st.bind(12, c.sipAttempts); st.bind(13, jsonArray(c.sipTargets))
                st.bind(14, c.rerouted ? 1 : 0); st.bind(15, c.finalCode); st.bind(16, c.cardState)
                st.bind(17, c.carrier); st.bind(18, c.trunkGroup); st.bind(19, c.sentDigits)
                st.bind(20, c.pddNs.map { $0 / 1000 }); st.bind(21, c.releasedBy)
                try st.run()
            }
            pending += 1
            if pending >= batchSize { try commit() }
        } catch {
            self.error = error
        }
    }

    func commit() throws {
        if inTransaction {
            try store.db.execute("COMMIT")
            inTransaction = false
        }
        pending = 0
    }

    public func flush() throws {
        if inline {
            if let e = error { try? commit(); throw e }
            try commit()
            return
        }
        submit()
        var failure: Error?
        writer.sync {
            if let e = self.error { try? self.commit(); failure = e; return }
            do { try self.commit() } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// A JSON array of strings (the `sip_targets` column).
public func jsonArray(_ items: [String]) -> String { JSON.array(items) }

/// Why a database cannot be used.
public enum StoreError: Error, CustomStringConvertible {
    /// A file that is not a pbxsim trace database (left untouched).
    case foreign(String)
    case invalid(String)
    public var description: String {
        switch self { case .foreign(let m), .invalid(let m): return m }
    }
}

/// Whether the process that writes a run is still alive: a run left `running` by a process that
/// is gone (SIGKILL, power loss) is `interrupted` to every reader.
public enum RunLiveness {
    /// This process as a run's writer: `host pid`.
    public static var me: String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        return "\(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) \(getpid())"
    }

    /// The status a reader should show: `interrupted` for a `running` run whose writer on this
    /// host no longer exists; otherwise the stored status.
    public static func status(_ stored: String, writer: String?) -> String {
        guard stored == "running", let w = writer else { return stored }
        let parts = w.split(separator: " ")
        guard parts.count == 2, let pid = Int32(parts[1]) else { return stored }
        let here = me.split(separator: " ").first.map(String.init) ?? ""
        guard String(parts[0]) == here else { return stored } // another machine: cannot tell
        if kill(pid, 0) == 0 || errno == EPERM { return stored }
        return "interrupted"
    }

    /// Marks the runs of `db` left `running` by a writer that is gone as `interrupted`; returns
    /// their ids.
    @discardableResult
    public static func markDead(_ db: SQLiteDatabase) throws -> [Int64] {
        var dead: [Int64] = []
        for r in try db.rows("SELECT run_id, status, writer FROM run WHERE status = 'running'") {
            guard let id = r[0].flatMap({ Int64($0) }), status(r[1] ?? "", writer: r[2]) == "interrupted" else { continue }
            dead.append(id)
        }
        for id in dead { try db.execute("UPDATE run SET status = 'interrupted' WHERE run_id = \(id) AND status = 'running'") }
        return dead
    }
}
