import ArgumentParser
import Store

extension PBXSim {
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop the runs that did not finish: marked interrupted, or left running by a process that is gone.",
            discussion: """
                A run stopped by a signal is marked interrupted; one whose process was killed (SIGKILL, power \
                loss) stays 'running' in the file, and every reader reports it as interrupted. prune deletes \
                those runs with all their rows. (pbxsim generate into the same file redoes them instead.) \
                Exit status: 0 done, 2 the file cannot be used.
                """)

        @Argument(help: "SQLite trace file.")
        var db: String

        func run() throws {
            let store: TraceStore
            do { store = try TraceStore(path: db) } catch { printError("error: \(db): \(error)"); throw ExitStatus(code: 2) }
            try RunLiveness.markDead(store.db)
            let ids = try store.db.rows("SELECT run_id FROM run WHERE status = 'interrupted' ORDER BY run_id").compactMap { $0[0].flatMap { Int64($0) } }
            for id in ids { try store.deleteRun(id) }
            print(ids.isEmpty ? "no interrupted run in \(db)" : "dropped \(ids.count) interrupted run(s) from \(db): \(ids.map(String.init).joined(separator: ", "))")
        }
    }
}
