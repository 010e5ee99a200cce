import ArgumentParser
import Scenario
import Store
import Trace
import SimCore
import Telephony
#if canImport(Glibc)
import Glibc
#endif

extension PBXSim {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run scenario files, record every step in SQLite and check their expectations.",
            discussion: "Exit status: 0 every expectation held, 1 an expectation failed, 2 invalid input.")

        @Argument(help: "Scenario files (YAML).")
        var scenarios: [String]

        @Option(help: "SQLite file to append the trace to.")
        var db: String = "pbxsim.sqlite"

        @Option(help: "Seed for the random streams (overrides the scenario's seed).")
        var seed: UInt64?

        @Flag(name: .shortAndLong, help: "Print only the call summary lines, not their steps.")
        var quiet = false

        @Flag(help: "Print no per-call lines at all: only the run summary and the expectations (for large traffic runs).")
        var summaryOnly = false

        @Flag(help: "Also print steps that belong to no call (registration, DNS, faults).")
        var verbose = false

        @Option(help: "What to record: full (steps and SIP messages with their text), steps (no SIP messages), calls (call rows only).")
        var trace: String = "full"

        func run() throws {
            var loaded: [Scenario] = []
            var invalid = false
            for path in scenarios {
                do {
                    loaded.append(try loadScenario(path))
                } catch let e as ScenarioError {
                    printError("error: \(e)")
                    invalid = true
                }
            }
            if invalid { throw ExitStatus(code: 2) }
            guard TraceLevel(rawValue: trace) != nil else {
                printError("error: --trace: expected full, steps or calls, got '\(trace)'")
                throw ExitStatus(code: 2)
            }
            let store: TraceStore
            do { store = try TraceStore(path: db) } catch {
                printError("error: \(db): cannot open the trace database: \(error)")
                throw ExitStatus(code: 2)
            }
            var failed = false
            for s in loaded {
                let ok = try runOne(s, store: store)
                if !ok { failed = true }
            }
            if failed { throw ExitStatus(code: 1) }
        }

        func runOne(_ s: Scenario, store: TraceStore) throws -> Bool {
            let useSeed = seed ?? s.seed
            let runID = try store.beginRun(.init(scenario: s.name, seed: useSeed, startedAt: startedAtTimestamp(), scenarioFile: s.file,
                                                 scenarioHash: contentHash(s.source), version: PBXSim.version, tool: "run"))
            try store.recordHosts(runID, ScenarioRunner.hostRoles(s.world))
            try store.recordProvenance(runID, params: s.runParams + [("trace_level", trace)], pbxConfigs: ScenarioRunner.pbxConfigJSON(s.world))
            let sqlSink = try store.makeSink(runID: runID)
            let console = ConsoleTraceSink(style: .detect(), quiet: quiet || summaryOnly, verbose: verbose && !summaryOnly)
            console.silent = summaryOnly
            let sink = FanOutTraceSink([sqlSink, console])
            print(console.style.bold("== \(s.name) (\(s.file)) seed \(useSeed), run \(runID) in \(db)"))
            let result = ScenarioRunner.run(s, seed: useSeed, sink: sink, traceLevel: TraceLevel(rawValue: trace) ?? .full)
            var status = "completed"
            do { try sink.flush() } catch {
                printError("error: writing the trace to \(db) failed: \(error)")
                status = "trace-error"
            }
            for e in result.commandErrors { print("warning: \(e)") }
            if result.stoppedAtLimit { print("stopped at \(result.endTime) (until) with calls in progress") }
            let outcomes = result.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print("\(result.callCount) call(s): \(outcomes.isEmpty ? "none" : outcomes); simulated time \(result.endTime)")
            printSummary(result.summaries, style: console.style)
            try store.recordSummary(runID, result.summaries.flatMap { sm in sm.values.map { (sm.pbx, $0.0, $0.1) } })
            if !result.expectations.isEmpty {
                print("expectations:")
                for r in result.expectations {
                    let where_ = r.line.map { "\(s.file):\($0): " } ?? ""
                    let subject = r.field.hasPrefix("summary ") ? r.field : "call \(r.call) \(r.field)"
                    if r.held {
                        print("  " + console.style.green("ok") + "    \(subject) = \(r.actual)")
                    } else {
                        print("  " + console.style.red("FAIL") + "  \(where_)\(subject): expected \(r.expected), actual \(r.actual)")
                    }
                }
            }
            try store.recordExpectations(runID, result.expectations.map { ($0.call, $0.field, $0.expected, $0.actual, $0.held) })
            if status == "completed" { status = result.allHeld ? "passed" : "failed" }
            try store.finishRun(runID, status: status, endedAtUs: result.endTime.microseconds, calls: result.callCount)
            let held = result.expectations.filter(\.held).count
            if !result.expectations.isEmpty {
                print(result.allHeld ? console.style.green("all \(held) expectation(s) held")
                                     : console.style.red("\(result.expectations.count - held) of \(result.expectations.count) expectation(s) failed"))
            }
            return result.allHeld && status != "trace-error"
        }
    }
}

/// Reads and validates a scenario file, turning I/O errors into located errors.
func loadScenario(_ path: String) throws -> Scenario {
    guard let text = readFile(path) else {
        throw ScenarioError(file: path, line: nil, column: nil, key: "", message: "cannot read the file")
    }
    return try ScenarioLoader.load(path: path, text: text)
}

func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
        if n < buf.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// FNV-1a 64 of the scenario text, hex: identifies the exact scenario a run came from.
func contentHash(_ s: String) -> String {
    let h = RandomStreams.fnv1a64(s)
    let hex = String(h, radix: 16)
    return "fnv1a64:" + String(repeating: "0", count: 16 - hex.count) + hex
}

/// Wall-clock time of the run in ISO 8601 UTC; `SOURCE_DATE_EPOCH` pins it for reproducible
/// databases.
func startedAtTimestamp() -> String {
    var t = time(nil)
    if let e = getenv("SOURCE_DATE_EPOCH"), let v = Int(String(cString: e)) { t = time_t(v) }
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func p(_ v: Int32, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
    return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec))Z"
}

/// The run summary table: one line per PBX with calls offered and their fate, post-dial delay
/// percentiles and trunk occupancy.
func printSummary(_ rows: [PBXSummary], style: TextStyle) {
    let active = rows.filter { $0.offered > 0 || $0.pbx == "(all)" }
    guard let all = active.last, all.offered > 0 else { return }
    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
    func t(_ x: SimTime?) -> String { x.map { $0.formatSeconds(precision: 3) } ?? "-" }
    let header = ConsoleTraceSink.pad("summary", 14)
        + ["offered", "ans-sip", "ans-pub", "rerouted", "blocked", "busy", "no-ans", "failed"].map { pad($0, 9) }.joined()
        + "  " + ["pdd-mean", "p50", "p95", "p99", "max"].map { pad($0, 8) }.joined()
        + "   trunk mean/peak/channels"
    print(style.bold(header))
    for r in active where !(r.pbx == "(all)" && active.count == 2) {
        var l = ConsoleTraceSink.pad(r.pbx, 14)
        l += [r.offered, r.answeredSIP, r.answeredPublic, r.rerouted, r.blocked, r.busy, r.noAnswer, r.failed + r.rejected + r.abandoned].map { pad(String($0), 9) }.joined()
        l += "  " + [r.pddMean, r.pddP50, r.pddP95, r.pddP99, r.pddMax].map { pad(t($0), 8) }.joined()
        l += "   " + String((r.trunkMean * 100).rounded() / 100) + "/\(r.trunkPeak)/\(r.trunkChannels)"
        print(l)
    }
}
