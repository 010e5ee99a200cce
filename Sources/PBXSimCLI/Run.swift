import ArgumentParser
import CLibEdit
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
            discussion: "Exit status: 0 every expectation held, 1 an expectation failed, 2 invalid input, 3 the trace could not be written (disk full, --max-db-size reached), 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM (the run is marked interrupted).")

        @Argument(help: "Scenario files (YAML) or directories (every *.yaml below them, sorted).")
        var scenarios: [String]

        @Option(help: "Scenarios run at once (default: the number of cores); results and the database are the same for any value.")
        var jobs: Int?

        @Option(help: "Write JUnit XML: one testsuite per scenario file, one testcase per expectation.")
        var junit: String?

        @Option(help: "Write one JSON object per scenario (JSON Lines).")
        var json: String?

        @OptionGroup(title: "Trace database")
        var database: TraceDatabaseOptions
        var db: String { database.db }
        var maxDbSize: ByteSize { database.maxDbSize }

        @Option(help: "Seed for the random streams (overrides the scenario's seed).")
        var seed: UInt64?

        @Flag(name: .shortAndLong, help: "Print only the call summary lines, not their steps.")
        var quiet = false

        @Flag(help: "Print no per-call lines at all: only the run summary and the expectations (for large traffic runs).")
        var summaryOnly = false

        @Flag(help: "Also print steps that belong to no call (registration, DNS, faults).")
        var verbose = false

        @Option(help: "What to record: full (steps and SIP messages with their text), steps (no SIP messages), calls (call rows only).")
        var trace: TraceLevel = .full


        func run() throws {
            // Line-buffered: every line is out as soon as it is printed, even into a pipe.
            pbxsim_line_buffer_stdout()
            // One file: the detailed report of every call. Several files or a directory: the runner.
            let single = scenarios.count == 1 && !isDirectory(scenarios[0]) && junit == nil && json == nil && jobs == nil
            if !single { return try runMany() }
            let s: Scenario
            do { s = try loadScenario(scenarios[0]) } catch let e as ScenarioError { printError("error: \(e)"); throw ExitStatus(code: 2) }
            let store = try openTraceStore(db, maxSize: maxDbSize)
            installStopHandlers()
            deferCallIndexes(store)
            defer { buildDeferredCallIndexes(store, db: db, maxDbSize: maxDbSize) }
            let ok = try runOne(s, store: store)
            if stopRequested() {
                let (code, name) = stopStatus()
                printError("stopped by \(name): what was done is committed in \(db); the run is marked interrupted")
                throw ExitStatus(code: code)
            }
            if !ok { throw ExitStatus(code: 1) }
        }

        /// Ends a run's rows: its summary, expectations, fingerprint (unless interrupted) and status.
        func finishRecordedRun(_ runID: Int64, _ r: RunResult, store: TraceStore) throws {
            try store.recordSummary(runID, r.summaries.flatMap { sm in sm.values.map { (sm.pbx, $0.0, $0.1) } })
            try store.recordExpectations(runID, r.expectations.map { ($0.call, $0.field, $0.expected, $0.actual, $0.held) })
            if !r.interrupted { try store.recordFingerprint(runID, r.fingerprint) }
            try store.finishRun(runID, status: r.status, endedAtUs: r.endTime.microseconds, calls: r.callCount)
        }

        /// Flushes a run's trace; a failure (disk full, size cap) marks the run `trace-error`,
        /// says which, and ends with exit status 3.
        func flushOrStop(_ sink: TraceSink, _ runID: Int64, _ r: RunResult, store: TraceStore) throws {
            do { try sink.flush() } catch {
                printError("error: " + writeFailure(error, store: store, db: db, maxDbSize: maxDbSize) + "; the trace of run \(runID) is incomplete, earlier runs are intact")
                try? store.finishRun(runID, status: "trace-error", endedAtUs: r.endTime.microseconds, calls: r.callCount)
                throw ExitStatus(code: 3)
            }
        }

        /// Opens a scenario's `run` row with its hosts and provenance; returns the run id.
        func beginRecordedRun(_ s: Scenario, store: TraceStore) throws -> Int64 {
            let runID = try store.beginRun(.init(scenario: s.name, seed: seed ?? s.seed, startedAt: startedAtTimestamp(), scenarioFile: s.file,
                                                 scenarioHash: s.sourceHash ?? contentHash(s.source), version: PBXSim.version, tool: "run"))
            try store.recordHosts(runID, ScenarioRunner.hostRoles(s.world))
            try store.recordProvenance(runID, params: s.runParams + [("trace_level", trace.rawValue)], pbxConfigs: ScenarioRunner.pbxConfigJSON(s.world))
            return runID
        }

        func runOne(_ s: Scenario, store: TraceStore) throws -> Bool {
            let useSeed = seed ?? s.seed
            let runID = try beginRecordedRun(s, store: store)
            let sqlSink = try store.makeSink(runID: runID)
            let console = ConsoleTraceSink(style: .detect(), quiet: quiet || summaryOnly, verbose: verbose && !summaryOnly)
            console.silent = summaryOnly
            let sink = FanOutTraceSink([sqlSink, console])
            print(wrapWords(console.style.bold("== \(s.name) (\(s.file)) seed \(useSeed), run \(runID) in \(db)"), width: console.width, firstUsed: 0, indent: 3).joined(separator: "\n"))
            // Progress on a terminal for traffic scenarios: simulated time, calls, calls/s, estimate.
            let statusLine = StatusLine()
            let totalCalls = s.world.traffic.allSatisfy { $0.calls != nil } ? s.world.traffic.reduce(0) { $0 + ($1.calls ?? 0) } : nil
            let endTime = s.until ?? s.world.traffic.compactMap { t in t.duration.map { t.startAt + $0 } }.max()
            let result = ScenarioRunner.run(s, seed: useSeed, sink: sink, traceLevel: trace,
                                            shouldStop: stopRequested, progress: s.world.traffic.isEmpty ? nil : { now, calls in
                statusLine.update({
                    let rate = Double(calls) / statusLine.elapsed
                    var eta = ""
                    if let n = totalCalls, n > 0, rate > 0 { eta = "  ETA \(Int(Double(n - calls) / rate))s" }
                    else if let e = endTime, now.ns > 0 { eta = "  ETA \(Int(statusLine.elapsed * Double(e.ns - now.ns) / Double(now.ns)))s" }
                    return "\(s.name): simulated \(now)  calls \(calls)\(totalCalls.map { "/\($0)" } ?? "")  \(Int(rate)) calls/s\(eta)"
                }())
            })
            statusLine.finish()
            try flushOrStop(sink, runID, result, store: store)
            for e in result.commandErrors { print("warning: \(e)") }
            if result.interrupted {
                print(console.style.red("interrupted by \(stopStatus().name) at simulated time \(result.endTime); the summary so far:"))
            } else if result.hitTimeLimit {
                print(console.style.red("stopped at the simulated-time limit (\(SimTime.maxDuration.durationString), 366 days) with work still pending"))
            } else if result.stoppedAtLimit {
                print("stopped at \(result.endTime) (until) with calls in progress")
            }
            let outcomes = result.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print(wrapWords("\(result.callCount) call(s): \(outcomes.isEmpty ? "none" : outcomes); simulated time \(result.endTime); fingerprint \(result.fingerprint)", width: console.width, firstUsed: 0, indent: 3).joined(separator: "\n"))
            printSummary(result.summaries, style: console.style)
            if !result.expectations.isEmpty {
                print("expectations:")
                for r in result.expectations {
                    let where_ = r.line.map { "\(s.file):\($0): " } ?? ""
                    let subject = PBXSim.Run.subject(r)
                    let line = r.held ? "  " + console.style.green("ok") + "    \(subject) = \(r.actual)"
                        : "  " + console.style.red("FAIL") + "  \(where_)\(subject): expected \(r.expected), actual \(r.actual)"
                    print(wrapWords(line, width: console.width, firstUsed: 0, indent: 8).joined(separator: "\n"))
                    for c in r.context { print(wrapWords("          " + c, width: console.width, firstUsed: 0, indent: 12).joined(separator: "\n")) }
                }
            }
            try finishRecordedRun(runID, result, store: store)
            let held = result.expectations.filter(\.held).count
            if !result.expectations.isEmpty {
                print(result.allHeld ? console.style.green("all \(held) expectation(s) held")
                                     : console.style.red("\(result.expectations.count - held) of \(result.expectations.count) expectation(s) failed"))
            }
            return result.status == "passed"
        }
    }
}

/// The default cap on a trace database's size: far above any run of the bundled scenarios, low
/// enough that a runaway scenario stops before it fills a disk.
let defaultMaxDBSize = ByteSize(bytes: 100 << 30, text: "100G")

/// A size given on the command line: `500M`, `20G`, `1T`, `4096` (bytes), `0` (no limit).
struct ByteSize: CustomStringConvertible, Sendable {
    let bytes: Int64
    let text: String
    var description: String { text }

    /// Parses an option's value; the error names what is expected.
    static func parse(_ s: String) throws -> ByteSize {
        guard let b = parseSize(s) else { throw ValidationError("expected a size like 500M or 20G (or 0), got '\(s)'") }
        return ByteSize(bytes: b, text: s)
    }
}

/// `--shard I/K`: the runs whose index modulo K is I.
struct Shard: CustomStringConvertible, Sendable {
    let part: Int
    let parts: Int
    var description: String { "\(part)/\(parts)" }

    static func parse(_ s: String) throws -> Shard {
        let p = s.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard p.count == 2, let i = p[0], let k = p[1], k > 0, i >= 0, i < k else {
            throw ValidationError("expected I/K with 0 <= I < K, got '\(s)'")
        }
        return Shard(part: i, parts: k)
    }
}

/// Opens (creating or migrating) the trace database with its size cap; a problem is a plain
/// sentence and exit status 2.
func openTraceStore(_ db: String, maxSize: ByteSize) throws -> TraceStore {
    do {
        let store = try TraceStore(path: db)
        try store.setSizeLimit(bytes: maxSize.bytes)
        return store
    } catch {
        printError("error: " + databaseProblem(db, error, reading: false)); throw ExitStatus(code: 2)
    }
}

/// Before a reader opens `db` read-only: builds the call indexes a bulk write stopped before its
/// end left unbuilt (`TraceStore.repairCallIndexes`), and says so.
func repairCallIndexes(_ db: String) {
    let built = TraceStore.repairCallIndexes(path: db)
    if !built.isEmpty {
        printError("note: built the index\(built.count == 1 ? "" : "es") \(built.joined(separator: ", ")) of \(db), which a run stopped before its end had left unbuilt")
    }
}

/// Before a bulk write (`run`, `generate`): into a database with no trace rows yet, the call
/// indexes are built once at the end (`TraceStore.deferCallIndexes`). A failure to defer is no
/// reason to stop: the rows then go in with the indexes kept as they are.
func deferCallIndexes(_ store: TraceStore) {
    _ = try? store.deferCallIndexes()
}

/// After a bulk write: builds the call indexes it deferred, unless a signal stopped the command
/// (the next `pbxsim` to open the file builds them; readers meanwhile do without). A failure
/// (the size cap, a full disk) leaves every run intact and is said, not fatal: readers work
/// without the indexes, more slowly, and the next opening tries again.
func buildDeferredCallIndexes(_ store: TraceStore, db: String, maxDbSize: ByteSize) {
    guard store.callIndexesDeferred, !stopRequested() else { return }
    let status = StatusLine()
    status.update("indexing the trace in \(db) by call")
    defer { status.finish() }
    // Without a terminal (a script, CI) a long build is said once, so that a pause after the
    // summary is explained: it reads every row (about a minute for 1,000,000 failover calls).
    if !status.enabled {
        let rows = ((try? store.db.scalarInt("SELECT (SELECT coalesce(max(rowid), 0) FROM step) + (SELECT coalesce(max(rowid), 0) FROM sip_message)")) ?? nil) ?? 0
        if rows >= 5_000_000 {
            printError("indexing the trace in \(db) by call (\(rows) rows; built once after a bulk write into a new file)")
        }
    }
    do { try store.buildCallIndexes() } catch {
        printError("warning: could not build the call indexes of \(db): " + writeFailure(error, store: store, db: db, maxDbSize: maxDbSize)
                   + "; every run is intact, readers find a call's rows without them (more slowly), and the next pbxsim to open it tries again")
    }
}

/// What went wrong writing a trace: the size cap, a full disk, or another error.
func writeFailure(_ error: Error, store: TraceStore, db: String, maxDbSize: ByteSize) -> String {
    let f = store.fullness(of: error)
    guard f.full else { return "\(db): writing the trace failed: \(error)" }
    return "\(db): " + (f.capReached ? "the database reached its size limit (--max-db-size \(maxDbSize))" : "the disk is full")
}

/// `500M`, `20G`, `1T`, `4096` (bytes), `0` (no limit).
func parseSize(_ s: String) -> Int64? {
    let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    var t = s.uppercased()
    if t.hasSuffix("B") { t.removeLast() }
    var mult: Int64 = 1
    if let u = t.last, let m = units[u] { mult = m; t.removeLast() }
    guard let v = Int64(t), v >= 0 else { return nil }
    let (r, o) = v.multipliedReportingOverflow(by: mult)
    return o ? nil : r
}

/// Reads and validates a scenario file, turning I/O errors into located errors.
func loadScenario(_ path: String) throws -> Scenario {
    let file = try readTextFile(path, what: "a scenario file (YAML)")
    var s = try ScenarioLoader.load(path: path, text: file.text)
    s.sourceHash = file.hash
    return s
}

/// The largest scenario or sweep file pbxsim reads.
let maxInputFileBytes = 4 << 20

/// Reads a scenario or sweep file as a specification would: at most `maxInputFileBytes`, valid
/// UTF-8 (a BOM is skipped), no control characters but tab, CR and LF; a directory, a missing
/// file or a SQLite database each get a plain sentence. The hash is over the bytes as read.
func readTextFile(_ path: String, what: String) throws -> (text: String, hash: String) {
    func fail(_ m: String, line: Int? = nil, column: Int? = nil) -> ScenarioError { ScenarioError(file: path, line: line, column: column, key: "", message: m) }
    guard !path.isEmpty else { throw fail("an empty file name; give \(what)") }
    var st = stat()
    guard stat(path, &st) == 0 else { throw fail("no such file (expected \(what))") }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw fail("is a directory; give \(what) inside it") }
    guard let f = fopen(path, "rb") else { throw fail("cannot be read: \(String(cString: strerror(errno)))") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n > 0 { bytes.append(contentsOf: buf[0..<n]) }
        if bytes.count > maxInputFileBytes { throw fail("larger than \(maxInputFileBytes >> 20) MiB, the most pbxsim reads as \(what)") }
        if n < buf.count { break }
    }
    let hash = contentHash(bytes)
    if bytes.starts(with: Array("SQLite format 3\u{0}".utf8)) {
        throw fail("is a SQLite database (a pbxsim trace?), not \(what); a trace database goes after --db")
    }
    var body = bytes[...]
    if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
    if let bad = firstInvalidUTF8(body) {
        throw fail("not UTF-8 text: invalid byte 0x\(String(bytes[bad], radix: 16, uppercase: true)) at byte offset \(bad)")
    }
    var line = 1, col = 1
    for (i, b) in body.enumerated() {
        if b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D || b == 0x7F {
            throw fail("control character U+\(String(format4(b))) at byte offset \(i + (body.startIndex - bytes.startIndex)); names and values may not hold NUL or other control characters", line: line, column: col)
        }
        if b == 0x0A { line += 1; col = 1 } else if b & 0xC0 != 0x80 { col += 1 }
    }
    return (String(decoding: body, as: UTF8.self), hash)
}

private func format4(_ b: UInt8) -> String { let h = String(b, radix: 16, uppercase: true); return String(repeating: "0", count: 4 - h.count) + h }

/// The index of the first byte that is not part of valid UTF-8, if any.
func firstInvalidUTF8(_ b: ArraySlice<UInt8>) -> Int? {
    var i = b.startIndex
    while i < b.endIndex {
        let c = b[i]
        let n: Int
        if c < 0x80 { n = 1 } else if c & 0xE0 == 0xC0, c >= 0xC2 { n = 2 } else if c & 0xF0 == 0xE0 { n = 3 } else if c & 0xF8 == 0xF0, c <= 0xF4 { n = 4 } else { return i }
        guard i + n <= b.endIndex else { return i }
        for k in 1..<n where b[i + k] & 0xC0 != 0x80 { return i }
        if n == 3 {
            let c1 = b[i + 1]
            if (c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) { return i } // overlong, surrogate
        }
        if n == 4 {
            let c1 = b[i + 1]
            if (c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90) { return i }
        }
        i += n
    }
    return nil
}

/// FNV-1a 64, hex: identifies the exact scenario a run came from.
func contentHash(_ s: String) -> String { contentHash(Array(s.utf8)) }

func contentHash(_ bytes: [UInt8]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
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
    // One table when it fits the terminal; else the fates and the delays as two narrower tables.
    let wide = 14 + 8 * 9 + 2 + 5 * 8 + 27 <= terminalColumns()
    let nameW = wide ? 14 : 12, countW = wide ? 9 : 8
    let counts = ["offered", "ans-sip", "ans-pub", "rerouted", "blocked", "busy", "no-ans", "failed"].map { pad($0, countW) }.joined()
    let delays = ["pdd-mean", "p50", "p95", "p99", "max"].map { pad($0, 8) }.joined() + "   trunk mean/peak/channels"
    let shown = active.filter { !($0.pbx == "(all)" && active.count == 2) }
    func countCells(_ r: PBXSummary) -> String {
        [r.offered, r.answeredSIP, r.answeredPublic, r.rerouted, r.blocked, r.busy, r.noAnswer, r.failed + r.rejected + r.abandoned].map { pad(String($0), countW) }.joined()
    }
    func delayCells(_ r: PBXSummary) -> String {
        [r.pddMean, r.pddP50, r.pddP95, r.pddP99, r.pddMax].map { pad(t($0), 8) }.joined()
            + "   " + String((r.trunkMean * 100).rounded() / 100) + "/\(r.trunkPeak)/\(r.trunkChannels)"
    }
    if wide {
        print(style.bold(ConsoleTraceSink.pad("summary", nameW) + counts + "  " + delays))
        for r in shown { print(ConsoleTraceSink.pad(r.pbx, nameW) + countCells(r) + "  " + delayCells(r)) }
    } else {
        print(style.bold(ConsoleTraceSink.pad("summary", nameW) + counts))
        for r in shown { print(ConsoleTraceSink.pad(r.pbx, nameW) + countCells(r)) }
        print(style.bold(ConsoleTraceSink.pad("", nameW) + delays))
        for r in shown { print(ConsoleTraceSink.pad(r.pbx, nameW) + delayCells(r)) }
    }
}
