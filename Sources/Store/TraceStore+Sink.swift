import Dispatch
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// Records trace events into the store: prepared statements, one open transaction committed every
/// `batchSize` rows and on `flush()`. `seq` is one counter per run shared by `step` and
/// `sip_message`, so the interleaving of the two tables is recoverable.
///
/// Writing happens on a background queue: `record` encodes the event into a chunk (its rows'
/// integers and texts, ready to bind); full chunks go to the writer through a bounded hand-off
/// (at most four waiting), so the simulation and SQLite use both cores and memory stays bounded.
/// After `flush()` returns, everything is committed and the connection is idle, so the caller
/// may use it again.
/// `@unchecked Sendable`: the encoder is only touched on the recording thread, the statements
/// and counters only on `writer` (or on the recording thread for an inline sink).
public final class SQLiteTraceSink: TraceSink, @unchecked Sendable {
    let writer = DispatchQueue(label: "pbxsim.sqlite-writer")
    let slots = DispatchSemaphore(value: 4)
    static let chunkSize = 2048
    /// The rows being encoded, with the run's `seq` counter and the texts of retransmissions
    /// (touched on the recording thread only).
    var encoder = Encoder()
    let store: TraceStore
    public let runID: Int64
    let batchSize: Int
    let insertStep: SQLiteStatement
    let insertMessage: SQLiteStatement
    let insertCall: SQLiteStatement
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
        // An inline sink holds one row at a time: no chunk-sized buffers (generate makes a sink
        // per run).
        if inline { encoder = Encoder(empty: ()) }
        // An inline sink (`generate`'s, one run after another on the writer's thread) reuses the
        // connection's prepared inserts: preparing three per run was 7 % of that writer's work.
        // A sink with its own writer queue prepares its own.
        let prepare: (String) throws -> SQLiteStatement = inline ? store.db.cached : store.db.prepare
        insertStep = try prepare("INSERT INTO step (run_id, seq, at_us, call_id, actor, kind, detail, at_ns, fields) VALUES (?,?,?,?,?,?,?,?,?)")
        insertMessage = try prepare("""
            INSERT INTO sip_message (run_id, seq, at_us, call_id, src, dst, method, status_code, branch, sip_call_id,
                                     delivered, raw, retransmission, transport, at_ns, raw_of)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """)
        insertCall = try prepare("""
            INSERT INTO call (run_id, call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by,
                              setup_delay_us, pbx, sip_attempts, sip_targets, rerouted, final_code, card_state,
                              carrier, trunk_group, sent_digits, pdd_us, released_by, end_cause)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """)
    }

    /// Encodes the event into the open chunk (on the recording thread); a full chunk goes to the
    /// writer. An inline sink writes each row at once.
    /// The encoder works as a local: a stored property's arrays mutated per text would each cost a
    /// dynamic exclusivity check.
    public func record(_ event: TraceEvent) {
        var e = Encoder(empty: ())
        swap(&e, &encoder)
        e.encode(event)
        if inline {
            insert(e.chunk)
            e.chunk.removeAll()
        } else if e.chunk.rows.count >= SQLiteTraceSink.chunkSize {
            submit(&e.chunk)
        }
        swap(&e, &encoder)
    }

    /// Hands the current chunk to the writer (waiting while too many are in flight).
    func submit(_ chunk: inout Chunk) {
        guard !chunk.rows.isEmpty else { return }
        let full = chunk
        chunk = Chunk()
        slots.wait()
        writer.async {
            self.insert(full)
            self.slots.signal()
        }
    }

    /// Encodes events into chunks: `seq`, one counter per run shared by `step` and `sip_message`,
    /// and per transaction and direction the last text stored (a retransmission repeating it is
    /// stored once).
    struct Encoder {
        var chunk: Chunk
        var seq: Int64 = 0
        /// Per transaction and direction, the last row whose text was stored.
        var lastText: [TextKey: (seq: Int64, raw: String)] = [:]
        struct TextKey: Hashable { var branch: String; var method: String?; var status: Int?; var src: String; var dst: String }
        init() { chunk = Chunk() }
        /// Nothing reserved: a placeholder to swap with, or an inline sink's (one row at a time).
        init(empty: ()) { chunk = Chunk(empty: ()) }

        mutating func encode(_ event: TraceEvent) { chunk.encode(event, seq: &seq, lastText: &lastText) }
    }

    /// Rows ready to bind, encoded on the recording thread so that the writer only binds and
    /// steps: each row's integers, its texts laid out one after another in one byte buffer (a
    /// step's typed fields written straight in as JSON), and where each text is. The events
    /// themselves are not kept: their strings are freed where they were made, and the writer
    /// neither copies nor releases them. A value: the recorder fills it, then hands it to the
    /// writer's block. (The fields' JSON written here rather than by the writer: callgrind, the two
    /// threads' instructions 1,704 M and 1,545 M on 2,000 failover calls at `--trace full`,
    /// against 1,526 M and 1,769 M the other way round.)
    struct Chunk: Sendable {
        enum Table: UInt8 { case step, message, call }
        struct Row {
            var table: Table
            var seq: Int64
            var atNs: Int64
            var callID: Int?
            var statusCode: Int?
            var delivered: Bool
            var retransmission: Bool
            var rawOf: Int64?
            /// Its texts: `spans[firstSpan..<firstSpan + spanCount]` (none for a call row, whose
            /// record is the next of `calls`).
            var firstSpan: Int
            var spanCount: Int
        }
        var rows: [Row] = []
        var spans: [SQLiteStatement.TextSpan] = []
        var bytes = JSONBytes(capacity: 0)
        var calls: [CallRecord] = []

        init(empty: ()) {}
        init() {
            rows.reserveCapacity(SQLiteTraceSink.chunkSize)
            spans.reserveCapacity(SQLiteTraceSink.chunkSize * 5)
            bytes.bytes.reserveCapacity(SQLiteTraceSink.chunkSize * 256)
        }

        mutating func removeAll() {
            rows.removeAll(keepingCapacity: true); spans.removeAll(keepingCapacity: true)
            bytes.bytes.removeAll(keepingCapacity: true); calls.removeAll(keepingCapacity: true)
        }

        /// A text parameter: the bytes `write` appends, or NULL when there is nothing to write.
        @inline(__always) mutating func add(_ parameter: Int32, null: Bool, _ write: (inout JSONBytes) -> Void) {
            guard !null else { spans.append(.init(parameter: parameter, start: -1, count: 0)); return }
            let start = bytes.bytes.count
            write(&bytes)
            spans.append(.init(parameter: parameter, start: start, count: bytes.bytes.count - start))
        }

        /// The `fields` parameter: the fields as one JSON object (`[StepField].json`), NULL when none.
        @inline(__always) mutating func add(_ parameter: Int32, fields: [StepField]) {
            add(parameter, null: fields.isEmpty) { fields.appendJSON(to: &$0) }
        }

        /// A text parameter (NULL when nil).
        @inline(__always) mutating func add(_ parameter: Int32, _ text: String?) {
            add(parameter, null: text == nil) { out in
                var t = text!
                t.withUTF8 { out.bytes.append(contentsOf: $0) }
            }
        }

        mutating func encode(_ event: TraceEvent, seq: inout Int64, lastText: inout [Encoder.TextKey: (seq: Int64, raw: String)]) {
            let first = spans.count
            switch event {
            case .step(let s):
                seq += 1
                add(5, s.actor); add(6, s.kind.rawValue); add(7, s.detail); add(9, fields: s.fields)
                rows.append(Row(table: .step, seq: seq, atNs: s.atNs, callID: s.callID, statusCode: nil, delivered: false,
                                retransmission: false, rawOf: nil, firstSpan: first, spanCount: spans.count - first))
            case .sipMessage(let m):
                seq += 1
                // A retransmission repeating the text of the last message of its transaction and
                // direction is stored once: '' here, and raw_of points at the row that has it.
                let key = Encoder.TextKey(branch: m.branch, method: m.method, status: m.statusCode, src: m.src, dst: m.dst)
                var rawOf: Int64?
                if m.retransmission, let earlier = lastText[key], earlier.raw == m.raw {
                    rawOf = earlier.seq
                } else {
                    if lastText.count >= 100_000 { lastText.removeAll(keepingCapacity: true) }
                    lastText[key] = (seq, m.raw)
                }
                add(5, m.src); add(6, m.dst); add(7, m.method); add(9, m.branch); add(10, m.sipCallID)
                add(12, rawOf == nil ? m.raw : ""); add(14, m.transport)
                rows.append(Row(table: .message, seq: seq, atNs: m.atNs, callID: m.callID, statusCode: m.statusCode, delivered: m.delivered,
                                retransmission: m.retransmission, rawOf: rawOf, firstSpan: first, spanCount: spans.count - first))
            case .callEnded(let c):
                rows.append(Row(table: .call, seq: 0, atNs: 0, callID: c.callID, statusCode: nil, delivered: false,
                                retransmission: false, rawOf: nil, firstSpan: first, spanCount: 0))
                calls.append(c)
            }
        }
    }

    /// Binds and inserts a chunk's rows (on the writer queue, or the caller's thread when inline).
    func insert(_ chunk: Chunk) {
        var nextCall = 0
        chunk.bytes.bytes.withUnsafeBufferPointer { buf in
            for row in chunk.rows {
                guard error == nil else { return }
                do {
                    // Within an enclosing transaction the rows go into it; otherwise batches of our own.
                    if !inTransaction && !store.db.inTransaction { try store.db.execute("BEGIN IMMEDIATE"); inTransaction = true }
                    let texts = chunk.spans[row.firstSpan..<row.firstSpan + row.spanCount]
                    switch row.table {
                    case .step:
                        let st = insertStep
                        st.bind(1, runID); st.bind(2, row.seq); st.bind(3, row.atNs / 1000); st.bind(4, row.callID); st.bind(8, row.atNs)
                        try st.run(texts: texts, in: buf)
                    case .message:
                        let st = insertMessage
                        st.bind(1, runID); st.bind(2, row.seq); st.bind(3, row.atNs / 1000); st.bind(4, row.callID)
                        st.bind(8, row.statusCode); st.bind(11, row.delivered ? 1 : 0); st.bind(13, row.retransmission ? 1 : 0)
                        st.bind(15, row.atNs); st.bind(16, row.rawOf)
                        try st.run(texts: texts, in: buf)
                    case .call:
                        let c = chunk.calls[nextCall]
                        nextCall += 1
                        let st = insertCall
                        st.bind(1, runID); st.bind(2, c.callID); st.bind(3, c.caller); st.bind(4, c.dialed)
                        st.bind(5, c.placedAtNs / 1000); st.bind(6, c.endedAtNs.map { $0 / 1000 }); st.bind(7, c.outcome.rawValue)
                        st.bind(8, c.route?.rawValue); st.bind(9, c.answeredBy); st.bind(10, c.setupDelayNs.map { $0 / 1000 })
                        st.bind(11, c.pbx); st.bind(12, c.sipAttempts); st.bind(13, jsonArray(c.sipTargets))
                        st.bind(14, c.rerouted ? 1 : 0); st.bind(15, c.finalCode); st.bind(16, c.cardState)
                        st.bind(17, c.carrier); st.bind(18, c.trunkGroup); st.bind(19, c.sentDigits)
                        st.bind(20, c.pddNs.map { $0 / 1000 }); st.bind(21, c.releasedBy); st.bind(22, c.endCause)
                        try st.run()
                    }
                    pending += 1
                    if pending >= batchSize { try commit() }
                } catch {
                    self.error = error
                }
            }
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
        submit(&encoder.chunk)
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
