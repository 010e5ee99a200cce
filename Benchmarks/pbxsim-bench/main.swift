// Release-build benchmark: prints throughput figures, asserts nothing about speed.
//   swift run -c release pbxsim-bench [calls]
import Foundation
import Scenario
import Store
import Telephony
import Trace
import SimCore

final class CountingSink: TraceSink {
    var steps = 0, messages = 0, calls = 0
    func record(_ e: TraceEvent) {
        switch e {
        case .step: steps += 1
        case .sipMessage: messages += 1
        case .callEnded: calls += 1
        }
    }
    func flush() throws {}
}

let args = CommandLine.arguments
let callCount = args.count > 1 ? Int(args[1]) ?? 20_000 : 20_000
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let seedPath = root.appendingPathComponent("scenarios/seed-example.yaml").path
let base = try ScenarioLoader.load(path: seedPath, text: try String(contentsOfFile: seedPath, encoding: .utf8))

/// The seed topology with `n` calls, one every 2 s, half of them while sip1 is silent (failover to
/// sip2) and a tenth while everything is down (reroute to the public trunk).
func workload(_ n: Int) -> Scenario {
    var s = base
    s.timeline = []
    s.expectations = []
    var t = SimTime.seconds(1)
    for i in 0..<n {
        if i % 10 == 0 { s.timeline.append(.init(at: t, command: .down(["sip1.itsp.example", "sip2.itsp.example", "sip3.itsp.example"]), text: "", line: nil)) }
        if i % 10 == 1 { s.timeline.append(.init(at: t, command: .up(["sip2.itsp.example", "sip3.itsp.example"]), text: "", line: nil)) }
        if i % 10 == 5 { s.timeline.append(.init(at: t, command: .up(["sip1.itsp.example"]), text: "", line: nil)) }
        s.timeline.append(.init(at: t + .milliseconds(1), command: .dial(caller: ExtensionRef(pbx: "PBX-1", number: "1000"), number: "012-345-1011", hold: .seconds(1)), text: "", line: nil))
        t += .seconds(30)
    }
    return s
}

func measure(_ label: String, _ body: () throws -> (events: UInt64, rows: Int, calls: Int)) rethrows {
    let start = DispatchTime.now().uptimeNanoseconds
    let r = try body()
    let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print(String(format: "%-34@ %8d calls %10d events %10d rows  %7.2f s  %9.0f calls/s %10.0f events/s %10.0f rows/s",
                 label as NSString, r.calls, r.events, r.rows, secs, Double(r.calls) / secs, Double(r.events) / secs, Double(r.rows) / secs))
}

let scenario = workload(callCount)
print("pbxsim-bench: \(callCount) calls on the seed topology (1 in 10 rerouted, 4 in 10 failing over)")

measure("engine + models, counting sink") {
    let sink = CountingSink()
    let world = ScenarioRunner.makeWorld(scenario, sink: sink)
    world.runUntilQuiet()
    return (world.sim.executed, sink.steps + sink.messages + sink.calls, sink.calls)
}

/// A fresh SQLite store in the temporary directory, removed afterwards.
func withStore<T>(_ name: String, _ body: (TraceStore, SQLiteTraceSink) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "pbxsim-\(name)-\(getpid()).sqlite"
    let files = [path, path + "-wal", path + "-shm"]
    for f in files { try? FileManager.default.removeItem(atPath: f) }
    defer { for f in files { try? FileManager.default.removeItem(atPath: f) } }
    let store = try TraceStore(path: path)
    let runID = try store.beginRun(.init(scenario: "bench", seed: 1, startedAt: "bench", scenarioFile: nil, scenarioHash: nil, version: "bench", tool: "bench"))
    let sink = try store.makeSink(runID: runID)
    let result = try body(store, sink)
    try sink.flush()
    return result
}

/// Simulates the workload into SQLite at a trace level, counting what the models emitted.
func simulateIntoSQLite(_ name: String, level: TraceLevel) throws -> (events: UInt64, rows: Int, calls: Int) {
    try withStore(name) { _, sql in
        let counter = CountingSink()
        let world = ScenarioRunner.makeWorld(scenario, sink: FanOutTraceSink([sql, counter]), traceLevel: level)
        world.runUntilQuiet()
        return (world.sim.executed, counter.steps + counter.messages + counter.calls, counter.calls)
    }
}

try measure("engine + models + SQLite trace") { try simulateIntoSQLite("bench", level: .full) }
try measure("models + SQLite, --trace calls") { try simulateIntoSQLite("bench-calls", level: .calls) }

try measure("SQLite sink alone (replayed rows)") {
    let sink = MemoryTraceSink()
    let world = ScenarioRunner.makeWorld(workload(min(callCount, 5_000)), sink: sink)
    world.runUntilQuiet()
    return try withStore("bench-replay") { _, sql in
        for e in sink.events { sql.record(e) }
        return (0, sink.events.count, sink.calls.count)
    }
}
