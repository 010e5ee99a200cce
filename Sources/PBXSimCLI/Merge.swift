import ArgumentParser
import Store

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
            let store: TraceStore
            do { store = try TraceStore(path: out) } catch { printError("error: \(out): \(error)"); throw ExitStatus(code: 2) }
            let db = store.db
            for shard in shards {
                do {
                    let check = try SQLiteDatabase(path: shard, readOnly: true)
                    let v = try check.scalarInt("PRAGMA user_version") ?? 0
                    guard v == Int64(TraceStore.schemaVersion) else {
                        printError("error: \(shard): schema version \(v), expected \(TraceStore.schemaVersion) (open it with this pbxsim first)")
                        throw ExitStatus(code: 2)
                    }
                } catch let e as ExitStatus { throw e } catch {
                    printError("error: \(shard): cannot open: \(error)"); throw ExitStatus(code: 2)
                }
                do {
                    try db.execute("ATTACH DATABASE '\(shard.replacingOccurrences(of: "'", with: "''"))' AS shard")
                    defer { try? db.execute("DETACH DATABASE shard") }
                    let clash = try db.scalarInt("SELECT count(*) FROM shard.run WHERE run_id IN (SELECT run_id FROM main.run)") ?? 0
                    let offset = clash == 0 ? 0 : (try db.scalarInt("SELECT coalesce(max(run_id), 0) FROM main.run") ?? 0)
                    try db.execute("BEGIN")
                    for t in Merge.tables {
                        let cols = try db.rows("SELECT name FROM pragma_table_info('\(t)')").compactMap { $0[0] }
                        let select = cols.map { $0 == "run_id" ? "run_id + \(offset)" : $0 }.joined(separator: ", ")
                        try db.execute("INSERT INTO main.\(t) (\(cols.joined(separator: ", "))) SELECT \(select) FROM shard.\(t) ORDER BY rowid")
                    }
                    try db.execute("COMMIT")
                    let n = try db.scalarInt("SELECT count(*) FROM shard.run") ?? 0
                    print("merged \(n) run(s) from \(shard)" + (offset > 0 ? " (run ids shifted by \(offset))" : ""))
                } catch let e as ExitStatus { throw e } catch {
                    try? db.execute("ROLLBACK")
                    printError("error: merging \(shard): \(error)"); throw ExitStatus(code: 2)
                }
            }
        }
    }
}
