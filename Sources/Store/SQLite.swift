import CSQLite

/// An error from SQLite, with the statement or operation that failed.
public struct SQLiteError: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var context: String
    public var description: String { "SQLite error \(code) (\(context)): \(message)" }
}

/// A thin wrapper over the sqlite3 C API: the trace store's hot path binds prepared statements
/// directly (see docs/architecture.md for why not GRDB).
public final class SQLiteDatabase {
    public let path: String
    let handle: OpaquePointer
    let readOnly: Bool

    public init(path: String, readOnly: Bool = false) throws {
        var db: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: msg, context: "open \(path)")
        }
        self.path = path
        self.handle = db
        self.readOnly = readOnly
        sqlite3_busy_timeout(db, 5000)
    }

    deinit {
        // Fold the write-ahead log into the file before closing, without waiting for anyone: the
        // last connection to close does it anyway, but another process may still hold the file
        // open (a reader), and the file alone should hold every row committed here when the
        // command ends (docs/reliability.md). Nothing to do for a reader, or without a log.
        if !readOnly && sqlite3_get_autocommit(handle) != 0 {
            sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        }
        sqlite3_close_v2(handle)
        workCounter?.deallocate()
    }

    /// Where `countWork` counts, while it does.
    private var workCounter: UnsafeMutablePointer<Int64>?

    /// Starts counting the work this connection's statements do: SQLite's virtual-machine
    /// instructions, in thousands (`work`). The count depends on the data and the query plans
    /// only, not on the machine's speed: tests use it to show a reader is linear in the size of
    /// the trace, where a timing would be noise.
    public func countWork() {
        if workCounter == nil {
            workCounter = .allocate(capacity: 1)
            workCounter!.initialize(to: 0)
        }
        workCounter!.pointee = 0
        workCounter!.withMemoryRebound(to: CLongLong.self, capacity: 1) { pbxsim_sqlite_count_work(handle, 1000, $0) }
    }

    /// Thousands of virtual-machine instructions run since `countWork` (0 when not counting).
    public var work: Int64 { workCounter?.pointee ?? 0 }

    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg, context: String(sql.prefix(80)))
        }
    }

    public func prepare(_ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw SQLiteError(code: rc, message: lastError, context: String(sql.prefix(80))) }
        return SQLiteStatement(stmt: stmt)
    }

    /// Write statements prepared once per connection and kept (`generate` writes thousands of
    /// small runs through one connection; preparing each statement per run was a measurable part
    /// of the writer's time per run).
    private var statementCache: [String: SQLiteStatement] = [:]

    /// The prepared statement for `sql`, made on first use and reused after: reset, bindings cleared.
    public func cached(_ sql: String) throws -> SQLiteStatement {
        if let s = statementCache[sql] {
            sqlite3_reset(s.stmt)
            sqlite3_clear_bindings(s.stmt)
            return s
        }
        let s = try prepare(sql)
        statementCache[sql] = s
        return s
    }

    public var lastError: String { String(cString: sqlite3_errmsg(handle)) }
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    /// Whether a transaction is open on this connection.
    public var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs a query and returns every row as optional strings (for small reads: tests, REPL, CLI).
    public func rows(_ sql: String, _ args: [SQLiteValue] = []) throws -> [[String?]] {
        let s = try prepare(sql)
        for (i, a) in args.enumerated() { s.bind(i + 1, a) }
        var out: [[String?]] = []
        while try s.step() { out.append((0..<s.columnCount).map { s.text($0) }) }
        return out
    }

    public func scalarInt(_ sql: String, _ args: [SQLiteValue] = []) throws -> Int64? {
        let s = try prepare(sql)
        for (i, a) in args.enumerated() { s.bind(i + 1, a) }
        guard try s.step() else { return nil }
        return s.isNull(0) ? nil : s.int(0)
    }
}

public enum SQLiteValue {
    case int(Int64)
    case text(String)
    case null
}

/// A prepared statement, reused across rows. It holds no reference to its `SQLiteDatabase`: the
/// database keeps its cached statements, and a reference back made a cycle that kept every
/// connection open until the process exited, so SQLite never checkpointed the write-ahead log
/// into the file at the end of a command (a `.sqlite` copied after `pbxsim run` held no rows:
/// they were all in its `-wal`). A statement that outlives its database is still finalized
/// safely: `sqlite3_close_v2` keeps the connection until its last statement is.
public final class SQLiteStatement {
    let stmt: OpaquePointer

    init(stmt: OpaquePointer) { self.stmt = stmt }
    deinit { sqlite3_finalize(stmt) }

    /// The connection's last error message.
    var lastError: String { String(cString: sqlite3_errmsg(sqlite3_db_handle(stmt))) }

    @inline(__always) public func bind(_ i: Int, _ v: Int64) { sqlite3_bind_int64(stmt, Int32(i), v) }
    @inline(__always) public func bind(_ i: Int, _ v: Int?) {
        if let v { sqlite3_bind_int64(stmt, Int32(i), Int64(v)) } else { sqlite3_bind_null(stmt, Int32(i)) }
    }
    @inline(__always) public func bind(_ i: Int, _ v: Int64?) {
        if let v { sqlite3_bind_int64(stmt, Int32(i), v) } else { sqlite3_bind_null(stmt, Int32(i)) }
    }
    @inline(__always) public func bind(_ i: Int, _ v: String?) {
        guard let v else { sqlite3_bind_null(stmt, Int32(i)); return }
        var s = v
        s.withUTF8 { buf in
            _ = sqlite3_bind_text(stmt, Int32(i), buf.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                                  Int32(buf.count), pbxsim_sqlite_transient())
        }
    }
    @inline(__always) public func bind(_ i: Int, _ v: Double) { sqlite3_bind_double(stmt, Int32(i), v) }

    public func bind(_ i: Int, _ v: SQLiteValue) {
        switch v {
        case .int(let x): bind(i, x)
        case .text(let s): bind(i, s)
        case .null: sqlite3_bind_null(stmt, Int32(i))
        }
    }

    /// Ends the statement's current execution (it keeps its bindings): a query left on a row
    /// would hold its read snapshot open.
    public func reset() { sqlite3_reset(stmt) }

    /// Steps once; true when a row is available, false when done.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw SQLiteError(code: rc, message: lastError, context: "step")
    }

    /// Where a text parameter's bytes are in a row's byte buffer (`run(texts:in:)`); `start` < 0
    /// binds NULL.
    public struct TextSpan: Sendable {
        public var parameter: Int32
        public var start: Int
        public var count: Int
        @inline(__always) public init(parameter: Int32, start: Int, count: Int) {
            self.parameter = parameter; self.start = start; self.count = count
        }
    }

    /// Binds text parameters to spans of one byte buffer that the caller filled with the row's
    /// texts and keeps pinned, and runs the statement once (an insert). SQLite reads each text in
    /// place (`SQLITE_STATIC`); the bindings are cleared before this returns, so it never keeps a
    /// pointer into the buffer. No string is built, copied or retained per text. Every parameter
    /// must be bound again before the next run.
    public func run(texts spans: ArraySlice<TextSpan>, in bytes: UnsafeBufferPointer<UInt8>) throws {
        for span in spans {
            if span.start < 0 {
                sqlite3_bind_null(stmt, span.parameter)
            } else if span.count == 0 || bytes.baseAddress == nil {
                // An empty text, not NULL (a retransmission's `raw` is ''): a static empty C string.
                sqlite3_bind_text(stmt, span.parameter, "", 0, pbxsim_sqlite_static())
            } else {
                precondition(span.start + span.count <= bytes.count, "a text span outside its row buffer")
                sqlite3_bind_text(stmt, span.parameter, UnsafeRawPointer(bytes.baseAddress! + span.start).assumingMemoryBound(to: CChar.self),
                                  Int32(span.count), pbxsim_sqlite_static())
            }
        }
        let rc = sqlite3_step(stmt)
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        if rc != SQLITE_DONE { throw SQLiteError(code: rc, message: lastError, context: "insert") }
    }

    /// Steps a statement that returns no rows, then resets it for the next binding.
    @inline(__always) public func run() throws {
        let rc = sqlite3_step(stmt)
        sqlite3_reset(stmt)
        if rc != SQLITE_DONE { throw SQLiteError(code: rc, message: lastError, context: "insert") }
    }

    public var columnCount: Int { Int(sqlite3_column_count(stmt)) }
    public func isNull(_ i: Int) -> Bool { sqlite3_column_type(stmt, Int32(i)) == SQLITE_NULL }
    public func int(_ i: Int) -> Int64 { sqlite3_column_int64(stmt, Int32(i)) }
    public func double(_ i: Int) -> Double { sqlite3_column_double(stmt, Int32(i)) }
    /// The column's text, all of its bytes: a text with a NUL byte in it (a SIP message as
    /// received in live mode, a scenario's escaped string) reads back whole, where a C string
    /// would stop at the NUL. `sqlite3_column_bytes` after `sqlite3_column_text`, as SQLite asks.
    public func text(_ i: Int) -> String? {
        guard let p = sqlite3_column_text(stmt, Int32(i)) else { return nil }
        let count = Int(sqlite3_column_bytes(stmt, Int32(i)))
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }
}

@inline(__always) func sqlite3_bind_double_shim(_ s: SQLiteStatement, _ i: Int, _ v: Double) { s.bind(i, v) }
