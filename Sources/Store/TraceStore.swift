import CSQLite
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// The SQLite trace store: schema, migrations, run rows and the recording sink.
///
/// Schema version is kept in `PRAGMA user_version`; each migration is named and applied once,
/// in order, inside a transaction.
public final class TraceStore {
    public let db: SQLiteDatabase

    /// Named migrations, applied in order. Never edit one that has shipped: append a new one.
    static let migrations: [(name: String, sql: String)] = [
        ("v1-core-tables", """
        CREATE TABLE IF NOT EXISTS run (
            run_id INTEGER PRIMARY KEY,
            scenario TEXT NOT NULL,
            seed INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            status TEXT NOT NULL,
            scenario_file TEXT,
            scenario_hash TEXT,
            pbxsim_version TEXT,
            tool TEXT,
            ended_at_us INTEGER,
            calls INTEGER
        );
        CREATE TABLE IF NOT EXISTS call (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            call_id INTEGER NOT NULL,
            caller TEXT NOT NULL,
            dialed TEXT NOT NULL,
            placed_at_us INTEGER NOT NULL,
            ended_at_us INTEGER,
            outcome TEXT NOT NULL,
            route TEXT,
            answered_by TEXT,
            setup_delay_us INTEGER,
            pbx TEXT NOT NULL,
            sip_attempts INTEGER NOT NULL,
            sip_targets TEXT NOT NULL,
            rerouted INTEGER NOT NULL,
            final_code INTEGER,
            card_state TEXT,
            PRIMARY KEY (run_id, call_id)
        );
        CREATE TABLE IF NOT EXISTS step (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            seq INTEGER NOT NULL,
            at_us INTEGER NOT NULL,
            call_id INTEGER,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            at_ns INTEGER NOT NULL,
            PRIMARY KEY (run_id, seq)
        );
        CREATE TABLE IF NOT EXISTS sip_message (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            seq INTEGER NOT NULL,
            at_us INTEGER NOT NULL,
            call_id INTEGER,
            src TEXT NOT NULL,
            dst TEXT NOT NULL,
            method TEXT,
            status_code INTEGER,
            branch TEXT NOT NULL,
            sip_call_id TEXT NOT NULL,
            delivered INTEGER NOT NULL,
            raw TEXT NOT NULL,
            retransmission INTEGER NOT NULL,
            transport TEXT NOT NULL,
            at_ns INTEGER NOT NULL,
            PRIMARY KEY (run_id, seq)
        );
        CREATE TABLE IF NOT EXISTS expectation (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            idx INTEGER NOT NULL,
            call_id INTEGER,
            field TEXT NOT NULL,
            expected TEXT NOT NULL,
            actual TEXT NOT NULL,
            held INTEGER NOT NULL,
            PRIMARY KEY (run_id, idx)
        );
        CREATE INDEX IF NOT EXISTS step_call ON step(run_id, call_id);
        CREATE INDEX IF NOT EXISTS sip_message_call ON sip_message(run_id, call_id);
        """),
        ("v2-host-table", """
        CREATE TABLE IF NOT EXISTS host (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            name TEXT NOT NULL,
            ip TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        """),
        ("v3-provenance", """
        ALTER TABLE run ADD COLUMN sweep_file TEXT;
        ALTER TABLE run ADD COLUMN sweep_hash TEXT;
        ALTER TABLE run ADD COLUMN run_index INTEGER;
        CREATE TABLE IF NOT EXISTS run_param (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        CREATE TABLE IF NOT EXISTS pbx_config (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            pbx TEXT NOT NULL,
            config TEXT NOT NULL,
            PRIMARY KEY (run_id, pbx)
        );
        """),
        ("v4-summary", """
        CREATE TABLE IF NOT EXISTS summary (
            run_id INTEGER NOT NULL REFERENCES run(run_id),
            pbx TEXT NOT NULL,
            field TEXT NOT NULL,
            value REAL,
            PRIMARY KEY (run_id, pbx, field)
        );
        """),
        ("v5-call-public-route", """
        ALTER TABLE call ADD COLUMN carrier TEXT;
        ALTER TABLE call ADD COLUMN trunk_group INTEGER;
        ALTER TABLE call ADD COLUMN sent_digits TEXT;
        """),
        ("v6-fields-pdd-writer-fingerprint", """
        ALTER TABLE step ADD COLUMN fields TEXT;
        ALTER TABLE call ADD COLUMN pdd_us INTEGER;
        ALTER TABLE run ADD COLUMN writer TEXT;
        ALTER TABLE run ADD COLUMN fingerprint TEXT;
        """),
        ("v7-call-released-by", """
        ALTER TABLE call ADD COLUMN released_by TEXT;
        """),
        // A retransmission whose text repeats an earlier row stores '' and points at that row.
        ("v8-sip-raw-of", """
        ALTER TABLE sip_message ADD COLUMN raw_of INTEGER;
        """),
        ("v9-call-end-cause", """
        ALTER TABLE call ADD COLUMN end_cause TEXT;
        """),
    ]

    /// The SQL expression of a `sip_message` row's full text (alias `m`): its own `raw`, or the
    /// text of the row it repeats (`raw_of`).
    public static let rawSQL = "CASE WHEN m.raw_of IS NULL THEN m.raw ELSE (SELECT o.raw FROM sip_message o WHERE o.run_id = m.run_id AND o.seq = m.raw_of) END"

    public static var schemaVersion: Int { migrations.count }

    /// `PRAGMA application_id` of a pbxsim trace database: "PBXS".
    public static let applicationID: Int64 = 0x5042_5853
    /// How long a writer waits for another process's transaction (several runs into one file).
    public static let busyTimeoutMs = 60_000
    /// The tables pbxsim creates (a file holding any other is not ours).
    static let ourTables: Set<String> = ["run", "call", "step", "sip_message", "expectation", "host", "run_param", "pbx_config", "summary"]

    public init(path: String) throws {
        guard !path.isEmpty else { throw StoreError.invalid("an empty database file name; give --db FILE") }
        db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA busy_timeout = \(TraceStore.busyTimeoutMs)")
        // Refuse a file that is not ours before anything is written to it.
        try TraceStore.retryingBusy { try TraceStore.checkOwnership(db) }
        // Changing the journal mode can report "locked" while another process creates the file,
        // without waiting: retry it within the busy timeout.
        try TraceStore.retryingBusy { try db.execute("PRAGMA journal_mode=WAL") }
        try db.execute("PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192; PRAGMA foreign_keys=ON;")
        try TraceStore.retryingBusy { try migrate() }
        try TraceStore.retryingBusy { try ensureCallIndexes() }
    }

    // MARK: The call indexes, built after a bulk write

    /// The indexes that find one call's rows: `(run_id, call_id)` on `step` and `sip_message`.
    /// Readers of one call use them (`INDEXED BY`); a bulk write into a database with no trace rows
    /// yet builds them once at its end instead of updating them with every row
    /// (docs/performance.md: 10-20 % of a full-trace run's time).
    public static let callIndexes: [(name: String, on: String)] = [
        ("step_call", "step(run_id, call_id)"), ("sip_message_call", "sip_message(run_id, call_id)"),
    ]

    /// Whether this connection dropped the call indexes for a bulk write (`deferCallIndexes`) and
    /// has not built them yet.
    public private(set) var callIndexesDeferred = false

    /// The call indexes `db` lacks (none, normally; both while a bulk write into a new database is
    /// under way, or after one was killed before its end).
    public static func missingCallIndexes(_ db: SQLiteDatabase) throws -> [String] {
        let present = Set(try db.rows("SELECT name FROM sqlite_master WHERE type = 'index'").compactMap { $0[0] })
        return callIndexes.map(\.name).filter { !present.contains($0) }
    }

    /// `INDEXED BY` each call index that `db` has, else nothing (a reader then finds a call's
    /// rows by the run's key: the same rows, more slowly).
    public static func indexHints(_ db: SQLiteDatabase) -> (step: String, message: String) {
        let missing = (try? missingCallIndexes(db)) ?? []
        func hint(_ name: String) -> String { missing.contains(name) ? "" : "INDEXED BY \(name)" }
        return (hint("step_call"), hint("sip_message_call"))
    }

    /// Whether a run of this database is being written by a live process (`RunLiveness`).
    func liveWriterPresent() throws -> Bool {
        try db.rows("SELECT status, writer FROM run WHERE status = 'running'").contains { RunLiveness.status($0[0] ?? "", writer: $0[1]) == "running" }
    }

    /// Builds call indexes a bulk write left unbuilt (killed before its end), unless a live
    /// process is still writing a run here: that one builds them when it ends.
    func ensureCallIndexes() throws {
        guard !(try TraceStore.missingCallIndexes(db).isEmpty), !(try liveWriterPresent()) else { return }
        try buildCallIndexes()
    }

    /// Before a bulk write (`run`, `generate`): when the database holds no trace rows yet, drops
    /// the call indexes so that they are built once, sorted, by `buildCallIndexes` at the end.
    /// A database that already holds rows keeps them (rebuilding would cost every row already
    /// there). Returns whether they were deferred.
    @discardableResult
    public func deferCallIndexes() throws -> Bool {
        let deferred: Bool = try transaction {
            guard try db.scalarInt("SELECT EXISTS (SELECT 1 FROM step) OR EXISTS (SELECT 1 FROM sip_message)") == 0 else { return false }
            for i in TraceStore.callIndexes { try db.execute("DROP INDEX IF EXISTS \(i.name)") }
            return true
        }
        if deferred { callIndexesDeferred = true }
        return deferred
    }

    /// For a reader about to open `path` read-only: builds the call indexes that a bulk write
    /// killed before its end left unbuilt, when the file can be written and no live process is
    /// writing a run in it. Returns the names it built (none when nothing was missing, or when
    /// they cannot be built now: the reader then does without them, more slowly).
    public static func repairCallIndexes(path: String) -> [String] {
        guard let reader = try? SQLiteDatabase(path: path, readOnly: true),
              let missing = try? missingCallIndexes(reader), !missing.isEmpty else { return [] }
        guard let store = try? TraceStore(path: path), let still = try? missingCallIndexes(store.db) else { return [] }
        return missing.filter { !still.contains($0) }
    }

    /// Creates the call indexes that are missing (one sorted pass over each table).
    public func buildCallIndexes() throws {
        try transaction {
            for i in TraceStore.callIndexes { try db.execute("CREATE INDEX IF NOT EXISTS \(i.name) ON \(i.on)") }
        }
        callIndexesDeferred = false
    }

    /// Runs `body`, retrying while SQLite says busy or locked (another process holds the file),
    /// for up to the busy timeout.
    static func retryingBusy(_ body: () throws -> Void) throws {
        var waited = 0
        while true {
            do { try body(); return } catch let e as SQLiteError where [5, 6].contains(e.code & 0xff) && waited < busyTimeoutMs {
                usleep(10_000)
                waited += 10
            }
        }
    }

    /// A database is ours when it carries our application_id, or is empty (new), or is a pbxsim
    /// database from before the application_id (our tables only, a known schema version).
    static func checkOwnership(_ db: SQLiteDatabase) throws {
        let app = try db.scalarInt("PRAGMA application_id") ?? 0
        if app == applicationID { return }
        let tables = try db.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").compactMap { $0[0] }
        let version = try db.scalarInt("PRAGMA user_version") ?? 0
        if app == 0 && tables.isEmpty { return }
        let runColumns = try db.rows("SELECT name FROM pragma_table_info('run')").compactMap { $0[0] }
        if app == 0, version >= 1, version <= Int64(migrations.count), Set(tables).isSubset(of: ourTables),
           runColumns.contains("scenario"), runColumns.contains("seed") {
            return
        }
        throw StoreError.foreign("\(db.path) is not a pbxsim trace database (application_id \(app), tables: \(tables.prefix(8).joined(separator: ", ")))"
                                 + "; it was left untouched: give another --db file")
    }

    /// Creates or migrates the schema in one `BEGIN IMMEDIATE` transaction that reads the schema
    /// version inside it, so that any number of processes opening one file at once agree.
    func migrate() throws {
        if try db.scalarInt("PRAGMA user_version") == Int64(TraceStore.migrations.count),
           try db.scalarInt("PRAGMA application_id") == TraceStore.applicationID { return }
        try transaction {
            let current = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
            if current > TraceStore.migrations.count {
                throw StoreError.invalid("\(db.path): schema version \(current) is newer than this pbxsim (\(TraceStore.migrations.count)); use a newer pbxsim")
            }
            for (i, m) in TraceStore.migrations.enumerated() where i >= current { try db.execute(m.sql) }
            try db.execute("PRAGMA user_version = \(TraceStore.migrations.count)")
            try db.execute("PRAGMA application_id = \(TraceStore.applicationID)")
        }
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`, waiting for other writers up to
    /// the busy timeout); rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        // Inside an enclosing transaction (`generate` writes a chunk of runs in one): a savepoint.
        // Prepared once per connection (`generate` opens and releases several savepoints per run:
        // parsing them each time was a tenth of its writer's instructions).
        let nested = db.inTransaction
        try db.cached(nested ? "SAVEPOINT pbxsim_nested" : "BEGIN IMMEDIATE").run()
        do {
            let r = try body()
            try db.cached(nested ? "RELEASE pbxsim_nested" : "COMMIT").run()
            return r
        } catch {
            try? db.execute(nested ? "ROLLBACK TO pbxsim_nested; RELEASE pbxsim_nested" : "ROLLBACK")
            throw error
        }
    }

    public struct RunInfo {
        public var scenario: String
        public var seed: UInt64
        public var startedAt: String
        public var scenarioFile: String?
        public var scenarioHash: String?
        public var version: String
        public var tool: String
        public var sweepFile: String?
        public var sweepHash: String?
        public var runIndex: Int?
        public init(scenario: String, seed: UInt64, startedAt: String, scenarioFile: String?, scenarioHash: String?, version: String, tool: String,
                    sweepFile: String? = nil, sweepHash: String? = nil, runIndex: Int? = nil) {
            self.scenario = scenario; self.seed = seed; self.startedAt = startedAt; self.scenarioFile = scenarioFile
            self.scenarioHash = scenarioHash; self.version = version; self.tool = tool
            self.sweepFile = sweepFile; self.sweepHash = sweepHash; self.runIndex = runIndex
        }
    }

    /// Appends a `run` row (status `running`) and returns its id. `runID` forces the id (dataset
    /// generation uses run index + 1, so shards merge into the same ids as one big run).
    public func beginRun(_ info: RunInfo, runID: Int64? = nil) throws -> Int64 {
        let s = try db.cached("""
            INSERT INTO run (run_id, scenario, seed, started_at, status, scenario_file, scenario_hash, pbxsim_version, tool,
                             sweep_file, sweep_hash, run_index, writer)
            VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        s.bind(1, runID)
        s.bind(2, info.scenario)
        s.bind(3, Int64(bitPattern: info.seed))
        s.bind(4, info.startedAt)
        s.bind(5, info.scenarioFile)
        s.bind(6, info.scenarioHash)
        s.bind(7, info.version)
        s.bind(8, info.tool)
        s.bind(9, info.sweepFile)
        s.bind(10, info.sweepHash)
        s.bind(11, info.runIndex)
        s.bind(12, RunLiveness.me)
        try s.run()
        return db.lastInsertRowID
    }

    /// Writes `rows` with `sql`, an upsert (`INSERT ... ON CONFLICT ... DO UPDATE`: a run may be
    /// recorded again, as the REPL's summary is at each `report`), binding each row with `bind`.
    /// Of rows with the same `key` only the last is written, at the place of the last: the rows an
    /// `INSERT OR REPLACE` of each in turn left, as it did before. Not `OR REPLACE` itself: for that
    /// SQLite keeps a statement journal for every row (the replace may delete), which past its
    /// 64 KB in memory is a temporary file written a page at a time: 354 MB of writes for the 64 MB
    /// of a 2,000-run `generate` (issue 11).
    func upsert<Row, Key: Hashable>(_ sql: String, _ rows: [Row], key: (Row) -> Key, bind: (SQLiteStatement, Row) -> Void) throws {
        var last: [Key: Int] = [:]
        for (i, r) in rows.enumerated() { last[key(r)] = i }
        let s = try db.cached(sql)
        for (i, r) in rows.enumerated() where last[key(r)] == i {
            bind(s, r)
            try s.run()
        }
    }

    /// Records per-run parameters (sweep draws) and per-PBX configuration (JSON). A name given
    /// twice keeps its last value.
    public func recordProvenance(_ runID: Int64, params: [(String, String)], pbxConfigs: [(String, String)]) throws {
        try transaction {
            try upsert("INSERT INTO run_param (run_id, name, value) VALUES (?,?,?) ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value",
                       params, key: \.0) { s, r in s.bind(1, runID); s.bind(2, r.0); s.bind(3, r.1) }
            try upsert("INSERT INTO pbx_config (run_id, pbx, config) VALUES (?,?,?) ON CONFLICT (run_id, pbx) DO UPDATE SET config = excluded.config",
                       pbxConfigs, key: \.0) { s, r in s.bind(1, runID); s.bind(2, r.0); s.bind(3, r.1) }
        }
    }

    /// Stores the run's trace fingerprint (`TraceFingerprint`).
    public func recordFingerprint(_ runID: Int64, _ fingerprint: String) throws {
        let s = try db.cached("UPDATE run SET fingerprint = ? WHERE run_id = ?")
        s.bind(1, fingerprint)
        s.bind(2, runID)
        try s.run()
    }

    public func finishRun(_ runID: Int64, status: String, endedAtUs: Int64, calls: Int) throws {
        // The writer is only needed while the run is written: clearing it keeps finished
        // databases identical from one generation to the next.
        let s = try db.cached("UPDATE run SET status = ?, ended_at_us = ?, calls = ?, writer = NULL WHERE run_id = ?")
        s.bind(1, status)
        s.bind(2, endedAtUs)
        s.bind(3, calls)
        s.bind(4, runID)
        try s.run()
    }

    public func recordExpectations(_ runID: Int64, _ rows: [(call: Int?, field: String, expected: String, actual: String, held: Bool)]) throws {
        try transaction {
            let s = try db.cached("INSERT INTO expectation (run_id, idx, call_id, field, expected, actual, held) VALUES (?,?,?,?,?,?,?)")
            for (i, r) in rows.enumerated() {
                s.bind(1, runID); s.bind(2, i + 1); s.bind(3, r.call); s.bind(4, r.field); s.bind(5, r.expected)
                s.bind(6, r.actual); s.bind(7, r.held ? 1 : 0)
                try s.run()
            }
        }
    }

    /// Records the run's hosts: name, address and role (`pbx PBX-1`, `sip-server itsp.example`,
    /// `dns`, `host`), so that readers can name the parties of a call.
    public func recordHosts(_ runID: Int64, _ hosts: [(name: String, ip: String, role: String)]) throws {
        try transaction {
            try upsert("INSERT INTO host (run_id, name, ip, role) VALUES (?,?,?,?) ON CONFLICT (run_id, name) DO UPDATE SET ip = excluded.ip, role = excluded.role",
                       hosts, key: \.name) { s, h in s.bind(1, runID); s.bind(2, h.name); s.bind(3, h.ip); s.bind(4, h.role) }
        }
    }

    struct PBXField: Hashable { let pbx: String, field: String }

    /// Stores the run summary: one row per PBX (and `(all)`) and field.
    public func recordSummary(_ runID: Int64, _ rows: [(pbx: String, field: String, value: Double?)]) throws {
        try transaction {
            try upsert("INSERT INTO summary (run_id, pbx, field, value) VALUES (?,?,?,?) ON CONFLICT (run_id, pbx, field) DO UPDATE SET value = excluded.value",
                       rows, key: { PBXField(pbx: $0.pbx, field: $0.field) }) { s, r in
                s.bind(1, runID); s.bind(2, r.pbx); s.bind(3, r.field)
                if let v = r.value { sqlite3_bind_double_shim(s, 4, v) } else { s.bind(4, nil as Int64?) }
            }
        }
    }

    /// Caps the database file at about `bytes` (SQLite `max_page_count`); 0 lifts the cap. A write
    /// beyond it fails as a full disk does (`SQLITE_FULL`), and earlier runs stay intact.
    public func setSizeLimit(bytes: Int64) throws {
        let page = try db.scalarInt("PRAGMA page_size") ?? 4096
        let pages = bytes <= 0 ? 4_294_967_294 : max(1, bytes / page)
        try db.execute("PRAGMA max_page_count = \(pages)")
    }

    /// Whether an error is SQLite's "database or disk is full", and if so whether it was the size
    /// cap (rather than the disk) that was reached.
    public func fullness(of error: Error) -> (full: Bool, capReached: Bool) {
        guard let e = error as? SQLiteError, e.code & 0xff == 13 else { return (false, false) }
        // The disk itself is full when almost nothing is left on it; otherwise the cap was reached.
        var fs = statvfs()
        let dir = db.path.contains("/") ? String(db.path[..<db.path.lastIndex(of: "/")!]) : "."
        guard statvfs(dir.isEmpty ? "/" : dir, &fs) == 0 else { return (true, false) }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        return (true, free > 64 << 20)
    }

    /// Deletes a run and every row that belongs to it, in one transaction.
    public func deleteRun(_ runID: Int64) throws {
        try transaction {
            for t in ["call", "step", "sip_message", "expectation", "host", "run_param", "pbx_config", "summary", "run"] {
                try db.execute("DELETE FROM \(t) WHERE run_id = \(runID)")
            }
        }
    }

    /// A sink for a run's trace. `inline`: rows are written on the caller's thread as they are
    /// recorded (for a caller that is itself a writer thread, as `generate`'s is; the default hands
    /// them to a writer thread of the sink's own, so that a simulation and SQLite use two cores).
    public func makeSink(runID: Int64, batchSize: Int = 20_000, inline: Bool = false) throws -> SQLiteTraceSink {
        try SQLiteTraceSink(store: self, runID: runID, batchSize: batchSize, inline: inline)
    }
}
