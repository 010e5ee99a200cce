import SimCore
import SIP
import Store

/// Aggregates the report draws, each streamed out of SQLite in one pass over typed columns
/// (never `step.detail`): memory follows the number of buckets, targets and PBXs, not calls.
extension Report {
    /// Outcome classes of a call, in the order the charts stack them.
    static let outcomeClasses: [(key: String, label: String, short: String, color: String)] = [
        ("sip", "answered over SIP", "SIP", "#009E73"),
        ("rerouted", "answered after reroute", "rerouted", "#E69F00"),
        ("public", "answered on the public trunk", "public", "#56B4E9"),
        ("internal", "answered internally", "internal", "#0072B2"),
        ("blocked", "blocked", "blocked", "#D55E00"),
        ("busy", "busy", "busy", "#CC79A7"),
        ("no-answer", "no answer", "no answer", "#F0E442"),
        ("failed", "failed, rejected or abandoned", "failed", "#000000"),
    ]

    /// The SQL expression giving a call row its outcome class.
    static let classSQL = """
        CASE WHEN outcome = 'answered' AND route = 'sip' THEN 'sip'
             WHEN outcome = 'answered' AND rerouted = 1 THEN 'rerouted'
             WHEN outcome = 'answered' AND route = 'public' THEN 'public'
             WHEN outcome = 'answered' THEN 'internal'
             WHEN outcome IN ('blocked', 'busy', 'no-answer') THEN outcome
             ELSE 'failed' END
        """

    /// Route classes of post-dial delay.
    static let routeClasses: [(key: String, label: String, color: String)] = [
        ("sip", "SIP", "#009E73"), ("rerouted", "rerouted", "#E69F00"), ("public", "public", "#56B4E9"),
    ]
    static let routeSQL = "CASE WHEN route = 'sip' THEN 'sip' WHEN rerouted = 1 THEN 'rerouted' WHEN route = 'public' THEN 'public' ELSE NULL END"

    /// A WHERE condition selecting one run's rows of a table by its rowid range, so that SQLite
    /// reads them sequentially from the table (the `(run_id, ...)` primary-key index would make
    /// every row a random lookup). A run's rows are contiguous in rowid order: each run is
    /// written by one writer, and merges copy in rowid order.
    func runRange(_ table: String, _ run: Int64) throws -> String {
        let r = try db.rows("SELECT min(rowid), max(rowid) FROM \(table) WHERE run_id = ?", [.int(run)]).first
        guard let lo = r?[0].flatMap({ Int64($0) }), let hi = r?[1].flatMap({ Int64($0) }) else { return "run_id = \(run) AND 0" }
        return "rowid BETWEEN \(lo) AND \(hi) AND run_id = \(run)"
    }

    struct RunInfo {
        var id: Int64
        var scenario: String
        var hash: String?
        var seed: Int64
        var status: String
        var tool: String?
        var calls: Int64
        var endedUs: Int64?
        var sweep: String?
    }

    func runInfo(_ run: Int64) throws -> RunInfo? {
        let s = try db.prepare("SELECT scenario, scenario_hash, seed, status, tool, calls, ended_at_us, sweep_file, writer FROM run WHERE run_id = ?")
        s.bind(1, run)
        guard try s.step() else { return nil }
        return RunInfo(id: run, scenario: s.text(0) ?? "", hash: s.text(1), seed: s.int(2), status: RunLiveness.status(s.text(3) ?? "", writer: s.text(8)), tool: s.text(4),
                       calls: s.isNull(5) ? 0 : s.int(5), endedUs: s.isNull(6) ? nil : s.int(6), sweep: s.text(7))
    }

    /// Simulated span of a run in microseconds: its end, else its last call.
    func spanUs(_ run: Int64, info: RunInfo) throws -> Int64 {
        let last = try db.scalarInt("SELECT max(max(placed_at_us, coalesce(ended_at_us, 0))) FROM call WHERE \(try runRange("call", run))") ?? 0
        return max(endUs ?? info.endedUs ?? 0, last, 1)
    }

    /// The summary table rows of a run: PBX -> field -> value.
    func summary(_ run: Int64) throws -> [(pbx: String, values: [String: Double])] {
        let s = try db.prepare("SELECT pbx, field, value FROM summary WHERE run_id = ? ORDER BY pbx = '(all)', pbx")
        s.bind(1, run)
        var out: [(pbx: String, values: [String: Double])] = []
        while try s.step() {
            let pbx = s.text(0) ?? ""
            if out.last?.pbx != pbx { out.append((pbx, [:])) }
            if !s.isNull(2) { out[out.count - 1].values[s.text(1) ?? ""] = s.double(2) }
        }
        return out
    }

    /// Unanswered calls that ended, by outcome and cause (`call.end_cause`; a file from before
    /// schema v9 has none: "-"), most frequent first.
    func endCauses(_ run: Int64) throws -> [(outcome: String, cause: String, calls: Int64)] {
        let s = try db.prepare("""
            SELECT outcome, coalesce(end_cause, '-'), count(*) FROM call
            WHERE \(try runRange("call", run)) AND outcome NOT IN ('answered', 'in-progress') AND ended_at_us IS NOT NULL
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
            """)
        var out: [(String, String, Int64)] = []
        while try s.step() { out.append((s.text(0) ?? "", s.text(1) ?? "-", s.int(2))) }
        return out
    }

    /// `endCauses` over several runs (those of `selected`), summed.
    func endCauses(runs selected: Set<Int64>) throws -> [(outcome: String, cause: String, calls: Int64)] {
        let s = try db.prepare("""
            SELECT run_id, outcome, coalesce(end_cause, '-'), count(*) FROM call
            WHERE outcome NOT IN ('answered', 'in-progress') AND ended_at_us IS NOT NULL GROUP BY 1, 2, 3
            """)
        struct Key: Hashable { let outcome: String, cause: String }
        var totals: [Key: Int64] = [:]
        while try s.step() {
            guard selected.contains(s.int(0)) else { continue }
            totals[Key(outcome: s.text(1) ?? "", cause: s.text(2) ?? "-"), default: 0] += s.int(3)
        }
        return totals.map { (outcome: $0.key.outcome, cause: $0.key.cause, calls: $0.value) }
            .sorted { ($0.calls, $1.outcome, $1.cause) > ($1.calls, $0.outcome, $0.cause) }
    }

    /// Calls placed per bucket and outcome class.
    func outcomesOverTime(_ run: Int64, bucketUs: Int64) throws -> [String: [Int64: Double]] {
        let s = try db.prepare("SELECT placed_at_us / ? AS b, \(Report.classSQL) AS c, count(*) FROM call WHERE \(try runRange("call", run)) GROUP BY b, c")
        s.bind(1, bucketUs)
        var out: [String: [Int64: Double]] = [:]
        while try s.step() { out[s.text(1) ?? "failed", default: [:]][s.int(0)] = Double(s.int(2)) }
        return out
    }

    /// Post-dial delays (dialling to the first ringback or answer, as in the run summary) per route
    /// class, of every call that got that far (1 ms histograms).
    func pdd(_ runs: [Int64]) throws -> [String: DelayHistogram] {
        var out: [String: DelayHistogram] = [:]
        for run in runs {
            let s = try db.prepare("SELECT \(Report.routeSQL), pdd_us FROM call WHERE \(try runRange("call", run)) AND pdd_us IS NOT NULL")
            while try s.step() {
                guard let c = s.text(0) else { continue }
                out[c, default: DelayHistogram()].add(.microseconds(s.int(1)))
            }
        }
        return out
    }

    /// One pass over the steps a report needs (kind and actor columns, and the typed fields of
    /// `card-state`): public-trunk channels in use per PBX (the peak within each bucket, from
    /// `trunk-seized` / `trunk-released`, nil when none is recorded) and each card's states over
    /// time.
    func stepAggregates(_ run: Int64, bucketUs: Int64, buckets: Int, cards: [String], endUs: Int64)
        throws -> (occupancy: [String: [Double]]?, cardStates: [(name: String, segments: [BandChart.Segment])]) {
        let s = try db.prepare("""
            SELECT at_us, actor, kind, json_extract(fields, '$.pbx'), json_extract(fields, '$.to') FROM step
            WHERE \(try runRange("step", run)) AND kind IN ('trunk-seized', 'trunk-released', 'card-state') ORDER BY rowid
            """)
        var inUse: [String: Int] = [:]
        var peak: [String: [Double]] = [:]
        var lastBucket: [String: Int] = [:]
        var current: [String: (since: Double, state: String)] = [:]
        var segs: [String: [BandChart.Segment]] = [:]
        for c in cards { current[c] = (0, "INS") }
        while try s.step() {
            let kind = s.text(2) ?? ""
            if kind == "card-state" {
                guard let pbx = s.text(3), let to = s.text(4) else { continue }
                let t = Double(s.int(0)) / 1e6
                let cur = current[pbx] ?? (0, "INS")
                if t > cur.since { segs[pbx, default: []].append(.init(start: cur.since, end: t, state: cur.state)) }
                current[pbx] = (t, to)
                continue
            }
            let pbx = s.text(1) ?? ""
            let b = min(Int(s.int(0) / bucketUs), buckets - 1)
            if peak[pbx] == nil { peak[pbx] = [Double](repeating: 0, count: buckets); lastBucket[pbx] = 0 }
            // Carry the level through buckets without events.
            let n = inUse[pbx, default: 0]
            if let lb = lastBucket[pbx], lb < b { for k in (lb + 1)...b { peak[pbx]![k] = Double(n) } }
            lastBucket[pbx] = b
            inUse[pbx] = n + (kind == "trunk-seized" ? 1 : -1)
            peak[pbx]![b] = max(peak[pbx]![b], Double(inUse[pbx]!))
        }
        for (pbx, lb) in lastBucket where lb + 1 < buckets {
            for k in (lb + 1)..<buckets { peak[pbx]![k] = Double(inUse[pbx] ?? 0) }
        }
        let end = Double(endUs) / 1e6
        let states = current.keys.sorted().map { pbx in
            var list = segs[pbx] ?? []
            let cur = current[pbx]!
            list.append(.init(start: cur.since, end: max(end, cur.since), state: cur.state))
            return (name: pbx, segments: list)
        }
        return (peak.isEmpty ? nil : peak, states)
    }

    /// The public-trunk channels of each PBX, from its stored configuration.
    func trunkChannels(_ run: Int64) throws -> [String: Int] {
        var out: [String: Int] = [:]
        let s = try db.prepare("SELECT pbx, json_extract(config, '$.trunk_channels') FROM pbx_config WHERE run_id = ?")
        s.bind(1, run)
        while try s.step() { if !s.isNull(1) { out[s.text(0) ?? ""] = Int(s.int(1)) } }
        return out
    }

    /// Which PBXs have a V-SIPGW card, from the stored configuration.
    func cards(_ run: Int64) throws -> [String] {
        try db.rows("SELECT pbx FROM pbx_config WHERE run_id = ? AND json_extract(config, '$.v_sipgw') IS NOT NULL ORDER BY pbx", [.int(run)]).compactMap { $0[0] }
    }

    struct TargetStats {
        var attempts: [String: [Int64: Double]] = [:]
        var failovers: [String: [Int64: Double]] = [:]
        var unavailable: [String: [Int64: Double]] = [:]
        var targets: [String] = []
        var recorded = false
    }

    /// INVITE attempts a PBX sent to a carrier SIP server, the failovers away from each server
    /// (an attempt followed by another attempt of the same call) and the 503s each answered.
    func targetStats(_ run: Int64, bucketUs: Int64) throws -> TargetStats {
        var roles: [String: String] = [:]
        for r in try db.rows("SELECT ip, role FROM host WHERE run_id = ?", [.int(run)]) { roles[r[0] ?? ""] = r[1] ?? "" }
        func ip(_ hp: String) -> String { splitHostPort(hp).ip }
        func isPBX(_ a: String) -> Bool { roles[ip(a)]?.hasPrefix("pbx ") ?? false }
        func isServer(_ a: String) -> Bool { roles[ip(a)]?.hasPrefix("sip-server") ?? false }
        var st = TargetStats()
        var order: [String] = []
        let s = try db.prepare("""
            SELECT at_us, src, dst, method, status_code, call_id FROM sip_message
            WHERE \(try runRange("sip_message", run)) AND retransmission = 0 AND (method = 'INVITE' OR status_code = 503)
            ORDER BY rowid
            """)
        // The last target of each call in progress; calls quiet for ten simulated minutes are
        // dropped (no failover waits that long), so memory follows the calls in progress.
        var lastTarget: [Int64: (target: String, atUs: Int64)] = [:]
        var nextPrune: Int64 = 600_000_000
        while try s.step() {
            st.recorded = true
            let at = s.int(0), t = at / bucketUs, src = s.text(1) ?? "", dst = s.text(2) ?? ""
            if at >= nextPrune {
                lastTarget = lastTarget.filter { at - $0.value.atUs < 600_000_000 }
                nextPrune = at + 600_000_000
            }
            if s.text(3) == "INVITE" {
                guard isPBX(src), isServer(dst) else { continue }
                let target = ip(dst)
                if !order.contains(target) { order.append(target) }
                st.attempts[target, default: [:]][t, default: 0] += 1
                if !s.isNull(5) {
                    let call = s.int(5)
                    if let p = lastTarget[call] { st.failovers[p.target, default: [:]][t, default: 0] += 1 }
                    lastTarget[call] = (target, at)
                }
            } else if isServer(src), isPBX(dst) {
                let target = ip(src)
                if !order.contains(target) { order.append(target) }
                st.unavailable[target, default: [:]][t, default: 0] += 1
            }
        }
        st.targets = order.sorted()
        return st
    }
}
