// Release-build benchmarks that print figures; nothing here asserts speed (docs/performance.md).
//
//   swift run -c release pbxsim-bench engine                 the engine alone: the hold model
//   swift run -c release pbxsim-bench store SCENARIO [CALLS] the trace writer against a bare sqlite3 loop
//   swift run -c release pbxsim-bench models SCENARIO [LEVEL] the models with a counting sink (events/s)
//   swift run -c release pbxsim-bench parts                  the building blocks of one failover call, alone
//
// `python3 Benchmarks/bench.py` runs them all with the end-to-end runs and the SimPy peer, and
// prints the ratios.
import Foundation
import CSQLite
import Scenario
import Store
import Telephony
import Trace
import SimCore
import SIP

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func line(_ fields: [(String, String)]) { print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}") }

/// The hold model: pop the earliest event, schedule one at a random later time (exponential,
/// mean 1 s), with `pending` events always in the queue.
func engine(pending: Int, operations: Int) {
    var sim = Simulation<Int>()
    var rng = Xoshiro256(seed: 42)
    for i in 0..<pending { sim.schedule(i, at: SimTime.fromSeconds(rng.exponential(mean: 1))) }
    let start = now()
    var n = 0
    while n < operations, let e = sim.step() {
        sim.schedule(e.payload, after: SimTime.fromSeconds(rng.exponential(mean: 1)))
        n += 1
    }
    let secs = now() - start
    line([("bench", "\"engine\""), ("pending", "\(pending)"), ("events", "\(n)"), ("wall_s", String(format: "%.3f", secs)),
          ("events_per_s", String(format: "%.0f", Double(n) / secs))])
}

final class CountingSink: TraceSink {
    var rows = 0, calls = 0
    func record(_ e: TraceEvent) { rows += 1; if case .callEnded = e { calls += 1 } }
    func flush() throws {}
}

func loadScenario(_ path: String) throws -> Scenario {
    try ScenarioLoader.load(path: path, text: try String(contentsOfFile: path, encoding: .utf8))
}

/// The models alone, with a counting sink, at a trace level.
func models(_ path: String, level: TraceLevel) throws {
    let s = try loadScenario(path)
    let sink = CountingSink()
    let start = now()
    let world = ScenarioRunner.makeWorld(s, sink: sink, traceLevel: level)
    world.runUntilQuiet()
    let secs = now() - start
    line([("bench", "\"models\""), ("trace", "\"\(level.rawValue)\""), ("calls", "\(sink.calls)"), ("events", "\(world.sim.executed)"),
          ("rows", "\(sink.rows)"), ("wall_s", String(format: "%.3f", secs)), ("calls_per_s", String(format: "%.0f", Double(sink.calls) / secs)),
          ("events_per_s", String(format: "%.0f", Double(world.sim.executed) / secs))])
}

func tempDB(_ name: String) -> String {
    let path = NSTemporaryDirectory() + "pbxsim-bench-\(name)-\(getpid()).sqlite"
    for f in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: f) }
    return path
}

/// The rows of a full-trace run written through the store, against a bare loop over the sqlite3
/// C API writing the same rows into the same schema: one prepared statement per table, one
/// transaction per batch of the store's size, the same pragmas.
func store(_ path: String) throws {
    let s = try loadScenario(path)
    let mem = MemoryTraceSink()
    let world = ScenarioRunner.makeWorld(s, sink: mem, traceLevel: .full)
    world.runUntilQuiet()
    let events = mem.events
    // Through the store.
    let p1 = tempDB("store")
    let st = try TraceStore(path: p1)
    let run = try st.beginRun(.init(scenario: "bench", seed: 1, startedAt: "bench", scenarioFile: nil, scenarioHash: nil, version: "bench", tool: "bench"))
    let sink = try st.makeSink(runID: run)
    var start = now()
    for e in events { sink.record(e) }
    try sink.flush()
    let storeSecs = now() - start
    let storeBytes = (try? FileManager.default.attributesOfItem(atPath: p1)[.size] as? Int) ?? 0
    // The bare loop: same schema (created by the store), same row values, no dedupe of texts.
    let p2 = tempDB("bare")
    let st2 = try TraceStore(path: p2)
    let run2 = try st2.beginRun(.init(scenario: "bench", seed: 1, startedAt: "bench", scenarioFile: nil, scenarioHash: nil, version: "bench", tool: "bench"))
    var db: OpaquePointer?
    sqlite3_open_v2(p2, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192;", nil, nil, nil)
    func prep(_ sql: String) -> OpaquePointer? { var s: OpaquePointer?; sqlite3_prepare_v2(db, sql, -1, &s, nil); return s }
    let insStep = prep("INSERT INTO step (run_id, seq, at_us, call_id, actor, kind, detail, at_ns, fields) VALUES (?,?,?,?,?,?,?,?,?)")
    let insMsg = prep("INSERT INTO sip_message (run_id, seq, at_us, call_id, src, dst, method, status_code, branch, sip_call_id, delivered, raw, retransmission, transport, at_ns, raw_of) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    let insCall = prep("INSERT INTO call (run_id, call_id, caller, dialed, placed_at_us, outcome, pbx, sip_attempts, sip_targets, rerouted) VALUES (?,?,?,?,?,?,?,?,?,?)")
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    func text(_ s: OpaquePointer?, _ i: Int32, _ v: String?) { if let v { sqlite3_bind_text(s, i, v, -1, transient) } else { sqlite3_bind_null(s, i) } }
    func int(_ s: OpaquePointer?, _ i: Int32, _ v: Int64?) { if let v { sqlite3_bind_int64(s, i, v) } else { sqlite3_bind_null(s, i) } }
    start = now()
    var seq: Int64 = 0, pending = 0
    sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
    for e in events {
        switch e {
        case .step(let x):
            seq += 1
            int(insStep, 1, run2); int(insStep, 2, seq); int(insStep, 3, x.atNs / 1000); int(insStep, 4, x.callID.map(Int64.init))
            text(insStep, 5, x.actor); text(insStep, 6, x.kind.rawValue); text(insStep, 7, x.detail); int(insStep, 8, x.atNs)
            text(insStep, 9, x.fields.json)
            sqlite3_step(insStep); sqlite3_reset(insStep)
        case .sipMessage(let m):
            seq += 1
            int(insMsg, 1, run2); int(insMsg, 2, seq); int(insMsg, 3, m.atNs / 1000); int(insMsg, 4, m.callID.map(Int64.init))
            text(insMsg, 5, m.src); text(insMsg, 6, m.dst); text(insMsg, 7, m.method); int(insMsg, 8, m.statusCode.map(Int64.init))
            text(insMsg, 9, m.branch); text(insMsg, 10, m.sipCallID); int(insMsg, 11, m.delivered ? 1 : 0); text(insMsg, 12, m.raw)
            int(insMsg, 13, m.retransmission ? 1 : 0); text(insMsg, 14, m.transport); int(insMsg, 15, m.atNs); int(insMsg, 16, nil)
            sqlite3_step(insMsg); sqlite3_reset(insMsg)
        case .callEnded(let c):
            int(insCall, 1, run2); int(insCall, 2, Int64(c.callID)); text(insCall, 3, c.caller); text(insCall, 4, c.dialed)
            int(insCall, 5, c.placedAtNs / 1000); text(insCall, 6, c.outcome.rawValue); text(insCall, 7, c.pbx); int(insCall, 8, Int64(c.sipAttempts))
            text(insCall, 9, c.sipTargets.description); int(insCall, 10, c.rerouted ? 1 : 0)
            sqlite3_step(insCall); sqlite3_reset(insCall)
        }
        pending += 1
        if pending >= 20_000 { sqlite3_exec(db, "COMMIT; BEGIN IMMEDIATE", nil, nil, nil); pending = 0 }
    }
    sqlite3_exec(db, "COMMIT", nil, nil, nil)
    let bareSecs = now() - start
    for s in [insStep, insMsg, insCall] { sqlite3_finalize(s) }
    sqlite3_close(db)
    _ = st2
    let bareBytes = (try? FileManager.default.attributesOfItem(atPath: p2)[.size] as? Int) ?? 0
    // The store as `run` and `generate` use it on a new database: the call indexes dropped before
    // the rows and built after them, the build timed with the rows.
    let p3 = tempDB("deferred")
    let st3 = try TraceStore(path: p3)
    let run3 = try st3.beginRun(.init(scenario: "bench", seed: 1, startedAt: "bench", scenarioFile: nil, scenarioHash: nil, version: "bench", tool: "bench"))
    try st3.deferCallIndexes()
    let sink3 = try st3.makeSink(runID: run3)
    start = now()
    for e in events { sink3.record(e) }
    try sink3.flush()
    try st3.buildCallIndexes()
    let deferredSecs = now() - start
    let rows = Double(events.count)
    line([("bench", "\"store\""), ("rows", "\(events.count)"), ("calls", "\(mem.calls.count)"),
          ("store_rows_per_s", String(format: "%.0f", rows / storeSecs)), ("bare_rows_per_s", String(format: "%.0f", rows / bareSecs)),
          ("store_vs_bare", String(format: "%.2f", bareSecs / storeSecs)),
          ("store_indexes_after_rows_per_s", String(format: "%.0f", rows / deferredSecs)),
          ("indexes_after_vs_bare", String(format: "%.2f", bareSecs / deferredSecs)),
          ("store_bytes_per_call", "\(storeBytes / max(1, mem.calls.count))"), ("bare_bytes_per_call", "\(bareBytes / max(1, mem.calls.count))")])
    for p in [p1, p2, p3] { for f in [p, p + "-wal", p + "-shm"] { try? FileManager.default.removeItem(atPath: f) } }
}

/// The building blocks of one failover call, each alone and timed over many repetitions: what a
/// call costs in this design before anything is scheduled or looked up (issue 11's bound). A
/// failover call makes its INVITE once and gives each of its three attempts a new branch
/// (`withBranch`); at `--trace calls` nothing writes their text, at `--trace full` the capture of
/// the first send writes it (headers and SDP) and the later attempts share it with a new Via. It
/// runs three INVITE client transactions (each: the INVITE sent, three Timer A retransmissions in
/// its 4 s, then abandoned at the failover), their actions in one list the driver reuses.
func parts() {
    let n = 200_000
    var keep = 0
    func callInvites(_ i: Int, written: Bool) -> Int {
        var m = SIPMessage.invite(requestURI: "sip:0123451011@itsp.example", from: "sip:0983451000@itsp.example", fromTag: hexTagged("t", UInt64(i)),
                                  to: "sip:0123451011@itsp.example", callID: concat(String(i), "-1f@pbx1.example"), cseq: 1, transport: .udp,
                                  localHostPort: "198.51.100.1:5060", localIP: "198.51.100.1", contactUser: "0983451000",
                                  branch: hexTagged(branchPrefix, UInt64(i)), sessionID: UInt64(i))
        var sum = written ? m.headers.count : 0
        for a in 1...2 {
            m = m.withBranch(hexTagged(branchPrefix, UInt64(i + a)), transport: .udp, sentBy: "198.51.100.1:5060")
            sum += written ? m.headers.count : (m.method?.utf8.count ?? 0)
        }
        return sum
    }
    // 1. A call's INVITEs, as at --trace calls (not written) and as at --trace full (written).
    var t0 = now()
    for i in 0..<n { keep &+= callInvites(i, written: false) }
    let invitesNs = (now() - t0) * 1e9 / Double(n)
    t0 = now()
    for i in 0..<n { keep &+= callInvites(i, written: true) }
    let writtenNs = (now() - t0) * 1e9 / Double(n)
    // 2. One INVITE client transaction as the failover runs it, sans I/O: start, Timer A three
    //    times (0.5, 1.5, 3.5 s), abandoned at 4 s.
    let invite = SIPMessage.invite(requestURI: "sip:0123451011@itsp.example", from: "sip:0983451000@itsp.example", fromTag: "t",
                                   to: "sip:0123451011@itsp.example", callID: "1-1f@pbx1.example", cseq: 1, transport: .udp,
                                   localHostPort: "198.51.100.1:5060", localIP: "198.51.100.1", contactUser: "0983451000",
                                   branch: "z9hG4bK-1", sessionID: 1)
    t0 = now()
    var actions = [TransactionAction](reservingCapacity: 5)
    for _ in 0..<n {
        var t = ClientTransaction(request: invite, branch: "z9hG4bK-1", transport: .udp, timers: .rfcDefault)
        t.start(now: 0, into: &actions)
        for at in [500_000_000, 1_500_000_000, 3_500_000_000] as [Int64] { t.timerFired(.A, now: at, into: &actions) }
        t.abandon(into: &actions)
        keep &+= actions.count
        while !actions.isEmpty { actions.removeLast() }
    }
    let txnNs = (now() - t0) * 1e9 / Double(n)
    // 3. The engine's share: the events of one failover call (about 19) at the hold model's rate.
    var sim = Simulation<Int>()
    var rng = Xoshiro256(seed: 42)
    for i in 0..<1_000 { sim.schedule(i, at: SimTime.fromSeconds(rng.exponential(mean: 1))) }
    t0 = now()
    for _ in 0..<(n * 10) { if let e = sim.step() { sim.schedule(e.payload, after: SimTime.fromSeconds(rng.exponential(mean: 1))) } }
    let eventNs = (now() - t0) * 1e9 / Double(n * 10)
    // 4. One lookup of an address in a map keyed by address, as the models key them (`StringKey`,
    //    hashed when the key is made from the string).
    let addresses = (0..<64).map { "192.0.2.\($0)" }
    var map: [StringKey: Int] = [:]
    for (i, a) in addresses.enumerated() { map[StringKey(a)] = i }
    t0 = now()
    for i in 0..<(n * 10) { keep &+= map[StringKey(addresses[i & 63])] ?? 0 }
    let lookupNs = (now() - t0) * 1e9 / Double(n * 10)
    let perCall = invitesNs + 3 * txnNs + 19 * eventNs
    line([("bench", "\"parts\""), ("call_invites_ns", String(format: "%.0f", invitesNs)), ("call_invites_written_ns", String(format: "%.0f", writtenNs)),
          ("invite_transaction_ns", String(format: "%.0f", txnNs)),
          ("engine_event_ns", String(format: "%.0f", eventNs)), ("address_lookup_ns", String(format: "%.0f", lookupNs)),
          ("per_call_floor_ns", String(format: "%.0f", perCall)), ("checksum", "\(keep & 0xff)")])
}

let args = CommandLine.arguments
switch args.count > 1 ? args[1] : "" {
case "engine":
    engine(pending: 1_000, operations: 10_000_000)
    engine(pending: 100_000, operations: 10_000_000)
case "store" where args.count > 2:
    try store(args[2])
case "parts":
    parts()
case "models" where args.count > 2:
    let levels = args.count > 3 ? [TraceLevel(rawValue: args[3]) ?? .calls] : TraceLevel.allCases
    for level in levels { try models(args[2], level: level) }
default:
    print("usage: pbxsim-bench engine | store SCENARIO | models SCENARIO [LEVEL] | parts   (python3 Benchmarks/bench.py runs everything)")
    exit(2)
}
