import Testing
import Foundation

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
