import Testing
import Foundation

/// Output fits the terminal (issue 15): the ladder, the call lines, the summary and help, at the
/// width the terminal or COLUMNS gives (80 when piped), with words never cut.
@Suite struct WidthTests {
    func longest(_ s: String) -> Int { s.components(separatedBy: "\n").map { $0.count }.max() ?? 0 }

    @Test(arguments: [80, 100, 160])
    func everythingFits(_ width: Int) throws {
        let env = ["COLUMNS": String(width)]
        let db = tempPath("width-\(width).sqlite")
        let run = try runCLI(["run", scenarioPath("seed-example.yaml"), scenarioPath("busy-hour-sip-failure.yaml"), "--db", db], env: env)
        #expect(run.status == 0)
        #expect(longest(run.out) <= width, "run: \(longest(run.out)) columns")
        let flow = try runCLI(["flow", db, "--run", "1", "--call", "1"], env: env)
        #expect(longest(flow.out) <= width, "flow: \(longest(flow.out)) columns")
        let help = try runRepl("help\n", args: ["--db", tempPath("width-help.sqlite")], env: env)
        #expect(longest(help.out) <= width, "help: \(longest(help.out)) columns")
        // Arrow labels are whole words or absent: never `INVITE (re` or `.INVITE (re.x`.
        #expect(!flow.out.contains("(re.") && !flow.out.contains("(re-") && !flow.out.contains("(re|"))
        // Abbreviated lanes come with a legend.
        if flow.out.contains("sip1 ") { #expect(flow.out.contains("sip1 = sip1.itsp.example")) }
    }

    /// A diagram that cannot fit says so and points at the SVG.
    @Test func tooNarrowPointsAtSVG() throws {
        let db = tempPath("width-narrow.sqlite")
        #expect(try runCLI(["run", scenarioPath("seed-example.yaml"), "--db", db, "-q"]).status == 0)
        let flow = try runCLI(["flow", db, "--call", "1"], env: ["COLUMNS": "40"])
        #expect(flow.out.contains("--svg FILE draws it whole"))
    }
}
