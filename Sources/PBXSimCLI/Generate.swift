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
}

/// What the pipelined writer of `generate` has done (touched by one thread at a time: the writer
/// while a chunk is written, the main thread after waiting for it).
final class WriteState: @unchecked Sendable {
    var written = 0
    var failure: (Error, Int)?
}

/// Hands values that are used by one thread at a time to the writer queue.
struct Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

final class OutputBox: @unchecked Sendable {
    private var items: [Int: Result<RunOutput?, ScenarioError>] = [:]
    private let lock = NSLockLike()
    func put(_ i: Int, _ r: Result<RunOutput?, ScenarioError>) { lock.locked { items[i] = r } }
    func take(_ i: Int) -> Result<RunOutput?, ScenarioError>? { lock.locked { items.removeValue(forKey: i) } }
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

        @Option(help: "Simulation threads (default: the number of CPU cores).")
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
            let threads = max(1, jobs ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
            let progress = Progress(total: indices.count, label: "\(sw.name) seed \(seed)" + (shard.map { " shard \($0)" } ?? ""))
            let sweepHash = sweepFileHash
            let startedAt = startedAtTimestamp()
            let batch = threads * 4
            var pos = 0
            // Writing is pipelined: one serial writer stores a chunk's runs while the next chunk is
            // simulated by the --jobs workers.
            let writerQueue = DispatchQueue(label: "pbxsim.generate.writer")
            let writes = DispatchGroup()
            let writeState = WriteState()
            func stopOnWriteFailure() throws {
                guard let (error, index) = writeState.failure else { return }
                printError("error: " + writeFailure(error, store: store, db: db, maxDbSize: maxDbSize)
                           + "; run \(index + 1) is incomplete (run the same command again to redo it), earlier runs are intact")
                try? store.db.execute("UPDATE run SET status = 'interrupted' WHERE run_id = \(index + 1)")
                throw ExitStatus(code: 3)
            }
            while pos < indices.count {
                let chunk = Array(indices[pos..<min(indices.count, pos + batch)])
                let box = OutputBox()
                let seed = self.seed
                // `threads` workers, each taking every threads-th run of the chunk: --jobs 1 runs
                // them one after another on this thread (concurrentPerform alone would use every core).
                DispatchQueue.concurrentPerform(iterations: min(threads, chunk.count)) { w in
                  for k in stride(from: w, to: chunk.count, by: threads) {
                    let i = chunk[k]
                    do {
                        let (s, params) = try sw.scenario(run: i, seed: seed)
                        let sink = MemoryTraceSink()
                        let world = ScenarioRunner.makeWorld(s, sink: sink, traceLevel: level)
                        world.runUntilQuiet(limit: SimTime.maxDuration, shouldStop: stopRequested)
                        if stopRequested() { box.put(k, .success(nil)); continue }
                        world.recordCallsInProgress()
                        box.put(k, .success(RunOutput(index: i, scenario: s, params: params, events: sink.events,
                                                      callCount: world.callCount, endTime: world.now)))
                    } catch let e as ScenarioError {
                        box.put(k, .failure(e))
                    } catch {
                        box.put(k, .failure(ScenarioError(file: sw.file, line: nil, column: nil, key: "", message: "\(error)")))
                    }
                  }
                }
                var outs: [RunOutput] = []
                for k in chunk.indices {
                    switch box.take(k)! {
                    case .failure(let e):
                        writes.wait()
                        printError("error: run \(chunk[k]): \(e)"); throw ExitStatus(code: 2)
                    case .success(let out?): outs.append(out)
                    case .success(nil): break // stopped by a signal before it finished: not written
                    }
                }
                // The previous chunk must be written before this one (runs stay in index order);
                // this chunk is written while the next one is simulated.
                writes.wait()
                try stopOnWriteFailure()
                writes.enter()
                let job = Unchecked((outs, store, self, progress))
                writerQueue.async {
                    let (outs, store, command, progress) = job.value
                    // The chunk's runs in one transaction: its rows and run metadata commit
                    // together (a failure or a kill loses at most this chunk, which a rerun redoes).
                    var done = 0
                    do {
                        try store.transaction {
                            for out in outs {
                                do { try command.write(out, store: store, sweepHash: sweepHash, startedAt: startedAt) } catch {
                                    writeState.failure = (error, out.index)
                                    throw error
                                }
                                done += 1
                            }
                        }
                        writeState.written += done
                        progress.update(writeState.written)
                    } catch {
                        if writeState.failure == nil { writeState.failure = (error, outs.first?.index ?? 0) }
                    }
                    writes.leave()
                }
                pos += chunk.count
                if stopRequested() {
                    writes.wait()
                    try stopOnWriteFailure()
                    let written = writeState.written
                    progress.finish()
                    let (code, name) = stopStatus()
                    printError("stopped by \(name): \(written + done.count) of \(indices.count + done.count) run(s) are complete in \(db); run the same command again to resume")
                    throw ExitStatus(code: code)
                }
            }
            writes.wait()
            try stopOnWriteFailure()
            let written = writeState.written
            progress.finish()
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
            let sink = try store.makeSink(runID: runID)
            for e in out.events { sink.record(e) }
            try sink.flush()
            try store.recordFingerprint(runID, TraceFingerprint.of(out.events))
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
