import Trace
/// Reads runs back out of the store: for the REPL, `flow`, and export.
public struct TraceReader {
    public let db: SQLiteDatabase
    /// `INDEXED BY` the call indexes when the database has them (`TraceStore.indexHints`).
    let stepHint: String, messageHint: String
    public init(db: SQLiteDatabase) {
        self.db = db
        (stepHint, messageHint) = TraceStore.indexHints(db)
    }

    /// One row of a call's story: a step or a SIP message, in `seq` order.
    public enum Row: Equatable, Sendable {
        case step(seq: Int64, atNs: Int64, actor: String, kind: String, detail: String, fields: StepFields)
        case message(seq: Int64, atNs: Int64, src: String, dst: String, method: String?, status: Int?, branch: String,
                     delivered: Bool, retransmission: Bool, raw: String)
        public var seq: Int64 {
            switch self { case .step(let s, _, _, _, _, _), .message(let s, _, _, _, _, _, _, _, _, _): return s }
        }
        public var atNs: Int64 {
            switch self { case .step(_, let t, _, _, _, _), .message(_, let t, _, _, _, _, _, _, _, _): return t }
        }
    }

    public struct CallRow: Equatable, Sendable {
        public var callID: Int
        public var caller: String
        public var dialed: String
        public var placedAtUs: Int64
        public var endedAtUs: Int64?
        public var outcome: String
        public var route: String?
        public var answeredBy: String?
        public var setupDelayUs: Int64?
        public var pbx: String
        public var sipAttempts: Int
        public var sipTargets: String
        public var rerouted: Bool
        public var finalCode: Int?
        public var cardState: String?
        public var carrier: String?
        public var trunkGroup: Int?
        public var sentDigits: String?
        public var releasedBy: String?
        public var endCause: String?

        public init(callID: Int, caller: String, dialed: String, placedAtUs: Int64, endedAtUs: Int64?, outcome: String,
                    route: String?, answeredBy: String?, setupDelayUs: Int64?, pbx: String, sipAttempts: Int, sipTargets: String,
                    rerouted: Bool, finalCode: Int?, cardState: String?) {
            self.callID = callID; self.caller = caller; self.dialed = dialed; self.placedAtUs = placedAtUs
            self.endedAtUs = endedAtUs; self.outcome = outcome; self.route = route; self.answeredBy = answeredBy
            self.setupDelayUs = setupDelayUs; self.pbx = pbx; self.sipAttempts = sipAttempts; self.sipTargets = sipTargets
            self.rerouted = rerouted; self.finalCode = finalCode; self.cardState = cardState
        }
    }

    /// The events of one call (or of no call when `callID` is nil), in order. `fieldsOf` says
    /// which steps' typed fields to parse (by kind; the others get empty fields): a reader that
    /// looks at the fields of a few kinds (the episodes export) skips parsing the rest, which
    /// was a fifth of its time. `raw`: false leaves the messages' text empty (no text to read,
    /// and no lookup of the row a retransmission repeats). The statements are prepared once per
    /// connection and reused.
    public func rows(runID: Int64, callID: Int?, fieldsOf: ((String) -> Bool)? = nil, raw: Bool = true) throws -> [Row] {
        let cond = callID == nil ? "call_id IS NULL" : "call_id = ?"
        // INDEXED BY: left to itself SQLite walks the (run_id, seq) key to avoid a sort, which
        // reads every row of the run for one call (what it has to do while a bulk write into a
        // new database has not yet built the index: TraceStore.deferCallIndexes).
        let steps = try db.cached("SELECT \(TraceReader.stepColumns) FROM step \(stepHint) WHERE run_id = ? AND \(cond) ORDER BY seq")
        defer { steps.reset() }
        steps.bind(1, runID)
        if let c = callID { steps.bind(2, c) }
        var out: [Row] = []
        while try steps.step() { out.append(TraceReader.stepRow(steps, fieldsOf: fieldsOf)) }
        let msgs = try db.cached("""
            SELECT \(TraceReader.messageColumns(raw: raw)) FROM sip_message m \(messageHint)
            WHERE m.run_id = ? AND m.\(cond) ORDER BY m.seq
            """)
        defer { msgs.reset() }
        msgs.bind(1, runID)
        if let c = callID { msgs.bind(2, c) }
        while try msgs.step() { out.append(TraceReader.messageRow(msgs)) }
        return out.sorted { $0.seq < $1.seq }
    }

    /// The `step` columns `stepRow` reads, in its order (a query may add columns after them).
    public static let stepColumns = "seq, at_ns, actor, kind, detail, fields"
    /// The number of columns in `stepColumns` (where a query's own columns start).
    public static let stepColumnCount = stepColumns.split(separator: ",").count

    /// The step of the current row of a statement that selects `stepColumns` first; its typed
    /// fields are parsed when `fieldsOf` says so for its kind (all of them without `fieldsOf`).
    public static func stepRow(_ s: SQLiteStatement, fieldsOf: ((String) -> Bool)? = nil) -> Row {
        let kind = s.text(3) ?? ""
        let fields = (fieldsOf?(kind) ?? true) ? StepFields.parse(s.text(5)) : StepFields()
        return .step(seq: s.int(0), atNs: s.int(1), actor: s.text(2) ?? "", kind: kind, detail: s.text(4) ?? "", fields: fields)
    }

    /// The `sip_message` columns (alias `m`) `messageRow` reads, in its order; without `raw`
    /// the text is left empty (nothing to read, and no lookup of the row a retransmission
    /// repeats).
    public static func messageColumns(raw: Bool = true) -> String {
        "m.seq, m.at_ns, m.src, m.dst, m.method, m.status_code, m.branch, m.delivered, m.retransmission, " + (raw ? TraceStore.rawSQL : "''")
    }
    /// The number of columns in `messageColumns` (where a query's own columns start).
    public static let messageColumnCount = messageColumns(raw: false).split(separator: ",").count

    /// The SIP message of the current row of a statement that selects `messageColumns` first.
    public static func messageRow(_ s: SQLiteStatement) -> Row {
        .message(seq: s.int(0), atNs: s.int(1), src: s.text(2) ?? "", dst: s.text(3) ?? "", method: s.text(4),
                 status: s.isNull(5) ? nil : Int(s.int(5)), branch: s.text(6) ?? "", delivered: s.int(7) != 0,
                 retransmission: s.int(8) != 0, raw: s.text(9) ?? "")
    }

    public func call(runID: Int64, callID: Int) throws -> CallRow? {
        let s = try db.cached("SELECT \(TraceReader.callColumns) FROM call WHERE run_id = ? AND call_id = ?")
        defer { s.reset() }
        s.bind(1, runID)
        s.bind(2, callID)
        return try s.step() ? TraceReader.callRow(s) : nil
    }

    public func calls(runID: Int64, where extra: String? = nil) throws -> [CallRow] {
        let s = try db.prepare("""
            SELECT \(TraceReader.callColumns)
            FROM call WHERE run_id = ? \(extra.map { "AND " + $0 } ?? "") ORDER BY call_id
            """)
        s.bind(1, runID)
        var out: [CallRow] = []
        while try s.step() { out.append(TraceReader.callRow(s)) }
        return out
    }

    /// The `call` columns `callRow` reads, in its order (a query may add columns after them).
    public static let callColumns = """
        call_id, caller, dialed, placed_at_us, ended_at_us, outcome, route, answered_by, setup_delay_us, pbx, \
        sip_attempts, sip_targets, rerouted, final_code, card_state, carrier, trunk_group, sent_digits, released_by, end_cause
        """
    /// The number of columns in `callColumns` (where a query's own columns start).
    public static let callColumnCount = callColumns.split(separator: ",").count

    /// The call of the current row of a statement that selects `callColumns` first.
    public static func callRow(_ s: SQLiteStatement) -> CallRow {
        var row = CallRow(callID: Int(s.int(0)), caller: s.text(1) ?? "", dialed: s.text(2) ?? "", placedAtUs: s.int(3),
                          endedAtUs: s.isNull(4) ? nil : s.int(4), outcome: s.text(5) ?? "", route: s.text(6),
                          answeredBy: s.text(7), setupDelayUs: s.isNull(8) ? nil : s.int(8), pbx: s.text(9) ?? "",
                          sipAttempts: Int(s.int(10)), sipTargets: s.text(11) ?? "[]", rerouted: s.int(12) != 0,
                          finalCode: s.isNull(13) ? nil : Int(s.int(13)), cardState: s.text(14))
        row.carrier = s.text(15)
        row.trunkGroup = s.isNull(16) ? nil : Int(s.int(16))
        row.sentDigits = s.text(17)
        row.releasedBy = s.text(18)
        row.endCause = s.text(19)
        return row
    }

    /// Hosts of a run: name -> (ip, role).
    public func hosts(runID: Int64) throws -> [(name: String, ip: String, role: String)] {
        try db.rows("SELECT name, ip, role FROM host WHERE run_id = ? ORDER BY name", [.int(runID)]).map { ($0[0] ?? "", $0[1] ?? "", $0[2] ?? "") }
    }

    public func runIDs() throws -> [Int64] {
        try db.rows("SELECT run_id FROM run ORDER BY run_id").compactMap { $0[0].flatMap { Int64($0) } }
    }
}
