import ArgumentParser
import Dispatch
import Scenario
import Store
import Trace
import SimCore
#if canImport(Glibc)
import Glibc
#endif

/// What one simulated run produced, waiting to be written in run-index order.
struct RunOutput: Sendable {
    var index: Int
    var scenario: Scenario
    var params: [(String, String)]
    var events: [TraceEvent]
    var callCount: Int
    var endTime: SimTime
    /// The trace's fingerprint, computed by the worker that simulated the run (off the writer).
    var fingerprint: String
}

/// The simulation side of `generate`: worker threads take run positions in order, one at a time,
/// and leave each result for the writer, who takes them back in order. Workers wait while they
/// are `ahead` runs beyond what is written (bounded memory) and stop when cancelled.
final class RunPipeline: @unchecked Sendable {
    typealias Outcome = Result<RunOutput?, ScenarioError>
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var next = 0
    private var writtenUpTo = 0
    private var cancelled = false
    private var results: [Int: Outcome] = [:]
    private let count: Int
    private let ahead: Int
    private let group = DispatchGroup()

    init(count: Int, ahead: Int) {
        self.count = count
        self.ahead = ahead
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
    }
    deinit { pthread_cond_destroy(&changed); pthread_mutex_destroy(&mutex) }

    private func locked<T>(_ body: () -> T) -> T { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return body() }

    /// Starts `workers` threads (serial queues: each its own thread) running `run` on positions.
    func start(workers: Int, _ run: @escaping @Sendable (Int) -> Outcome) {
        for w in 0..<workers {
            DispatchQueue(label: "pbxsim.generate.worker-\(w)").async(group: group) { [self] in
                while let k = claim() {
                    let r = run(k)
                    locked { results[k] = r; pthread_cond_broadcast(&changed) }
                }
            }
        }
    }

    /// The next position to simulate; nil when there is none left or the pipeline is cancelled.
    private func claim() -> Int? {
        locked {
            while !cancelled && next < count && next - writtenUpTo >= ahead { pthread_cond_wait(&changed, &mutex) }
            guard !cancelled, next < count else { return nil }
            next += 1
            return next - 1
        }
    }

    /// The results from position `k` on that are ready, in order (at least one: waits for it),
    /// at most `max`.
    func takeReady(from k: Int, max: Int) -> [Outcome] {
        locked {
            while results[k] == nil { pthread_cond_wait(&changed, &mutex) }
            var out: [Outcome] = []
            var j = k
            while out.count < max, let r = results.removeValue(forKey: j) { out.append(r); j += 1 }
            return out
        }
    }

    /// The writer has written every position before `k`: workers may go further.
    func written(upTo k: Int) { locked { writtenUpTo = k; pthread_cond_broadcast(&changed) } }

    func cancel() { locked { cancelled = true; pthread_cond_broadcast(&changed) } }

    /// Waits for the workers to finish their current run and stop.
    func join() { group.wait() }
}

/// A pthread mutex (Foundation-free).
final class NSLockLike: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func locked<T>(_ body: () -> T) -> T { pthread_mutex_lock(&m); defer { pthread_mutex_unlock(&m) }; return body() }
}

extension PBXSim {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a dataset: many runs of a sweep file, each reproducible from (seed, run index).",
            discussion: """
                --shard I/K keeps the runs whose index modulo K is I (I from 0 to K-1): K machines or array-job \
                tasks build disjoint slices that `pbxsim merge` joins into the same database one machine would build. \
                Runs are simulated on --jobs threads and written in run-index order; run ids are run index + 1.
                """)

        @Argument(help: "Sweep file (YAML).")
        var sweep: String

        @Option(help: "Number of runs in the whole dataset (before sharding).")
        var runs: Int

        @Option(help: "SQLite file to write.")
        var db: String

        @Option(help: "Dataset seed (default 1).")
        var seed: UInt64 = 1

        @Option(help: ArgumentHelp("Generate only the runs with index % K == I.", valueName: "I/K"), transform: Shard.parse)
        var shard: Shard?

        @Option(help: "Simulation threads (default: the number of CPU cores minus one, at least one: the writer is a core's worth of work).")
        var jobs: Int?

        @Option(help: "What to record: full (steps and SIP messages with their text), steps (no SIP messages), calls (call rows only).")
        var trace: TraceLevel = .full

        @Option(help: ArgumentHelp("Largest the database file may grow to (e.g. 500M, 20G; 0 for no limit). Passing it stops with exit status 3; completed runs stay intact.", valueName: "size"), transform: ByteSize.parse)
        var maxDbSize: ByteSize = defaultMaxDBSize

        func run() throws {
            let sw: Sweep
            var sweepFileHash = ""
            do {
                let file = try readTextFile(sweep, what: "a sweep file (YAML)")
                sw = try SweepLoader.load(path: sweep, text: file.text, readFile: { try? readTextFile($0, what: "a scenario file (YAML)").text })
                sweepFileHash = file.hash
            } catch let e as ScenarioError {
                printError("error: \(e)"); throw ExitStatus(code: 2)
            }
            guard runs > 0, runs <= 10_000_000 else { printError("error: --runs must be 1 to 10000000, got \(runs)"); throw ExitStatus(code: 2) }
            if let j = jobs, j < 1 || j > 1024 { printError("error: --jobs must be 1 to 1024, got \(j)"); throw ExitStatus(code: 2) }
            let level = trace
            let part = shard?.part ?? 0, parts = shard?.parts ?? 1
            var indices = (0..<runs).filter { $0 % parts == part }
            let store = try openTraceStore(db, maxSize: maxDbSize)
            // Resume: runs of this sweep and seed already completed are kept; runs it left
            // unfinished (interrupted, or running with no live writer) are dropped and redone; a
            // run id held by anything else is a clash.
            let wanted = Set(indices.map { Int64($0 + 1) })
            var done = Set<Int>()
            for r in try store.db.rows("SELECT run_id, status, sweep_hash, writer, (SELECT value FROM run_param p WHERE p.run_id = run.run_id AND p.name = 'dataset_seed') FROM run") {
                guard let id = r[0].flatMap({ Int64($0) }), wanted.contains(id) else { continue }
                let status = RunLiveness.status(r[1] ?? "", writer: r[3])
                let ours = r[2] == sweepFileHash && r[4] == String(seed)
                if ours && status == "completed" { done.insert(Int(id - 1)); continue }
                if ours && status == "interrupted" { try store.deleteRun(id); continue }
                printError("error: \(db): run id \(id) is taken by " + (ours ? "a run still being written (status \(status))" : "a run of another sweep or seed")
                           + "; give another --db (generate numbers runs by index)")
                throw ExitStatus(code: 2)
            }
            if !done.isEmpty {
                print("resuming: \(done.count) of \(indices.count) run(s) already in \(db)")
                indices = indices.filter { !done.contains($0) }
            }
            installStopHandlers()
            deferCallIndexes(store)
            defer { buildDeferredCallIndexes(store, db: db, maxDbSize: maxDbSize) }
            // Writing the runs in order is itself about a core's worth of work (docs/performance.md):
            // by default one worker fewer than cores, so that the workers and the writer each have one.
            let threads = max(1, jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1)
            let progress = Progress(total: indices.count, label: "\(sw.name) seed \(seed)" + (shard.map { " shard \($0)" } ?? ""))
            let sweepHash = sweepFileHash
            let startedAt = startedAtTimestamp()
            // The --jobs workers simulate runs, each taking the next one not yet taken (no barrier
            // between batches); this thread writes them in run-index order as they are ready, up to
            // `batch` runs per transaction (a failure or a kill loses at most those, which a rerun
            // redoes). Workers stay at most `ahead` runs beyond the writer, so memory stays bounded.
            let batch = 64
            let pipeline = RunPipeline(count: indices.count, ahead: max(128, threads * 32))
            let seed = self.seed
            let todo = indices
            pipeline.start(workers: threads) { k in
                let i = todo[k]
                if stopRequested() { return .success(nil) }
                do {
                    let (s, params) = try sw.scenario(run: i, seed: seed)
                    let sink = MemoryTraceSink()
                    let world = ScenarioRunner.makeWorld(s, sink: sink, traceLevel: level)
                    world.runUntilQuiet(limit: SimTime.maxDuration, shouldStop: stopRequested)
                    if stopRequested() { return .success(nil) }
                    world.recordCallsInProgress()
                    return .success(RunOutput(index: i, scenario: s, params: params, events: sink.events,
                                              callCount: world.callCount, endTime: world.now,
                                              fingerprint: TraceFingerprint.of(sink.events)))
                } catch let e as ScenarioError {
                    return .failure(e)
                } catch {
                    return .failure(ScenarioError(file: sw.file, line: nil, column: nil, key: "", message: "\(error)"))
                }
            }
            // Every way out (done, a failure, a signal) stops the workers and waits for them.
            defer { pipeline.cancel(); pipeline.join() }
            var written = 0
            var stopped = false
            while written < indices.count && !stopped {
                var outs: [RunOutput] = []
                for r in pipeline.takeReady(from: written, max: batch) {
                    switch r {
                    case .failure(let e):
                        printError("error: run \(todo[written + outs.count]): \(e)"); throw ExitStatus(code: 2)
                    case .success(let out?): outs.append(out)
                    case .success(nil): stopped = true // stopped by a signal before it finished: not written
                    }
                    if stopped { break }
                }
                var failedAt: Int?
                do {
                    try store.transaction {
                        for out in outs {
                            failedAt = out.index
                            try write(out, store: store, sweepHash: sweepHash, startedAt: startedAt)
                        }
                    }
                } catch {
                    // The batch's transaction rolled back: none of its runs is in the database.
                    let index = failedAt ?? todo[written]
                    let ids = outs.map { $0.index + 1 }
                    printError("error: " + writeFailure(error, store: store, db: db, maxDbSize: maxDbSize)
                               + " while writing run \(index + 1); its batch of \(ids.count) run(s) (ids \(ids.first ?? index + 1)-\(ids.last ?? index + 1)) is not written,"
                               + " the \(written + done.count) run(s) before it are intact; run the same command again to write the rest")
                    throw ExitStatus(code: 3)
                }
                written += outs.count
                pipeline.written(upTo: written)
                progress.update(written)
                if stopped || stopRequested() {
                    progress.finish()
                    let (code, name) = stopStatus()
                    printError("stopped by \(name): \(written + done.count) of \(indices.count + done.count) run(s) are complete in \(db); run the same command again to resume")
                    throw ExitStatus(code: code)
                }
            }
            progress.finish()
            buildDeferredCallIndexes(store, db: db, maxDbSize: maxDbSize)
            let calls = try store.db.scalarInt("SELECT coalesce(sum(calls), 0) FROM run WHERE sweep_hash = ?", [.text(sweepHash)]) ?? 0
            print("made \(written) run(s)\(done.isEmpty ? "" : " (\(done.count) already there)"), \(calls) call(s) in all; \(db) is \(byteCount(fileBytes(db)))")
        }

        func write(_ out: RunOutput, store: TraceStore, sweepHash: String, startedAt: String) throws {
            let s = out.scenario
            let runID = try store.beginRun(.init(scenario: s.name, seed: s.seed, startedAt: startedAt, scenarioFile: s.file,
                                                 scenarioHash: contentHash(s.source), version: PBXSim.version, tool: "generate",
                                                 sweepFile: sweep, sweepHash: sweepHash, runIndex: out.index),
                                           runID: Int64(out.index + 1))
            try store.recordHosts(runID, ScenarioRunner.hostRoles(s.world))
            try store.recordProvenance(runID, params: s.runParams + [("dataset_seed", String(seed)), ("trace_level", trace.rawValue)] + out.params,
                                       pbxConfigs: ScenarioRunner.pbxConfigJSON(s.world))
            // This thread is the writer: the rows go in as they are recorded, in the open transaction.
            let sink = try store.makeSink(runID: runID, inline: true)
            for e in out.events { sink.record(e) }
            try sink.flush()
            try store.recordFingerprint(runID, out.fingerprint)
            try store.finishRun(runID, status: "completed", endedAtUs: out.endTime.microseconds, calls: out.callCount)
        }
    }
}

/// A progress bar with rate and ETA for `generate`, drawn by a `StatusLine`: on a terminal only
/// (when standard error is a pipe, the closing summary line is all `generate` prints).
final class Progress {
    let total: Int
    let label: String
    let status = StatusLine()

    init(total: Int, label: String) { self.total = total; self.label = label }

    func update(_ done: Int) {
        status.update({
            let rate = Double(done) / status.elapsed
            let eta = rate > 0 ? Double(total - done) / rate : 0
            let filled = total == 0 ? 30 : 30 * done / total
            return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
                + "\(label): \(done)/\(total) runs  \(format1(rate)) runs/s  elapsed \(format1(status.elapsed))s  ETA \(format1(eta))s"
        }())
    }

    func finish() { status.finish() }
}

func printErrorRaw(_ s: String) {
    var bytes = Array(s.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}
