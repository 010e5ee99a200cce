import ArgumentParser
import Scenario
import Trace
#if canImport(Glibc)
import Glibc
#endif

extension PBXSim {
    struct Repl: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Interactive session: dial extensions, break the network, watch the call flow.",
            discussion: """
                Without a scenario file the session opens on the seed example's site. Lines are read \
                with libedit (history in ~/.pbxsim_history or $PBXSIM_HISTORY, tab completion) on a \
                terminal, and plainly from a pipe or file. Exit status: 0, 1 if a command failed, 2 invalid input \
                (a scenario file or database that cannot be used; the message names it).
                """)

        @Argument(help: "Scenario file whose topology (and timeline) the session starts from.")
        var scenario: String?

        @Option(help: "SQLite file to append the trace to.")
        var db: String = "pbxsim.sqlite"

        @Option(help: "Seed for the random streams (overrides the scenario's seed).")
        var seed: UInt64?

        func run() throws {
            let s: Scenario
            do {
                if let path = scenario { s = try loadScenario(path) } else {
                    s = try ScenarioLoader.load(path: "(built-in default site)", text: defaultSiteYAML)
                }
            } catch let e as ScenarioError {
                printError("error: \(e)")
                throw ExitStatus(code: 2)
            }
            let interactive = isatty(0) == 1
            let style = TextStyle.detect()
            let session: ReplSession
            do { session = try ReplSession(scenario: s, seed: seed, dbPath: db, style: style) } catch {
                printError("error: " + databaseProblem(db, error, reading: false))
                throw ExitStatus(code: 2)
            }
            signal(SIGINT) { _ in interruptFlag.store(true, ordering: .relaxed) }
            var reader: LineReader
            if interactive {
                let history = getenv("PBXSIM_HISTORY").map { String(cString: $0) }
                    ?? ((getenv("HOME").map { String(cString: $0) } ?? ".") + "/.pbxsim_history")
                reader = LibEditLineReader(historyPath: history)
                print(style.bold("pbxsim \(PBXSim.version)") + " on \(s.name): \(s.world.pbxs.map(\.name).joined(separator: ", ")); trace in \(db) (run \(session.runID)). Type help.")
            } else {
                reader = PlainLineReader()
            }
            while true {
                completer = session.completer
                guard let line = reader.readLine(prompt: session.prompt) else {
                    if interactive { print("") }
                    break
                }
                if interactive && !line.trimming(" \t").isEmpty { reader.addHistory(line) }
                interruptRequested = false
                if !session.handle(line) { break }
            }
            reader.saveHistory()
            session.finish()
            if session.failed { throw ExitStatus(code: 1) }
        }
    }
}
