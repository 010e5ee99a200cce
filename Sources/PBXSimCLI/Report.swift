import ArgumentParser
import Store
import Export

extension PBXSim {
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write a self-contained HTML report of a run (or of several runs: a dataset).",
            discussion: """
                One run: its summary per PBX, outcomes over time, post-dial delay by route, public-trunk \
                occupancy, SIP targets (attempts, failovers, 503s) with the card state, and ladder diagrams. \
                Several runs: the outcome balance and post-dial delay against each swept parameter. \
                The file has no script and no external reference; it opens in any browser and prints. \
                Exit status: 0 written, 2 invalid input (a missing database, an unknown run or call).
                """)

        @Argument(help: "SQLite trace file.")
        var db: String

        @Option(name: .customLong("run"), parsing: .upToNextOption, help: "Run ids (default: the last run; --all-runs for every run).")
        var runs: [Int64] = []

        @Flag(help: "Report on every run in the file (a dataset).")
        var allRuns = false

        @Option(name: .customLong("call"), parsing: .upToNextOption,
                help: "Calls to draw as ladders (one run; default: the first 3 calls of each outcome other than answered).")
        var calls: [Int] = []

        @Option(help: "The HTML file to write.")
        var out: String

        func run() throws {
            let database: SQLiteDatabase
            repairCallIndexes(db)
            do { database = try SQLiteDatabase(path: db, readOnly: true) } catch {
                printError("error: " + databaseProblem(db, error, reading: true)); throw ExitStatus(code: 2)
            }
            do {
                let all = try TraceReader(db: database).runIDs()
                guard let last = all.last else { printError("error: \(db) holds no run"); throw ExitStatus(code: 2) }
                var report = try Report(db: database, runs: allRuns ? nil : (runs.isEmpty ? [last] : runs))
                if !calls.isEmpty {
                    guard report.runs.count == 1 else { printError("error: --call draws calls of one run; give one --run"); throw ExitStatus(code: 2) }
                    report.calls = calls
                }
                let html = try report.html()
                guard writeFile(out, html) else { printError("error: cannot write \(out)"); throw ExitStatus(code: 2) }
                print("wrote \(out): \(report.runs.count == 1 ? "run \(report.runs[0])" : "\(report.runs.count) runs"), \(html.utf8.count) bytes")
            } catch let e as ExitStatus { throw e } catch let e as ReportError {
                printError("error: \(db): \(e)"); throw ExitStatus(code: 2)
            } catch {
                printError("error: " + databaseProblem(db, error, reading: true)); throw ExitStatus(code: 2)
            }
        }
    }
}
