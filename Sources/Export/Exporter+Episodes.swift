import SIP
import Store
import Trace
import SimCore

/// The network as the models left it, rebuilt from `host-state` steps (what a caller's PBX faced
/// when the call was dialled).
struct NetworkState {
    var down: Set<String> = []
    var refusing: Set<String> = []
    var latency: String?
    var loss: String?
    var hostLatency: [String: String] = [:]
    var hostLoss: [String: String] = [:]
    var responding: [String: String] = [:]
    var dnsFaults: [String: String] = [:]
    var phones: [String: String] = [:]

    /// Applies one `host-state` step, from its typed fields (docs/trace-schema.md).
    mutating func apply(_ f: StepFields) {
        guard let subject = f.text("subject"), let change = f.text("change") else { return }
        func ms(_ ns: Int64) -> String { SimTime(ns: ns).durationString }
        switch change {
        case "down": down.insert(subject); refusing.remove(subject)
        case "up": down.remove(subject); refusing.remove(subject)
        case "refuse": down.remove(subject); refusing.insert(subject)
        case "respond":
            if let code = f.int("code") {
                responding[subject] = "\(code)" + (f.int("retry_after_ns").map { " Retry-After \(ms($0))" } ?? "")
            } else { responding[subject] = nil }
        case "latency":
            if let ns = f.int("latency_ns") { if subject == "network" { latency = ms(ns) } else { hostLatency[subject] = ms(ns) } }
        case "loss":
            if let p = f.double("loss_pct") { if subject == "network" { loss = "\(p)%" } else { hostLoss[subject] = "\(p)%" } }
        case "dns":
            if let name = f.text("name"), let fault = f.text("fault") { dnsFaults[name] = fault == "normal" ? nil : fault }
        case "phone":
            if let mode = f.text("mode") { phones[subject] = mode == "normal" ? nil : mode }
        default:
            break // partition, heal: not part of the episode's network summary
        }
    }

    var json: String {
        var o = JSONObject()
        o.addRaw("down", JSON.array(down.sorted()))
        o.addRaw("refusing", JSON.array(refusing.sorted()))
        o.add("latency_ms", latency.flatMap(Exporter.milliseconds))
        o.add("loss_pct", loss.flatMap(Exporter.percent))
        o.addRaw("host_latency_ms", Exporter.numberDict(hostLatency, Exporter.milliseconds))
        o.addRaw("host_loss_pct", Exporter.numberDict(hostLoss, Exporter.percent))
        o.addRaw("responding", Exporter.dict(responding))
        o.addRaw("dns_faults", Exporter.dict(dnsFaults))
        o.addRaw("phones", Exporter.dict(phones))
        return o.text
    }
}

extension Exporter {
    /// A duration text (`24ms`, `2s`, `1h30m`) in milliseconds.
    static func milliseconds(_ v: String) -> Double? {
        if Double(v) != nil { return nil }
        return SimTime.parseDuration(v).map { Double($0.ns) / 1e6 }
    }

    /// A percentage text (`5%`, `5`) as a number of percent.
    static func percent(_ v: String) -> Double? { Double(v.hasSuffix("%") ? String(v.dropLast()) : v).flatMap { $0.isFinite ? $0 : nil } }

    static func numberDict(_ d: [String: String], _ f: (String) -> Double?) -> String {
        "{" + d.sorted { $0.key < $1.key }.map { JSON.string($0.key) + ":" + (f($0.value).map(JSON.number) ?? "null") }.joined(separator: ",") + "}"
    }

    /// A run parameter as typed JSON: a duration becomes `NAME_ms` (a number of milliseconds), a
    /// percentage `NAME_pct`, a number stays a number, anything else stays text under NAME.
    static func typedParam(_ name: String, _ value: String) -> (key: String, json: String) {
        if name == "loss" { return ("loss_pct", percent(value).map(JSON.number) ?? "null") }
        if let n = Double(value), n.isFinite { return (name, JSON.number(n)) }
        if value.hasSuffix("%"), let p = percent(value) { return (name + "_pct", JSON.number(p)) }
        if let ms = milliseconds(value) { return (name + "_ms", JSON.number(ms)) }
        return (name, JSON.string(value))
    }

    static func dict(_ d: [String: String]) -> String {
        "{" + d.sorted { $0.key < $1.key }.map { JSON.string($0.key) + ":" + JSON.string($0.value) }.joined(separator: ",") + "}"
    }

    /// One object per call: inputs known at dial time, the attempts, the steps, and labels.
    public func episodes(to out: OutputFile) throws {
        for run in runs {
            let splitValue = split ? try splitName(run: run) : nil
            let configs = Dictionary(try db.rows("SELECT pbx, config FROM pbx_config WHERE run_id = ?", [.int(run)]).map { ($0[0] ?? "", $0[1] ?? "null") },
                                     uniquingKeysWith: { a, _ in a })
            let params = try db.rows("SELECT name, value FROM run_param WHERE run_id = ? ORDER BY name", [.int(run)])
            let startText = params.first { $0[0] == "start" }?[1] ?? nil
            let startEpoch = startText.flatMap(Civil.parse)
            let paramsJSON = "{" + params.map { r -> String in
                let t = Exporter.typedParam(r[0] ?? "", r[1] ?? "")
                return JSON.string(t.key) + ":" + t.json
            }.joined(separator: ",") + "}"
            let runRow = try db.rows("SELECT scenario, seed, scenario_hash, run_index FROM run WHERE run_id = ?", [.int(run)]).first ?? []
            // Host-state steps, streamed once per run alongside the calls (both in seq order).
            let hostSteps = try db.prepare("SELECT seq, fields FROM step WHERE run_id = ? AND kind = 'host-state' ORDER BY seq")
            hostSteps.bind(1, run)
            var pending = try hostSteps.step()
            var net = NetworkState()
            net.latency = params.first { $0[0] == "latency" }?[1] ?? nil
            net.loss = params.first { $0[0] == "loss" }?[1] ?? nil
            // The call's own columns come with it (one statement for all the calls, not one each),
            // and the rows of every call from one cursor per table, grouped by call.
            let calls = try db.prepare("SELECT \(TraceReader.callColumns) FROM call c WHERE c.run_id = ? ORDER BY c.call_id")
            calls.bind(1, run)
            var callRows = try CallRowCursor(db: db, run: run)
            while try calls.step() {
                if shouldStop() { throw ExportError.interrupted }
                let c = TraceReader.callRow(calls)
                let (rows, firstStep) = try callRows.rows(of: c.callID)
                while pending && hostSteps.int(0) < firstStep {
                    net.apply(StepFields.parse(hostSteps.text(1)))
                    pending = try hostSteps.step()
                }
                out.write(episode(run: run, call: c, rows: rows, network: net, config: configs[c.pbx] ?? "null",
                                  paramsJSON: paramsJSON, runRow: runRow, startEpoch: startEpoch, split: splitValue))
                out.write("\n")
            }
        }
    }

    /// The steps and SIP messages of a run's calls, call after call in `call_id` order, each call's
    /// in `seq` order, from two cursors over the run: one pass over each table whatever the number
    /// of calls. With the call indexes the cursors walk them; without them (a bulk write killed
    /// before its end, in a file this reader cannot write to repair) SQLite sorts the run's rows
    /// once with its external sorter, where a lookup per call would read the whole table per call
    /// (quadratic: 20,000 calls took 80 minutes). The messages come without their text, and only
    /// the steps of `Exporter.episodeFieldKinds` with their typed fields parsed.
    struct CallRowCursor {
        let steps: SQLiteStatement, messages: SQLiteStatement
        var haveStep: Bool, haveMessage: Bool
        let stepCall = TraceReader.stepColumnCount, messageCall = TraceReader.messageColumnCount

        init(db: SQLiteDatabase, run: Int64) throws {
            let (stepHint, messageHint) = TraceStore.indexHints(db)
            steps = try db.prepare("""
                SELECT \(TraceReader.stepColumns), call_id FROM step \(stepHint)
                WHERE run_id = ? AND call_id IS NOT NULL ORDER BY call_id, seq
                """)
            steps.bind(1, run)
            messages = try db.prepare("""
                SELECT \(TraceReader.messageColumns(raw: false)), m.call_id FROM sip_message m \(messageHint)
                WHERE m.run_id = ? AND m.call_id IS NOT NULL ORDER BY m.call_id, m.seq
                """)
            messages.bind(1, run)
            haveStep = try steps.step()
            haveMessage = try messages.step()
        }

        /// The rows of call `id` in `seq` order, and the `seq` of its first step (`Int64.max` when
        /// it has none). Calls must be asked for in increasing `id`; rows of calls not asked for
        /// are passed over.
        mutating func rows(of id: Int) throws -> (rows: [TraceReader.Row], firstStep: Int64) {
            var out: [TraceReader.Row] = []
            var firstStep = Int64.max
            while haveStep && steps.int(stepCall) <= id {
                if steps.int(stepCall) == id {
                    let row = TraceReader.stepRow(steps, fieldsOf: Exporter.episodeFieldKinds.contains)
                    firstStep = min(firstStep, row.seq)
                    out.append(row)
                }
                haveStep = try steps.step()
            }
            while haveMessage && messages.int(messageCall) <= id {
                if messages.int(messageCall) == id { out.append(TraceReader.messageRow(messages)) }
                haveMessage = try messages.step()
            }
            out.sort { $0.seq < $1.seq }  // steps and messages interleaved, as `TraceReader.rows` gives them
            return (out, firstStep)
        }
    }

    /// The step kinds whose typed fields `episode` reads (the attempts); the fields of the others
    /// are not parsed.
    static let episodeFieldKinds: Set<String> = ["attempt-started", "failover", "sip-response", "reroute", "call-ended"]

    func episode(run: Int64, call c: TraceReader.CallRow, rows: [TraceReader.Row], network: NetworkState, config: String,
                 paramsJSON: String, runRow: [String?], startEpoch: Int64?, split: String?) -> String {
        var o = JSONObject()
        o.add("run_id", run)
        o.add("call_id", c.callID)
        if let split { o.add("split", split) }
        var prov = JSONObject()
        prov.add("scenario", runRow.first ?? nil)
        // The seed as pbxsim prints and accepts it: an unsigned 64-bit decimal (stored signed).
        prov.addRaw("seed", runRow.count > 1 ? runRow[1].flatMap { Int64($0) }.map { String(UInt64(bitPattern: $0)) } ?? "null" : "null")
        prov.add("scenario_hash", runRow.count > 2 ? runRow[2] : nil)
        prov.add("run_index", runRow.count > 3 ? runRow[3].flatMap { Int($0) } : nil)
        prov.addRaw("params", paramsJSON)
        o.addRaw("provenance", prov.text)

        var inputs = JSONObject()
        inputs.add("caller", c.caller)
        inputs.add("pbx", c.pbx)
        inputs.add("dialed", c.dialed)
        inputs.add("placed_at_us", c.placedAtUs)
        inputs.add("placed_at_ms", Exporter.ms(c.placedAtUs))
        if let s = startEpoch {
            let d = Civil.describe(s + c.placedAtUs / 1_000_000)
            inputs.add("weekday", d.weekday)
            inputs.add("time_of_day", d.timeOfDay)
        } else {
            inputs.add("weekday", nil as String?)
            inputs.add("time_of_day", nil as String?)
        }
        inputs.add("card_state", c.cardState)
        inputs.addRaw("config", config)
        inputs.addRaw("network", network.json)
        o.addRaw("inputs", inputs.text)

        // Attempts: each INVITE transaction, how it began and how it ended.
        var attempts: [JSONObject] = []
        var current: (n: Int, target: String, origin: String, start: Int64)?
        func close(_ how: String, _ at: Int64, code: Int64? = nil) {
            guard let a = current else { return }
            var j = JSONObject()
            j.add("n", a.n); j.add("target", a.target); j.add("origin", a.origin)
            j.add("started_at_us", a.start); j.add("ended_at_us", at); j.add("result", how); j.add("result_code", code)
            attempts.append(j)
            current = nil
        }
        var steps: [String] = []
        var messages: [String] = []
        for r in rows {
            switch r {
            case .step(let seq, let t, let actor, let kind, let detail, let fields):
                var s = JSONObject()
                s.add("seq", seq); s.add("at_us", t / 1000); s.add("actor", actor); s.add("kind", kind); s.add("detail", detail)
                steps.append(s.text)
                // Typed fields only (docs/trace-schema.md); `detail` is for people.
                if kind == "attempt-started", let n = fields.int("attempt"), let target = fields.text("target") {
                    var origin = fields.text("origin") ?? ""
                    if origin == "dns", let name = fields.text("dns_name"), let host = fields.text("dns_host") { origin = "dns \(name) -> \(host)" }
                    current = (Int(n), target, origin, t / 1000)
                } else if kind == "failover", current != nil, fields.text("from") != nil, let reason = fields.text("reason") {
                    close(reason, t / 1000)
                } else if kind == "sip-response", current != nil, let code = fields.int("code"), code >= 200, fields.int("copy") == nil {
                    close(ReasonPhrase.status(Int(code)), t / 1000, code: code)
                } else if kind == "reroute", current != nil {
                    close(fields.text("reason").map { "\($0): reroute to the public trunk" } ?? "reroute", t / 1000)
                } else if kind == "call-ended", current != nil {
                    close(fields.text("outcome") ?? "call ended", t / 1000)
                }
            case .message(let seq, let t, let src, let dst, let method, let status, let branch, let delivered, let re, _):
                var m = JSONObject()
                m.add("seq", seq); m.add("at_us", t / 1000); m.add("src", src); m.add("dst", dst); m.add("method", method)
                m.add("status_code", status); m.add("branch", branch); m.add("delivered", delivered); m.add("retransmission", re)
                messages.append(m.text)
            }
        }
        close("unfinished", (c.endedAtUs ?? c.placedAtUs))
        o.addRaw("attempts", JSON.rawArray(attempts.map(\.text)))
        o.addRaw("steps", JSON.rawArray(steps))
        o.addRaw("messages", JSON.rawArray(messages))

        var labels = JSONObject()
        labels.add("outcome", c.outcome)
        labels.add("route", c.route)
        labels.add("answered_by", c.answeredBy)
        labels.add("setup_delay_us", c.setupDelayUs)
        labels.add("setup_delay_ms", c.setupDelayUs.map(Exporter.ms))
        labels.add("sip_attempts", c.sipAttempts)
        labels.addRaw("sip_targets", c.sipTargets)
        labels.add("rerouted", c.rerouted)
        labels.add("final_code", c.finalCode)
        labels.add("carrier", c.carrier)
        labels.add("trunk_group", c.trunkGroup)
        labels.add("sent_digits", c.sentDigits)
        labels.add("released_by", c.releasedBy)
        labels.add("end_cause", c.endCause)
        o.addRaw("labels", labels.text)
        return o.text
    }
}
