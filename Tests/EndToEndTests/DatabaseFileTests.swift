import Testing
import Foundation
import Store

/// When a command that writes a trace ends, its `.sqlite` file alone holds everything: the
/// connection is closed, so SQLite has copied the write-ahead log into the file and removed it. A
/// user who copies or uploads the file (a CI artifact) right after `pbxsim run` gets every row;
/// before, the connection stayed open to the end of the process and the rows were only in the
/// `-wal` beside it (the copy of a seed-example run held no table at all).
@Suite struct DatabaseFileTests {
    /// The file at `path` has no `-wal` beside it, and a copy of it alone, in another directory,
    /// reads the same runs, calls, steps and SIP messages as the original.
    func expectSelfContained(_ path: String, _ what: String) throws {
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "\(what) left \(path)-wal")
        let copy = tempPath("copy.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let count = "SELECT (SELECT count(*) FROM run) || ' ' || (SELECT count(*) FROM call) || ' ' || (SELECT count(*) FROM step) || ' ' || (SELECT count(*) FROM sip_message)"
        let copied = try SQLiteDatabase(path: copy, readOnly: true).rows(count)
        let original = try SQLiteDatabase(path: path, readOnly: true).rows(count)
        #expect(copied == original, "\(what): the copy of the file alone reads \(copied), the file \(original)")
        #expect(original.first?.first??.hasPrefix("0 ") == false, "\(what) wrote no run")
    }

    @Test func everyWritingCommandLeavesTheFileSelfContained() throws {
        let db = tempPath("run.sqlite")
        let run = try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "-q"])
        #expect(run.status == 0, "\(run.err)")
        try expectSelfContained(db, "run")

        // A run whose expectation fails ends with status 1: the same.
        let failing = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "outcome: answered", with: "outcome: busy")
        let file = tempPath("failing.yaml")
        try failing.write(toFile: file, atomically: true, encoding: .utf8)
        let failed = try runCLI(["run", file, "--db", db, "-q"])
        #expect(failed.status == 1, "\(failed.err)")
        try expectSelfContained(db, "a run whose expectation failed")

        let many = tempPath("many.sqlite")
        let dir = try runCLI(["run", packageRoot.appendingPathComponent("scenarios").path, "--db", many, "--jobs", "2"])
        #expect(dir.status == 0, "\(dir.err)")
        try expectSelfContained(many, "run of a directory")

        let sweep = packageRoot.appendingPathComponent("sweeps/failover.yaml").path
        let shards = [tempPath("shard0.sqlite"), tempPath("shard1.sqlite")]
        for (i, shard) in shards.enumerated() {
            let g = try runCLI(["generate", sweep, "--runs", "20", "--shard", "\(i)/2", "--db", shard])
            #expect(g.status == 0, "\(g.err)")
            try expectSelfContained(shard, "generate")
        }
        let merged = tempPath("merged.sqlite")
        let m = try runCLI(["merge", merged] + shards)
        #expect(m.status == 0, "\(m.err)")
        try expectSelfContained(merged, "merge")

        let p = try runCLI(["prune", many])
        #expect(p.status == 0, "\(p.err)")
        try expectSelfContained(many, "prune")
    }

    /// Another process holding the file open (a reader between its queries) keeps the log from
    /// being removed at the end of a run, but not from being folded into the file: a copy of the
    /// file alone still reads every run.
    @Test func aReaderHoldingTheFileOpenDoesNotKeepRowsOutOfIt() throws {
        let db = tempPath("held.sqlite")
        #expect(try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "-q"]).status == 0)
        let reader = try SQLiteDatabase(path: db, readOnly: true)
        #expect(try reader.scalarInt("SELECT count(*) FROM run") == 1)
        #expect(try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "-q"]).status == 0)
        let copy = tempPath("held-copy.sqlite")
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        #expect(try SQLiteDatabase(path: copy, readOnly: true).scalarInt("SELECT count(*) FROM run") == 2)
        withExtendedLifetime(reader) {}
    }
}
