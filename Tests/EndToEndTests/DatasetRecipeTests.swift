import Testing
import Foundation
import Store

/// The pandas recipe in docs/datasets.md runs as written on a fresh dataset and beats the
/// majority class. Skipped (with a message) where pandas or scikit-learn is missing, except in CI.
@Suite struct DatasetRecipeTests {
    @Test func pandasRecipeRuns() throws {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import pandas, sklearn"]
        probe.standardError = FileHandle.nullDevice
        try probe.run(); probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("CI is set but pandas/scikit-learn are missing (.ci/run installs them)") }
            else { print("skipping the pandas recipe: pip install pandas scikit-learn") }
            return
        }
        let doc = try String(contentsOfFile: packageRoot.appendingPathComponent("docs/datasets.md").path, encoding: .utf8)
        let afterHeading = try #require(doc.components(separatedBy: "## Recipe: episodes into pandas").dropFirst().first)
        let script = try #require(afterHeading.components(separatedBy: "```python\n").dropFirst().first?.components(separatedBy: "```").first)
        let dir = tempPath("recipe")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let db = dir + "/failover.sqlite"
        #expect(try runCLI(["generate", packageRoot.appendingPathComponent("sweeps/failover.yaml").path, "--runs", "200", "--db", db]).status == 0)
        #expect(try runCLI(["export", db, "--format", "episodes", "--split", "--out", dir + "/episodes.jsonl"]).status == 0)
        try script.write(toFile: dir + "/train.py", atomically: true, encoding: .utf8)
        let (status, o, e) = try runProgram("/usr/bin/env", ["python3", "train.py"], cwd: dir)
        #expect(status == 0, "\(e)")
        // "N calls; test accuracy A, majority class M": the model must beat always guessing M.
        let numbers = o.split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
        #expect(numbers.count >= 3, "\(o)")
        if numbers.count >= 3 { #expect(numbers[1] > numbers[2], "\(o)") }
    }
}

/// The class balance docs/dataset-card.md states for its reference sweep is what that sweep makes
/// now: the outcome table, the end-cause table, the counts of steps and SIP messages. A change of
/// behaviour that moves them has to update the card (its command is in the card).
@Suite struct DatasetCardTests {
    @Test func classBalanceMatchesTheReferenceSweep() throws {
        let card = try String(contentsOfFile: packageRoot.appendingPathComponent("docs/dataset-card.md").path, encoding: .utf8)
        let section = try #require(card.components(separatedBy: "## Class balance (reference sweep, 1000 runs, seed 1)").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        // The card's table rows: `| a | b | c | n | share |` (outcomes) and `| a | b | n |` (causes).
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| outcome") }
            .map { $0.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) } }
        let outcomes = rows.filter { $0.count == 5 }.map { Array($0[0..<4]) }
        let causes = rows.filter { $0.count == 3 }
        #expect(outcomes.count >= 4 && causes.count >= 3, "the card's tables: \(rows)")

        let db = tempPath("card.sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        #expect(try runCLI(["generate", packageRoot.appendingPathComponent("sweeps/failover.yaml").path, "--runs", "1000", "--seed", "1",
                            "--db", db]).status == 0)
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let made = try store.rows("""
            SELECT outcome, coalesce(route, '-'), CASE rerouted WHEN 1 THEN 'yes' ELSE 'no' END, count(*) FROM call
            GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2
            """).map { $0.map { $0 ?? "" } }
        #expect(outcomes == made, "docs/dataset-card.md says \(outcomes), the sweep makes \(made)")
        let madeCauses = try store.rows("""
            SELECT outcome, end_cause, count(*) FROM call WHERE outcome != 'answered' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
            """).map { $0.map { $0 ?? "" } }
        #expect(causes == madeCauses, "docs/dataset-card.md says \(causes), the sweep makes \(madeCauses)")
        for (table, n) in [("step", "steps"), ("sip_message", "SIP messages")] {
            let count = try #require(try store.scalarInt("SELECT count(*) FROM \(table)"))
            // With thousands separated by commas, as the card writes them (not locale-dependent).
            let digits = Array(String(count))
            let formatted = String(digits.enumerated().flatMap { i, d in (i > 0 && (digits.count - i) % 3 == 0) ? [",", d] : [d] })
            #expect(section.contains("\(formatted) \(n)"), "\(count) \(n) not in the card")
        }
    }
}
