import Store
import Trace

/// Streams runs out of the trace store in training-friendly formats. Every reader is a cursor over
/// an index, so memory stays constant whatever the size of the database (one call's rows at most,
/// for `episodes`).
public struct Exporter {
    public let db: SQLiteDatabase
    public let runs: [Int64]
    /// Adds a `split` field (`train`/`validation`/`test`) by a stable hash of the run.
    public var split: Bool
    /// Percentages of train and validation (test takes the rest).
    public var splitRatios: (train: Int, validation: Int) = (80, 10)
    /// Asked between rows; when true the export stops with `ExportError.interrupted` (a signal).
    public var shouldStop: () -> Bool = { false }

    public init(db: SQLiteDatabase, runs: [Int64]?, split: Bool) throws {
        self.db = db
        let all = try TraceReader(db: db).runIDs()
        if let r = runs {
            for id in r where !all.contains(id) { throw ExportError.noSuchRun(id) }
            self.runs = r
        } else {
            self.runs = all
        }
        self.split = split
    }

    // MARK: - Splits

    /// The split of a run: FNV-1a 64 of "pbxsim-split:<scenario_hash>:<seed>:<run_index or run_id>"
    /// modulo 100, against the ratios. Every call of a run lands in the same split, and identical
    /// runs (same scenario bytes, seed and index) always land together.
    public func splitName(run: Int64) throws -> String {
        let r = try db.rows("SELECT coalesce(scenario_hash, scenario), seed, coalesce(run_index, run_id) FROM run WHERE run_id = ?", [.int(run)])
        guard let row = r.first else { throw ExportError.noSuchRun(run) }
        let key = "pbxsim-split:\(row[0] ?? ""):\(row[1] ?? ""):\(row[2] ?? "")"
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 }
        let bucket = Int(h % 100)
        return bucket < splitRatios.train ? "train" : bucket < splitRatios.train + splitRatios.validation ? "validation" : "test"
    }

    static func ms(_ us: Int64) -> Double { Double(us) / 1000 }

    // MARK: - JSONL: one object per step or SIP message

    public func jsonl(to out: OutputFile) throws {
        for run in runs {
            let splitValue = split ? try splitName(run: run) : nil
            try mergedRowsWithCall(run: run) { row, call in
                out.write(Exporter.json(row, run: run, split: splitValue, callID: call))
                out.write("\n")
            }
        }
    }

    static func json(_ row: TraceReader.Row, run: Int64, split: String?, callID: Int? = nil, includeRaw: Bool = true, callKnown: Bool = false) -> String {
        var o = JSONObject()
        o.add("run_id", run)
        o.add("seq", row.seq)
        switch row {
        case .step(_, let t, let actor, let kind, let detail, let fields):
            o.add("type", "step")
            o.add("at_us", t / 1000)
            o.add("at_ms", Double(t / 1000) / 1000)
            o.add("call_id", callID)
            o.add("actor", actor)
            o.add("kind", kind)
            o.add("detail", detail)
            o.addRaw("fields", fields.json)
        case .message(_, let t, let src, let dst, let method, let status, let branch, let delivered, let re, let raw):
            o.add("type", "sip")
            o.add("at_us", t / 1000)
            o.add("at_ms", Double(t / 1000) / 1000)
            o.add("call_id", callID)
            o.add("src", src)
            o.add("dst", dst)
            o.add("method", method)
            o.add("status_code", status)
            o.add("branch", branch)
            o.add("delivered", delivered)
            o.add("retransmission", re)
            if includeRaw { o.add("raw", raw) }
        }
        if let split { o.add("split", split) }
        return o.text
    }

    /// Streams a run's steps and SIP messages merged by `seq` (two cursors along the run's
    /// `(run_id, seq)` keys, constant memory); the handler gets each row with its call id.
    /// `fieldsOf`: which steps' typed fields to parse, by kind (`TraceReader.stepRow`); a reader
    /// that writes no fields skips parsing them.
    func mergedRowsWithCall(run: Int64, fieldsOf: ((String) -> Bool)? = nil, _ body: (TraceReader.Row, Int?) -> Void) throws {
        let steps = try db.prepare("SELECT \(TraceReader.stepColumns), call_id FROM step WHERE run_id = ? ORDER BY seq")
        steps.bind(1, run)
        let msgs = try db.prepare("""
            SELECT \(TraceReader.messageColumns()), m.call_id
            FROM sip_message m WHERE m.run_id = ? ORDER BY m.seq
            """)
        msgs.bind(1, run)
        let stepCall = TraceReader.stepColumnCount, messageCall = TraceReader.messageColumnCount
        var haveStep = try steps.step(), haveMsg = try msgs.step()
        while haveStep || haveMsg {
            if shouldStop() { throw ExportError.interrupted }
            if haveStep && (!haveMsg || steps.int(0) < msgs.int(0)) {
                body(TraceReader.stepRow(steps, fieldsOf: fieldsOf), steps.isNull(stepCall) ? nil : Int(steps.int(stepCall)))
                haveStep = try steps.step()
            } else {
                body(TraceReader.messageRow(msgs), msgs.isNull(messageCall) ? nil : Int(msgs.int(messageCall)))
                haveMsg = try msgs.step()
            }
        }
    }
}
