import ArgumentParser
import Store
import Export

extension PBXSim {
    struct Flow: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw a recorded call as a ladder (sequence) diagram, in the terminal or as SVG.")

        @Argument(help: "SQLite trace file.")
        var db: String

        @Option(name: .customLong("run"), help: "Run id (default: the last run in the file).")
        var runID: Int64?

        @Option(help: "Call number.")
        var call: Int = 1

        @Option(help: "Write SVG to this file instead of drawing in the terminal.")
        var svg: String?

        func run() throws {
            let reader: TraceReader
            repairCallIndexes(db)
            do { reader = TraceReader(db: try SQLiteDatabase(path: db, readOnly: true)) } catch {
                printError("error: " + databaseProblem(db, error, reading: true)); throw ExitStatus(code: 2)
            }
            let ids: [Int64]
            do { ids = try reader.runIDs() } catch { printError("error: " + databaseProblem(db, error, reading: true)); throw ExitStatus(code: 2) }
            guard let runID = runID ?? ids.last else { printError("error: \(db) holds no run"); throw ExitStatus(code: 2) }
            guard let c = try reader.call(runID: runID, callID: call) else {
                printError("error: \(db): run \(runID) has no call \(call)"); throw ExitStatus(code: 2)
            }
            let ladder = Ladder.build(call: c, rows: try reader.rows(runID: runID, callID: call), hosts: try reader.hosts(runID: runID))
            if let svg {
                guard writeFile(svg, ladder.renderSVG()) else { printError("error: cannot write \(svg)"); throw ExitStatus(code: 2) }
                print("wrote \(svg)")
            } else {
                let width = terminalColumns()
                print(ladder.renderText(color: TextStyle.detect().color, width: width), terminator: "")
                if !ladder.fits(width: width) { print("(the diagram needs more than \(width) columns: pbxsim flow \(db) --call \(call) --svg FILE draws it whole)") }
            }
        }
    }
}
