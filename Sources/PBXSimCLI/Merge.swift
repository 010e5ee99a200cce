import ArgumentParser
import Store
#if canImport(Glibc)
import Glibc
#endif

extension PBXSim {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join trace databases (for example --shard outputs) into one, without clashing run ids.",
            discussion: """
                Runs keep their ids when no run of OUT has them (so shards of one dataset merge into exactly the \
                database a single machine would have written); otherwise a shard's ids are shifted past OUT's highest id.
                """)

        @Argument(help: "Database to write (created if missing).")
        var out: String

        @Argument(help: "Databases to merge into it.")
        var shards: [String]

        static let tables = ["run", "host", "run_param", "pbx_config", "call", "step", "sip_message", "expectation"]

        func run() throws {
            // A database merged into itself would double; the same file under two names too.
            var outStat = stat()
            let outExists = stat(out, &outStat) == 0
            for shard in shards {
                var st = stat()
                if outExists, stat(shard, &st) == 0, st.st_dev == outStat.st_dev, st.st_ino == outStat.st_ino {
                    printError("error: \(shard) is the output database \(out) itself; give it once, as OUT"); throw ExitStatus(code: 2)
                }
            }
            let store: TraceStore
            do { store = try TraceStore(path: out) } catch { printError("error: " + databaseProblem(out, error, reading: false)); throw ExitStatus(code: 2) }
            let db = store.db
            installStopHandlers()
            deferCallIndexes(store)
            defer { buildDeferredCallIndexes(store, db: out, maxDbSize: defaultMaxDBSize) }
            var merged = 0, skipped = 0
            for shard in shards {
                if stopRequested() {
                    let (code, name) = stopStatus()
                    printError("stopped by \(name): \(merged) shard(s) merged into \(out), the rest not")
                    throw ExitStatus(code: code)
                }
                do {
                    let check = try SQLiteDatabase(path: shard, readOnly: true)
                    let v = try check.scalarInt("PRAGMA user_version") ?? 0
                    guard v == Int64(TraceStore.schemaVersion) else {
                        printError("error: \(shard): schema version \(v), expected \(TraceStore.schemaVersion) (open it with this pbxsim first)")
                        throw ExitStatus(code: 2)
                    }
                } catch let e as ExitStatus { throw e } catch {
                    printError("error: " + databaseProblem(shard, error, reading: true)); throw ExitStatus(code: 2)
                }
                do {
                    try db.execute("ATTACH DATABASE '\(shard.replacingOccurrences(of: "'", with: "''"))' AS shard")
                    defer { try? db.execute("DETACH DATABASE shard") }
                    // A shard merged before: every one of its runs is already here (same run id,
                    // scenario, seed, hashes, index and start time). Skipped, not doubled.
                    let same = """
                        m.run_id = s.run_id AND m.scenario = s.scenario AND m.seed = s.seed AND m.started_at = s.started_at
                        AND m.scenario_hash IS s.scenario_hash AND m.sweep_hash IS s.sweep_hash AND m.run_index IS s.run_index
                        """
                    let n = try db.scalarInt("SELECT count(*) FROM shard.run") ?? 0
                    let already = try db.scalarInt("SELECT count(*) FROM shard.run s JOIN main.run m ON \(same)") ?? 0
                    if n > 0 && already == n {
                        print("skipped \(shard): its \(n) run(s) are already in \(out)")
                        skipped += 1
                        continue
                    }
                    if already > 0 {
                        printError("error: \(shard) shares \(already) of its \(n) runs with \(out); nothing of it was merged")
                        throw ExitStatus(code: 2)
                    }
                    let clash = try db.scalarInt("SELECT count(*) FROM shard.run WHERE run_id IN (SELECT run_id FROM main.run)") ?? 0
                    let offset = clash == 0 ? 0 : (try db.scalarInt("SELECT coalesce(max(run_id), 0) FROM main.run") ?? 0)
                    try store.transaction {
                        for t in Merge.tables {
                            let cols = try db.rows("SELECT name FROM pragma_table_info('\(t)')").compactMap { $0[0] }
                            let select = cols.map { $0 == "run_id" ? "run_id + \(offset)" : $0 }.joined(separator: ", ")
                            try db.execute("INSERT INTO main.\(t) (\(cols.joined(separator: ", "))) SELECT \(select) FROM shard.\(t) ORDER BY rowid")
                        }
                    }
                    // Runs the shard's writer left unfinished are marked as such here.
                    let dead = try RunLiveness.markDead(db)
                    merged += 1
                    print("merged \(n) run(s) from \(shard)" + (offset > 0 ? " (run ids shifted by \(offset))" : "")
                          + (dead.isEmpty ? "" : "; interrupted (partial): run \(dead.map(String.init).joined(separator: ", "))"))
                } catch let e as ExitStatus { throw e } catch {
                    printError("error: merging \(shard): \(error)"); throw ExitStatus(code: 2)
                }
            }
            buildDeferredCallIndexes(store, db: out, maxDbSize: defaultMaxDBSize)
            let runs = try db.scalarInt("SELECT count(*) FROM run") ?? 0
            let calls = try db.scalarInt("SELECT count(*) FROM call") ?? 0
            print("\(out): \(merged) shard(s) merged, \(skipped) skipped; \(runs) run(s), \(calls) call(s), \(byteCount(fileBytes(out)))")
        }
    }
}
