import Testing
import Foundation
import Store

/// Issue 11 item 3: the `(run_id, call_id)` indexes of a bulk write into a new database are built
/// once at its end instead of with every row; readers find the same rows with or without them; a
/// write stopped before its end leaves them to the next pbxsim that opens the file.
@Suite(.serialized) struct CallIndexTests {
    let both = TraceStore.callIndexes.map(\.name)

    /// Three runs of different failure modes, written by `pbxsim run` into a new file.
    func makeDB(_ name: String) throws -> String {
        let db = tempPath(name)
        let r = try runCLI(["run", scenarioPath("seed-example.yaml"), scenarioPath("503-retry-after.yaml"),
                            scenarioPath("busy-far-end.yaml"), "--db", db, "-q"])
        #expect(r.status == 0, "\(r.err)")
        return db
    }

    func copy(_ db: String, to name: String) throws -> String {
        let to = tempPath(name)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: to + suffix) }
        // The file and its write-ahead log (the end of a run may still be in it).
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: db + suffix) {
            try FileManager.default.copyItem(atPath: db + suffix, toPath: to + suffix)
        }
        return to
    }

    func missing(_ db: String) throws -> [String] {
        try TraceStore.missingCallIndexes(SQLiteDatabase(path: db, readOnly: true))
    }

    /// SQLite finds one call's rows through the index (where it has it to choose).
    func planUsesIndex(_ db: String) throws -> Bool {
        let plan = try SQLiteDatabase(path: db, readOnly: true)
            .rows("EXPLAIN QUERY PLAN SELECT count(*) FROM step WHERE run_id = 1 AND call_id = 1")
        return plan.contains { ($0.last ?? nil)?.contains("step_call") == true }
    }

    @Test func aBulkWriteIntoANewDatabaseBuildsTheIndexesAtItsEnd() throws {
        // The store: deferred only while no trace row is there, built on request.
        let fresh = tempPath("ci-fresh.sqlite")
        let store = try TraceStore(path: fresh)
        #expect(try TraceStore.missingCallIndexes(store.db).isEmpty)
        #expect(try store.deferCallIndexes())
        #expect(store.callIndexesDeferred)
        #expect(try TraceStore.missingCallIndexes(store.db) == both)
        try store.buildCallIndexes()
        #expect(!store.callIndexesDeferred)
        #expect(try TraceStore.missingCallIndexes(store.db).isEmpty)

        // `pbxsim run` into a new file ends with both indexes, and readers' queries use them.
        let db = try makeDB("ci-run.sqlite")
        #expect(try missing(db).isEmpty)
        #expect(try planUsesIndex(db))

        // A file that already holds rows keeps its indexes through the next bulk write.
        let again = try TraceStore(path: db)
        #expect(try !again.deferCallIndexes())
        #expect(!again.callIndexesDeferred)
        #expect(try TraceStore.missingCallIndexes(again.db).isEmpty)
        #expect(try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "-q"]).status == 0)
        #expect(try missing(db).isEmpty)

        // generate and merge too.
        let sweep = packageRoot.appendingPathComponent("sweeps/failover.yaml").path
        let shard = tempPath("ci-shard.sqlite"), merged = tempPath("ci-merged.sqlite")
        #expect(try runCLI(["generate", sweep, "--runs", "3", "--db", shard]).status == 0)
        #expect(try missing(shard).isEmpty)
        #expect(try runCLI(["merge", merged, shard]).status == 0)
        #expect(try missing(merged).isEmpty)
    }

    /// Without the indexes (a bulk write still under way), every reader gives the same bytes:
    /// `pbxsim export` of the same runs is identical in every format that writes text.
    @Test func readersGiveTheSameOutputWithoutTheIndexes() throws {
        let db = try makeDB("ci-readers.sqlite")
        let bare = try copy(db, to: "ci-readers-bare.sqlite")
        let w = try SQLiteDatabase(path: bare)
        for name in both { try w.execute("DROP INDEX \(name)") }
        // A run being written by a live process (this one): nobody builds the indexes under it.
        try w.execute("INSERT INTO run (run_id, scenario, seed, started_at, status, writer) VALUES (99, 'x', 1, '2026-01-01T00:00:00Z', 'running', '\(RunLiveness.me)')")
        #expect(TraceStore.repairCallIndexes(path: bare).isEmpty)
        #expect(try missing(bare) == both)
        #expect(try !planUsesIndex(bare))
        for format in ["jsonl", "episodes"] {
            let a = tempPath("ci-a.\(format)"), b = tempPath("ci-b.\(format)")
            let ra = try runCLI(["export", db, "--format", format, "--run", "1", "2", "3", "--out", a])
            let rb = try runCLI(["export", bare, "--format", format, "--run", "1", "2", "3", "--out", b])
            #expect(ra.status == 0 && rb.status == 0, "\(ra.err) \(rb.err)")
            let ta = try String(contentsOfFile: a, encoding: .utf8), tb = try String(contentsOfFile: b, encoding: .utf8)
            #expect(!ta.isEmpty && ta == tb, "\(format) differs without the indexes")
        }
        // One call's ladder (flow) reads the same rows.
        for call in [1] {
            let fa = try runCLI(["flow", db, "--run", "2", "--call", "\(call)"])
            let fb = try runCLI(["flow", bare, "--run", "2", "--call", "\(call)"])
            #expect(fa.status == 0 && fa.out == fb.out && !fa.out.isEmpty, "\(fa.err) \(fb.err)")
        }
        let readerA = TraceReader(db: try SQLiteDatabase(path: db, readOnly: true))
        let readerB = TraceReader(db: try SQLiteDatabase(path: bare, readOnly: true))
        for run in Int64(1)...3 {
            let calls = try SQLiteDatabase(path: db, readOnly: true).rows("SELECT call_id FROM call WHERE run_id = \(run)").compactMap { $0[0].flatMap(Int.init) }
            #expect(!calls.isEmpty)
            for c in calls + [nil] as [Int?] {
                #expect(try readerA.rows(runID: run, callID: c) == readerB.rows(runID: run, callID: c))
            }
        }
    }

    /// A bulk write stopped before its end (SIGKILL) leaves the indexes unbuilt; the next pbxsim
    /// to open the file builds them (a reader says so), unless a live process is still writing.
    @Test func indexesLeftUnbuiltAreBuiltByTheNextOpening() throws {
        let db = try makeDB("ci-repair.sqlite")
        let bare = try copy(db, to: "ci-repair-bare.sqlite")
        let w = try SQLiteDatabase(path: bare)
        for name in both { try w.execute("DROP INDEX \(name)") }
        // The killed writer's run: running, a dead pid on this host.
        let host = RunLiveness.me.split(separator: " ")[0]
        try w.execute("UPDATE run SET status = 'running', writer = '\(host) 999999999' WHERE run_id = 3")
        let out = tempPath("ci-repair.jsonl"), ref = tempPath("ci-repair-ref.jsonl")
        let r = try runCLI(["export", bare, "--format", "jsonl", "--run", "1", "2", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("built the indexes step_call, sip_message_call of \(bare)"), "\(r.err)")
        #expect(try missing(bare).isEmpty)
        #expect(try planUsesIndex(bare))
        #expect(try runCLI(["export", db, "--format", "jsonl", "--run", "1", "2", "--out", ref]).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == String(contentsOfFile: ref, encoding: .utf8))
        // Nothing is said when nothing was missing.
        #expect(!(try runCLI(["export", bare, "--format", "jsonl", "--out", out])).err.contains("built the"))

        // A writer opening the file builds them too.
        let bare2 = try copy(db, to: "ci-repair-bare2.sqlite")
        let w2 = try SQLiteDatabase(path: bare2)
        for name in both { try w2.execute("DROP INDEX \(name)") }
        _ = try TraceStore(path: bare2)
        #expect(try missing(bare2).isEmpty)
        #expect(try SQLiteDatabase(path: bare2, readOnly: true).rows("PRAGMA integrity_check").first?[0] == "ok")
    }
}
