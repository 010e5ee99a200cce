import Testing
import Foundation

/// Every command in the shell blocks of README.md and docs/*.md runs and succeeds, in order, in
/// one sandbox (so that a database made by one command is there for the next), as a reader would
/// type them. Documentation cannot drift from the tool unnoticed.
@Suite struct DocsCommandsTests {
    /// Commands not run here, and why.
    static let skipped: [(prefix: String, why: String)] = [
        ("./scripts/setup", "installs Debian packages: .ci/run does it"),
        ("apt-get install", "installs Debian packages: .ci/run does it"),
        ("swift ", "builds or tests pbxsim itself: this test runs inside swift test"),
        ("export PATH", "the sandbox puts the built pbxsim on PATH"),
        ("scripts/update-golden", "rewrites the golden traces"),
        ("pip install", ".ci/run installs pandas and scikit-learn"),
        ("python3 train.py", "DatasetRecipeTests runs the recipe's script"),
        ("python3 Benchmarks/bench.py", "benchmarks build release binaries and run for minutes; they print figures, tests never time anything"),
        ("python3 Benchmarks/instructions.py", "counts instructions under valgrind for minutes; it prints figures, tests never time anything"),
        ("python3 Benchmarks/peers/", "the SimPy peer is a benchmark (bench.py runs it): it prints figures, tests never time anything"),
    ]

    static func commands() throws -> [(file: String, line: String)] {
        var files = ["README.md"]
        let docs = packageRoot.appendingPathComponent("docs").path
        files += try FileManager.default.contentsOfDirectory(atPath: docs).filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        var out: [(String, String)] = []
        for f in files {
            let text = try String(contentsOfFile: packageRoot.appendingPathComponent(f).path, encoding: .utf8)
            for block in text.components(separatedBy: "```").enumerated() where block.offset % 2 == 1 {
                let lines = block.element.components(separatedBy: "\n")
                guard let lang = lines.first, ["sh", "bash", "shell"].contains(lang.trimmingCharacters(in: .whitespaces)) else { continue }
                for l in lines.dropFirst() {
                    // Drop a trailing comment (two spaces then #), keep the command.
                    var cmd = l
                    if let r = cmd.range(of: "  #") { cmd = String(cmd[..<r.lowerBound]) }
                    cmd = cmd.trimmingCharacters(in: .whitespaces)
                    if !cmd.isEmpty { out.append((f, cmd)) }
                }
            }
        }
        return out
    }

    @Test func everyDocumentedCommandRuns() throws {
        let sandbox = tempPath("docs-sandbox")
        try? FileManager.default.removeItem(atPath: sandbox)
        try FileManager.default.createDirectory(atPath: sandbox, withIntermediateDirectories: true)
        for d in ["scenarios", "sweeps", "scripts"] {
            try FileManager.default.createSymbolicLink(atPath: sandbox + "/" + d, withDestinationPath: packageRoot.appendingPathComponent(d).path)
        }
        let bin = packageRoot.appendingPathComponent(".build/debug").path
        var ran = 0
        for (file, original) in try Self.commands() {
            if Self.skipped.contains(where: { original.hasPrefix($0.prefix) }) { continue }
            // The live lab needs SIPp and Kamailio: skipped with a message on a developer's machine
            // without them, never in CI (.ci/run installs them).
            if original.hasPrefix("scripts/live-lab/") || original.hasPrefix("pbxsim live "),
               ProcessInfo.processInfo.environment["CI"] == nil,
               !["/usr/bin/sipp", "/usr/sbin/kamailio"].allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) {
                print("skipped: \(file): \(original) (needs sip-tester and kamailio)")
                continue
            }
            // Datasets of thousands of runs are cut to 40 runs here: the same command, smaller.
            var cmd = original
            for n in ["100000", "1000", "200"] { cmd = cmd.replacingOccurrences(of: "--runs \(n) ", with: "--runs 40 ") }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", cmd]
            p.currentDirectoryURL = URL(fileURLWithPath: sandbox)
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = bin + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            env["NO_COLOR"] = "1"
            env["PBXSIM_HISTORY"] = sandbox + "/history"
            p.environment = env
            p.standardInput = FileHandle.nullDevice
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(file): \(original)\nexit \(p.terminationStatus): \(e.suffix(600)) \(String(decoding: o.suffix(300), as: UTF8.self))")
            ran += 1
        }
        #expect(ran >= 25)
    }
}
