import ArgumentParser
import Store
import Export

extension PBXSim {
    struct ExportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Export recorded runs for training or analysis: jsonl, episodes, csv, pcap.",
            discussion: """
                jsonl: one object per step or SIP message. episodes: one object per call (inputs at dial time, \
                attempts, steps, labels). csv: two files, OUT-calls.csv and OUT-steps.csv (needs --out). \
                pcap: every SIP message as a UDP packet over IPv4 or IPv6 (needs --out; runs on their own days, Call-IDs made unique per run). \
                Streams: constant memory. Exit status: 0 written, 2 invalid input, 130/143/129 stopped by a signal (whole lines kept).
                """)

        @Argument(help: "SQLite trace file.")
        var db: String

        @Option(name: .customLong("run"), parsing: .upToNextOption, help: "Run ids to export (default: all).")
        var runs: [Int64] = []

        @Option(help: "jsonl (one object per step), episodes (one per call), csv (two files) or pcap.")
        var format: ExportFormat

        @Option(help: "Output file (csv: prefix of the two files). Standard output when omitted (jsonl, episodes).")
        var out: String?

        @Flag(help: "Add a split column (train/validation/test) by a stable hash of the run.")
        var split = false

        @Option(help: "Train and validation percentages for --split (test takes the rest).")
        var splitRatios: String = "80,10"

        @Flag(help: "pcap: leave out messages the network dropped.")
        var deliveredOnly = false

        func run() throws {
            let database: SQLiteDatabase
            repairCallIndexes(db)
            do { database = try SQLiteDatabase(path: db, readOnly: true) } catch {
                printError("error: " + databaseProblem(db, error, reading: true)); throw ExitStatus(code: 2)
            }
            var exporter: Exporter
            do { exporter = try Exporter(db: database, runs: runs.isEmpty ? nil : runs, split: split) } catch let e as ExportError {
                printError("error: \(db): \(e)"); throw ExitStatus(code: 2)
            } catch {
                printError("error: " + databaseProblem(db, error, reading: true)); throw ExitStatus(code: 2)
            }
            let ratios = splitRatios.split(separator: ",").compactMap { Int($0) }
            guard ratios.count == 2, ratios[0] >= 0, ratios[1] >= 0, ratios[0] + ratios[1] <= 100 else {
                printError("error: --split-ratios: expected TRAIN,VALIDATION percentages, got '\(splitRatios)'"); throw ExitStatus(code: 2)
            }
            exporter.splitRatios = (ratios[0], ratios[1])
            installStopHandlers()
            // Progress on a terminal: rows done (steps and SIP messages, or calls for episodes),
            // rows/s and an estimate; the total comes from each run's last seq (an index lookup).
            let statusLine = StatusLine()
            let totalRows = exporter.runs.reduce(Int64(0)) { t, r in
                t + ((try? database.scalarInt(format == .episodes ? "SELECT count(*) FROM call WHERE run_id = \(r)" : "SELECT max(seq) FROM step WHERE run_id = \(r)")) ?? 0)
            }
            var rows: Int64 = 0
            exporter.shouldStop = {
                rows += 1
                if rows & 0x3ff == 0 {
                    statusLine.update({
                        let rate = Double(rows) / statusLine.elapsed
                        let eta = totalRows > rows && rate > 0 ? "  ETA \(Int(Double(totalRows - rows) / rate))s" : ""
                        return "export \(format): \(rows)/\(totalRows) \(format == .episodes ? "calls" : "rows")  \(Int(rate))/s\(eta)"
                    }())
                }
                return stopRequested()
            }
            defer { statusLine.finish() }
            // Runs that did not finish are exported as they are, and said so.
            for r in try database.rows("SELECT run_id, status, writer FROM run ORDER BY run_id") {
                guard let id = r[0].flatMap({ Int64($0) }), exporter.runs.contains(id) else { continue }
                let status = RunLiveness.status(r[1] ?? "", writer: r[2])
                if status == "interrupted" || status == "running" {
                    printError("warning: run \(id) is \(status == "running" ? "still being written" : "interrupted"): its rows are partial")
                }
            }
            do {
                switch format {
                case .jsonl:
                    let o = try OutputFile(path: out); try exporter.jsonl(to: o); try o.close()
                case .episodes:
                    let o = try OutputFile(path: out); try exporter.episodes(to: o); try o.close()
                case .csv:
                    guard let prefix = out else { throw ExportError.needsOutput("csv writes two files: give --out PREFIX") }
                    let c = try OutputFile(path: prefix + "-calls.csv"), s = try OutputFile(path: prefix + "-steps.csv")
                    try exporter.csv(calls: c, steps: s)
                    try c.close(); try s.close()
                case .pcap:
                    guard let path = out else { throw ExportError.needsOutput("pcap is binary: give --out FILE") }
                    let o = try OutputFile(path: path)
                    do { try exporter.pcap(to: o, deliveredOnly: deliveredOnly) } catch { o.discard(); throw error }
                    try o.close()
                }
                statusLine.finish()
                let written = out.map { format == .csv ? fileBytes($0 + "-calls.csv") + fileBytes($0 + "-steps.csv") : fileBytes($0) }.map { ", " + byteCount($0) } ?? ""
                printError("exported \(exporter.runs.count) run(s) as \(format)" + (out.map { " to \($0)" } ?? "") + written)
            } catch ExportError.interrupted {
                let (code, name) = stopStatus()
                printError("stopped by \(name): the output holds what was exported so far (whole lines/records)")
                throw ExitStatus(code: code)
            } catch let e as ExportError {
                printError("error: \(e)"); throw ExitStatus(code: 2)
            }
        }
    }
}

/// `export --format`, checked by the argument parser (its error names the four choices).
enum ExportFormat: String, CaseIterable, ExpressibleByArgument, CustomStringConvertible {
    case jsonl, episodes, csv, pcap
    var description: String { rawValue }
}
