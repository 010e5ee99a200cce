import Testing
import Foundation
import Store

/// Issue 15: what a new user meets in the first hour.
@Suite struct FirstHourTests {
    /// Files in the wrong place get a plain sentence naming what they are and what was expected.
    @Test func misplacedFilesAreNamed() throws {
        let scenario = scenarioPath("seed-example.yaml")
        let asDB = try runCLI(["run", scenario, "--db", scenario, "-q"])
        #expect(asDB.status == 2 && asDB.err.contains("is not a SQLite database (it looks like a scenario file)"))
        let dirDB = try runCLI(["run", scenario, "--db", packageRoot.appendingPathComponent("scenarios").path, "-q"])
        #expect(dirDB.status == 2 && dirDB.err.contains("is a directory; give a trace database file"))
        for cmd in [["export", "--format", "jsonl"], ["report", "--out", tempPath("x.html")], ["flow"]] {
            let missing = try runCLI([cmd[0], tempPath("no-such.sqlite")] + cmd.dropFirst())
            #expect(missing.status == 2 && missing.err.contains("no such file (expected a pbxsim trace database)"), "\(cmd[0]): \(missing.err)")
            let yaml = try runCLI([cmd[0], scenario] + cmd.dropFirst())
            #expect(yaml.status == 2 && yaml.err.contains("is not a SQLite database"), "\(cmd[0]): \(yaml.err)")
        }
    }

    /// When piped, long work adds nothing to stderr but one closing line saying what it made.
    @Test func pipedWorkEndsWithWhatItMade() throws {
        let db = tempPath("first-hour.sqlite")
        let g = try runCLI(["generate", packageRoot.appendingPathComponent("sweeps/failover.yaml").path, "--runs", "6", "--db", db])
        #expect(g.status == 0 && g.out.contains("made 6 run(s)") && g.out.contains("call(s) in all"))
        let e = try runCLI(["export", db, "--format", "jsonl", "--out", tempPath("fh.jsonl")])
        let lines = e.err.split(separator: "\n")
        #expect(e.status == 0 && lines.count == 1 && lines[0].hasPrefix("exported 6 run(s) as jsonl to "))
        #expect(!e.err.contains("\r"))
        let other = tempPath("first-hour-2.sqlite")
        #expect(try runCLI(["run", scenarioPath("busy-far-end.yaml"), "--db", other, "-q"]).status == 0)
        let m = try runCLI(["merge", db, other])
        #expect(m.status == 0 && m.out.contains("7 run(s)") && m.out.contains("call(s)"))
        // A traffic run piped shows no progress line on stderr.
        let r = try runCLI(["run", scenarioPath("public-trunk-overflow.yaml"), "--db", other, "--summary-only"])
        #expect(r.status == 0 && r.err.isEmpty)
    }
}
