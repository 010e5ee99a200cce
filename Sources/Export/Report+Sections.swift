import Foundation
import SimCore
import Store

extension Report {
    /// The report of one run.
    func singleRun(_ info: RunInfo) throws -> String {
        let run = info.id
        let span = try spanUs(run, info: info)
        let unit = Report.timeUnit(spanUs: span)
        let bucket = Report.bucketUs(spanUs: span)
        let buckets = Int(span / bucket) + 1
        let fmtT: (Double) -> String = { Report.format3($0) }
        var o = "<section id=\"run\"><h2>Run</h2><table class=\"meta\"><tbody>"
        o += "<tr><th scope=\"row\">scenario</th><td>\(esc(info.scenario))</td></tr>"
        o += "<tr><th scope=\"row\">scenario hash</th><td><code>\(esc(info.hash ?? "-"))</code></td></tr>"
        o += "<tr><th scope=\"row\">seed</th><td>\(UInt64(bitPattern: info.seed))</td></tr>"
        o += "<tr><th scope=\"row\">status</th><td>\(esc(info.status))</td></tr>"
        o += "<tr><th scope=\"row\">calls</th><td>\(info.calls)</td></tr>"
        o += "<tr><th scope=\"row\">simulated span</th><td>\(Report.format3(Double(span) / 1e6)) s</td></tr>"
        if let sw = info.sweep { o += "<tr><th scope=\"row\">sweep</th><td>\(esc(sw))</td></tr>" }
        o += "</tbody></table></section>"

        // Summary per PBX: the table `pbxsim run` prints.
        o += "<section id=\"summary\"><h2>Summary per PBX</h2>"
        let sum = try summary(run)
        if sum.isEmpty {
            o += "<p class=\"note\">No summary is stored for this run (it was interrupted before its end).</p>"
        } else {
            let cols: [(String, String, Bool)] = [("offered", "offered", false), ("answered_sip", "answered SIP", false), ("answered_public", "answered public", false),
                        ("rerouted", "rerouted", false), ("blocked", "blocked", false), ("busy", "busy", false), ("no_answer", "no answer", false),
                        ("failed", "failed", false), ("rejected", "rejected", false), ("abandoned", "abandoned", false),
                        ("pdd_mean", "PDD mean (s)", true), ("pdd_p50", "p50 (s)", true), ("pdd_p95", "p95 (s)", true), ("pdd_p99", "p99 (s)", true),
                        ("pdd_max", "max (s)", true), ("trunk_mean", "trunk mean", true), ("trunk_peak", "trunk peak", false), ("trunk_channels", "channels", false)]
            // Two tables, so that each fits the page: the calls' fates, then delay and trunk use.
            for part in [Array(cols[0..<10]), Array(cols[10...])] {
                o += "<table><thead><tr><th scope=\"col\">PBX</th>"
                for c in part { o += "<th scope=\"col\">\(c.1)</th>" }
                o += "</tr></thead><tbody>"
                for r in sum {
                    o += "<tr><td>\(esc(r.pbx))</td>"
                    for c in part { o += "<td>\(r.values[c.0].map { c.2 ? Report.format3($0) : String(Int64($0)) } ?? "-")</td>" }
                    o += "</tr>"
                }
                o += "</tbody></table>"
            }
        }
        o += "</section>"

        // Outcomes over time.
        let outcomes = try outcomesOverTime(run, bucketUs: bucket)
        let bw = Double(bucket) / unit.us
        let oSeries: [Chart.Series] = Report.outcomeClasses.compactMap { c in
            guard let m = outcomes[c.key] else { return nil }
            return .init(name: c.label, color: c.color, points: m.keys.sorted().map { (Double($0) * bw, m[$0]!) })
        }
        var oc = Chart(id: "outcomes", title: "Outcomes over time",
                       description: "Calls placed in each \(Report.bucketName(bucket)) of simulated time, stacked by how they ended.",
                       xLabel: "simulated time (\(unit.name)), calls placed per \(Report.bucketName(bucket))", yLabel: "calls", kind: .stackedBars, series: oSeries)
        oc.barWidth = bw
        oc.xFormat = fmtT
        oc.xRange = (0, Double(buckets) * bw)
        o += "<section id=\"outcomes-section\"><h2>Outcomes</h2>" + (oSeries.isEmpty ? "<p class=\"note\">No call was placed.</p>" : oc.html())
        // Why the calls that were not answered ended (docs/trace-schema.md, call.end_cause).
        o += endCauseTable(try endCauses(run))
        o += "</section>"

        // Post-dial delay.
        let hists = try pdd([run])
        o += "<section id=\"pdd-section\"><h2>Post-dial delay</h2>"
        if hists.values.allSatisfy({ $0.count == 0 }) {
            o += "<p class=\"note\">No call reached ringback or answer.</p>"
        } else {
            o += pddChart(hists, id: "pdd") + pddTable(hists)
        }
        o += "</section>"

        // Trunk occupancy.
        o += "<section id=\"trunk-section\"><h2>Public-trunk occupancy</h2>"
        let channels = try trunkChannels(run)
        let cardList = try cards(run)
        let steps = try stepAggregates(run, bucketUs: bucket, buckets: buckets, cards: cardList, endUs: span)
        if let occ = steps.occupancy {
            var series: [Chart.Series] = []
            for (i, pbx) in occ.keys.sorted().enumerated() {
                let color = Chart.palette[i % Chart.palette.count]
                // Each PBX its own colour and dash, so lines that coincide stay distinguishable.
                series.append(.init(name: "\(pbx) channels in use (peak)", color: color, points: occ[pbx]!.enumerated().map { (Double($0.offset) * bw, $0.element) },
                                    dash: [nil, "6,3", "2,2", "8,3,2,3"][i % 4] ?? "none"))
                if let n = channels[pbx] {
                    series.append(.init(name: "\(pbx) channels", color: color, points: [(0, Double(n)), (Double(buckets) * bw, Double(n))], dash: "1,4"))
                }
            }
            var tc = Chart(id: "trunk", title: "Public-trunk channels in use",
                           description: "The most channels in use on each PBX's public trunk groups (outgoing and incoming) within each \(Report.bucketName(bucket)), against the channels it has (dotted).",
                           xLabel: "simulated time (\(unit.name))", yLabel: "channels", kind: .lines, series: series)
            tc.xFormat = fmtT
            tc.xRange = (0, Double(buckets) * bw)
            o += tc.html()
        } else {
            o += "<p class=\"note\">No trunk seizure is recorded: the run used no public trunk, or it was recorded with <code>--trace calls</code>.</p>"
        }
        o += "</section>"

        // SIP targets and card states.
        o += "<section id=\"sip-section\"><h2>SIP targets and card state</h2>"
        let ts = try targetStats(run, bucketUs: bucket)
        if !ts.recorded {
            o += "<p class=\"note\">No SIP message is recorded: the run sent none, or it was recorded with <code>--trace steps</code> or <code>calls</code>.</p>"
        } else {
            for (id, title, what, unitName, data) in [
                ("sip-attempts", "INVITE attempts per SIP target", "INVITE transactions the PBXs started towards each carrier SIP server (retransmissions not counted)", "INVITE attempts", ts.attempts),
                ("sip-failovers", "Failovers away from each SIP target", "attempts on each server that were followed by an attempt on another target for the same call", "failovers", ts.failovers),
                ("sip-503", "503 Service Unavailable per SIP target", "503 responses each server sent to a PBX", "503 responses", ts.unavailable)] {
                let series: [Chart.Series] = ts.targets.enumerated().map { i, t in
                    let m = data[t] ?? [:]
                    return .init(name: t, color: Chart.palette[i % Chart.palette.count],
                                 points: (0..<buckets).map { (Double($0) * bw, m[Int64($0)] ?? 0) }, dash: Chart.dashes[i % Chart.dashes.count] ?? "none")
                }
                var c = Chart(id: id, title: title, description: "The \(what), per \(Report.bucketName(bucket)) of simulated time.",
                              xLabel: "simulated time (\(unit.name))", yLabel: "\(unitName) per \(Report.bucketName(bucket))", kind: .lines, series: series)
                c.xFormat = fmtT
                c.xRange = (0, Double(buckets) * bw)
                o += c.html()
            }
        }
        if !cardList.isEmpty {
            let rows = steps.cardStates
            let band = BandChart(id: "card-state", title: "V-SIPGW card state",
                                 description: "Each card's state over simulated time: INS in service, OUS out of service (registration failed), Fault (the PBX's own network is down).",
                                 xLabel: "simulated time (\(unit.name))",
                                 rows: rows.map { r in (r.name, r.segments.map { .init(start: $0.start * 1e6 / unit.us, end: $0.end * 1e6 / unit.us, state: $0.state) }) },
                                 colors: ["INS": "#009E73", "OUS": "#D55E00", "Fault": "#000000"], span: (0, Double(span) / unit.us), xFormat: fmtT)
            o += band.html()
        }
        o += "</section>"
        o += try ladders(run)
        return o
    }

    /// The calls not answered by outcome and cause (`endCauses`), as a table; nothing without any.
    func endCauseTable(_ causes: [(outcome: String, cause: String, calls: Int64)]) -> String {
        guard !causes.isEmpty else { return "" }
        var o = "<table id=\"end-causes\"><caption>Calls not answered, by why they ended</caption><thead><tr><th scope=\"col\">outcome</th>"
            + "<th scope=\"col\">cause</th><th scope=\"col\">calls</th></tr></thead><tbody>"
        for c in causes { o += "<tr><td>\(esc(c.outcome))</td><td>\(esc(c.cause))</td><td>\(c.calls)</td></tr>" }
        return o + "</tbody></table>"
    }

    /// Ladder diagrams of chosen calls, or of the first calls of each outcome other than answered.
    func ladders(_ run: Int64) throws -> String {
        let reader = TraceReader(db: db)
        var chosen = calls
        if chosen.isEmpty {
            for outcome in try db.rows("SELECT DISTINCT outcome FROM call WHERE run_id = ? AND outcome != 'answered' ORDER BY outcome", [.int(run)]).compactMap({ $0[0] }) {
                chosen += try db.rows("SELECT call_id FROM call WHERE run_id = ? AND outcome = ? ORDER BY call_id LIMIT ?",
                                      [.int(run), .text(outcome), .int(Int64(laddersPerOutcome))]).compactMap { $0[0].flatMap { Int($0) } }
            }
        }
        var o = "<section id=\"ladders\"><h2>Call flows</h2>"
        if chosen.isEmpty { return o + "<p class=\"note\">Every call was answered; choose calls to draw with <code>--call N</code>.</p></section>" }
        let hosts = try reader.hosts(runID: run)
        for id in chosen {
            guard let call = try reader.call(runID: run, callID: id) else { throw ReportError.unknownCall(id) }
            let rows = try reader.rows(runID: run, callID: id)
            let ladder = Ladder.build(call: call, rows: rows, hosts: hosts)
            var svg = ladder.renderSVG()
            if let end = svg.range(of: "?>\n") { svg = String(svg[end.upperBound...]) }
            svg = svg.replacingOccurrences(of: "id=\"arrow\"", with: "id=\"arrow-\(id)\"").replacingOccurrences(of: "url(#arrow)", with: "url(#arrow-\(id))")
            svg = svg.replacingOccurrences(of: "<svg xmlns", with: "<svg role=\"img\" aria-label=\"ladder diagram of call \(id)\" xmlns")
            o += "<figure class=\"ladder\" id=\"ladder-\(id)\"><figcaption><strong>Call \(id)</strong>: \(esc(call.caller)) dials \(esc(call.dialed)), \(esc(call.outcome))\(call.route.map { " via \(esc($0))" } ?? "").</figcaption>"
            o += rows.isEmpty ? "<p class=\"note\">No steps are recorded for this call (<code>--trace calls</code>).</p>" : svg
            o += "<details class=\"data\"><summary>Text version of call \(id)</summary><pre>\(esc(ladder.renderText(color: false)))</pre></details></figure>"
        }
        return o + "</section>"
    }
}
