import Dispatch
import Export
import Scenario
import Store
import Trace
import SimCore
#if canImport(Glibc)
import Glibc
#endif

/// Whether a path is a directory.
func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// Every `*.yaml` below a directory, sorted; a file as itself.
func expandScenarioPaths(_ paths: [String]) -> [String] {
    var out: [String] = []
    for p in paths {
        guard isDirectory(p) else { out.append(p); continue }
        var found: [String] = []
        func walk(_ dir: String) {
            guard let d = opendir(dir) else { return }
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name.hasPrefix(".") { continue }
                let full = (dir.hasSuffix("/") ? dir : dir + "/") + name
                if isDirectory(full) { walk(full) } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml") { found.append(full) }
            }
        }
        walk(p)
        out += found.sorted()
    }
    return out
}

/// What one scenario of a runner invocation came to.
struct ScenarioOutcome {
    var file: String
    var scenario: Scenario?
    var error: ScenarioError?
    var result: RunResult?
    var events: [TraceEvent] = []
    var runID: Int64?
    var wallSeconds = 0.0
    var status: String { error != nil ? "invalid" : result?.status ?? "interrupted" }
}

final class OutcomeBox: @unchecked Sendable {
    private var items: [Int: ScenarioOutcome] = [:]
    private let lock = NSLockLike()
    func put(_ i: Int, _ o: ScenarioOutcome) { lock.locked { items[i] = o } }
    func take(_ i: Int) -> ScenarioOutcome? { lock.locked { items.removeValue(forKey: i) } }
}

extension PBXSim.Run {
    /// The runner: every scenario of the files and directories given, one line each, a tally,
    /// JUnit XML and JSON Lines on request. Scenarios are simulated `--jobs` at a time (each
    /// trace kept in memory until written) and written to the database in file order, so the
    /// output and the database are the same for any number of jobs.
    func runMany() throws {
        let files = expandScenarioPaths(scenarios)
        guard !files.isEmpty else { printError("error: no *.yaml scenario under \(scenarios.joined(separator: ", "))"); throw ExitStatus(code: 2) }
        let level = trace
        let threads = jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        guard threads >= 1, threads <= 1024 else { printError("error: --jobs must be 1 to 1024, got \(threads)"); throw ExitStatus(code: 2) }
        let store = try openTraceStore(db, maxSize: maxDbSize)
        installStopHandlers()
        deferCallIndexes(store)
        defer { buildDeferredCallIndexes(store, db: db, maxDbSize: maxDbSize) }
        let style = TextStyle.detect()
        let width = terminalColumns()
        let start = StatusLine.now()
        var outcomes: [ScenarioOutcome] = []
        var pos = 0
        while pos < files.count && !stopRequested() {
            let chunk = Array(files[pos..<min(files.count, pos + threads)])
            let box = OutcomeBox()
            let seedOverride = seed
            DispatchQueue.concurrentPerform(iterations: chunk.count) { k in
                var o = ScenarioOutcome(file: chunk[k])
                let t0 = StatusLine.now()
                do {
                    let s = try loadScenario(chunk[k])
                    o.scenario = s
                    let sink = MemoryTraceSink()
                    o.result = ScenarioRunner.run(s, seed: seedOverride ?? s.seed, sink: sink, traceLevel: level, shouldStop: stopRequested)
                    o.events = sink.events
                } catch let e as ScenarioError {
                    o.error = e
                } catch {
                    o.error = ScenarioError(file: chunk[k], line: nil, column: nil, key: "", message: "\(error)")
                }
                o.wallSeconds = StatusLine.now() - t0
                box.put(k, o)
            }
            for k in chunk.indices {
                var o = box.take(k)!
                if let s = o.scenario, let r = o.result { o.runID = try write(s, r, o.events, store: store) }
                o.events = []
                printLine(o, style: style, width: width)
                outcomes.append(o)
            }
            pos += chunk.count
        }
        let passed = outcomes.filter { $0.status == "passed" }.count, failed = outcomes.filter { $0.status == "failed" }.count
        let invalid = outcomes.filter { $0.status == "invalid" }.count
        let calls = outcomes.reduce(0) { $0 + ($1.result?.callCount ?? 0) }
        let tally = "\(outcomes.count) scenario(s): \(passed) passed, \(failed) failed, \(invalid) invalid; \(calls) call(s); "
            + "\(format1(StatusLine.now() - start))s" + (outcomes.count < files.count ? "; \(files.count - outcomes.count) not run" : "")
        print(style.bold(tally))
        if let path = junit { guard writeFile(path, junitXML(outcomes)) else { printError("error: cannot write \(path)"); throw ExitStatus(code: 2) } }
        if let path = json { guard writeFile(path, jsonLines(outcomes)) else { printError("error: cannot write \(path)"); throw ExitStatus(code: 2) } }
        if stopRequested() {
            let (code, name) = stopStatus()
            printError("stopped by \(name): the scenarios run so far are recorded in \(db)")
            throw ExitStatus(code: code)
        }
        if invalid > 0 { throw ExitStatus(code: 2) }
        if failed > 0 { throw ExitStatus(code: 1) }
    }

    /// Writes one scenario's run: its rows, summary, expectations, fingerprint and status.
    func write(_ s: Scenario, _ r: RunResult, _ events: [TraceEvent], store: TraceStore) throws -> Int64 {
        let runID = try beginRecordedRun(s, store: store)
        let sink = try store.makeSink(runID: runID)
        for e in events { sink.record(e) }
        try flushOrStop(sink, runID, r, store: store)
        try finishRecordedRun(runID, r, store: store)
        return runID
    }

    /// How an expectation is named: `call 1 route`, or the trace-level field itself.
    static func subject(_ e: ExpectationResult) -> String {
        e.call == 0 || e.field.contains(" ") ? e.field : "call \(e.call) \(e.field)"
    }

    /// `PASS  file  N calls  simulated T  wall W`, failures and errors indented below.
    func printLine(_ o: ScenarioOutcome, style: TextStyle, width: Int) {
        var lines: [String] = []
        switch o.status {
        case "invalid":
            lines.append(style.red("ERROR") + " \(o.file)")
            lines += wrapWords("      \(o.error!)", width: width, firstUsed: 0, indent: 8)
        default:
            let r = o.result!
            let tag = o.status == "passed" ? style.green("PASS ") : o.status == "failed" ? style.red("FAIL ") : style.yellow("STOP ")
            let n = r.expectations.count
            var line = "\(tag) \(o.file)  \(r.callCount) calls  \(r.endTime.formatSeconds(precision: 1)) sim  \(format1(o.wallSeconds))s wall  "
                + "\(r.expectations.filter(\.held).count)/\(n) ok"
            if visibleCount(line) + 23 <= width { line += "  " + r.fingerprint }
            lines += wrapWords(line, width: width, firstUsed: 0, indent: 6)
            if r.hitTimeLimit { lines.append("      stopped at the simulated-time limit (366 days) with work still pending") }
            for e in r.expectations where !e.held {
                let at = e.line.map { "\(o.file):\($0): " } ?? ""
                lines += wrapWords("      \(at)\(Self.subject(e)): expected \(e.expected), actual \(e.actual)", width: width, firstUsed: 0, indent: 8)
                for c in e.context { lines += wrapWords("          " + c, width: width, firstUsed: 0, indent: 12) }
            }
        }
        for l in lines { print(l) }
    }

    func junitXML(_ outcomes: [ScenarioOutcome]) -> String {
        func x(_ s: String) -> String { esc(s) }
        var o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let tests = outcomes.reduce(0) { $0 + max(1, $1.result?.expectations.count ?? 1) }
        let failures = outcomes.reduce(0) { $0 + ($1.result?.expectations.filter { !$0.held }.count ?? 0) }
        let errors = outcomes.filter { $0.error != nil }.count
        let time = outcomes.reduce(0.0) { $0 + $1.wallSeconds }
        o += "<testsuites name=\"pbxsim\" tests=\"\(tests)\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(Report.format3(time))\">\n"
        for out in outcomes {
            let name = out.scenario?.name ?? out.file
            if let e = out.error {
                o += "  <testsuite name=\"\(x(out.file))\" tests=\"1\" failures=\"0\" errors=\"1\" time=\"\(Report.format3(out.wallSeconds))\">\n"
                o += "    <testcase classname=\"\(x(name))\" name=\"load\" time=\"0\"><error message=\"\(x(e.message))\" type=\"invalid\">\(x(e.description))</error></testcase>\n"
                o += "  </testsuite>\n"
                continue
            }
            guard let r = out.result else { continue }
            let f = r.expectations.filter { !$0.held }.count
            let cases = r.expectations.isEmpty ? 1 : r.expectations.count
            o += "  <testsuite name=\"\(x(out.file))\" tests=\"\(cases)\" failures=\"\(f)\" errors=\"0\" time=\"\(Report.format3(out.wallSeconds))\">\n"
            o += "    <properties><property name=\"fingerprint\" value=\"\(r.fingerprint)\"/><property name=\"calls\" value=\"\(r.callCount)\"/></properties>\n"
            if r.expectations.isEmpty { o += "    <testcase classname=\"\(x(name))\" name=\"runs\" time=\"0\"/>\n" }
            for e in r.expectations {
                o += "    <testcase classname=\"\(x(name))\" name=\"\(x(Self.subject(e)))\" time=\"0\""
                if e.held { o += "/>\n"; continue }
                let at = e.line.map { "\(out.file):\($0): " } ?? ""
                o += "><failure message=\"expected \(x(e.expected)), actual \(x(e.actual))\" type=\"expectation\">\(x(at + Self.subject(e))): expected \(x(e.expected)), actual \(x(e.actual))</failure></testcase>\n"
            }
            o += "  </testsuite>\n"
        }
        return o + "</testsuites>\n"
    }

    func jsonLines(_ outcomes: [ScenarioOutcome]) -> String {
        var out = ""
        for o in outcomes {
            var j = JSONObject()
            j.add("file", o.file)
            j.add("scenario", o.scenario?.name)
            j.add("status", o.status)
            j.add("run_id", o.runID)
            j.add("calls", o.result?.callCount)
            j.add("simulated_s", o.result.map { $0.endTime.seconds })
            j.add("wall_s", (o.wallSeconds * 1000).rounded() / 1000)
            j.add("fingerprint", o.result?.fingerprint)
            j.add("error", o.error?.description)
            let exps = (o.result?.expectations ?? []).map { e -> String in
                var x = JSONObject()
                x.add("subject", Self.subject(e)); x.add("expected", e.expected); x.add("actual", e.actual); x.add("held", e.held); x.add("line", e.line)
                return x.text
            }
            j.addRaw("expectations", JSON.rawArray(exps))
            out += j.text + "\n"
        }
        return out
    }
}
