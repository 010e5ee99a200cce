import SimCore
import Store

extension Report {
    /// The report of several runs: what they are, the outcome balance, post-dial delay, and
    /// post-dial delay against each swept parameter.
    func dataset() throws -> String {
        let selected = Set(runs)
        var o = "<section id=\"runs\"><h2>Runs</h2>"
        var totalCalls: Int64 = 0
        var scenarios: [String: Int] = [:]
        var sweeps: Set<String> = []
        var rowsHTML = ""
        var shown = 0
        for run in runs {
            guard let info = try runInfo(run) else { continue }
            totalCalls += info.calls
            scenarios[info.scenario, default: 0] += 1
            if let s = info.sweep { sweeps.insert(s) }
            if shown < 100 {
                shown += 1
                rowsHTML += "<tr><td>\(run)</td><td>\(esc(info.scenario))</td><td>\(UInt64(bitPattern: info.seed))</td><td>\(esc(info.status))</td><td>\(info.calls)</td></tr>"
            }
        }
        o += "<p>\(runs.count) runs, \(totalCalls) calls; scenarios: \(scenarios.keys.sorted().map { "\(esc($0)) (\(scenarios[$0]!))" }.joined(separator: ", "))"
        o += sweeps.isEmpty ? ".</p>" : "; sweeps: \(sweeps.sorted().map(esc).joined(separator: ", ")).</p>"
        o += "<details class=\"data\"><summary>The runs\(runs.count > 100 ? " (first 100)" : "")</summary><table><thead><tr><th scope=\"col\">run</th><th scope=\"col\">scenario</th><th scope=\"col\">seed</th><th scope=\"col\">status</th><th scope=\"col\">calls</th></tr></thead><tbody>\(rowsHTML)</tbody></table></details></section>"

        // Outcome balance over all selected runs.
        var totals: [String: Double] = [:]
        let s = try db.prepare("SELECT run_id, \(Report.classSQL), count(*) FROM call GROUP BY 1, 2")
        while try s.step() { guard selected.contains(s.int(0)) else { continue }; totals[s.text(1) ?? "failed", default: 0] += Double(s.int(2)) }
        let present = Report.outcomeClasses.filter { totals[$0.key] != nil }
        let legend = present.map { "\($0.short) = \($0.label)" }.joined(separator: "; ")
        let balance = Chart(id: "balance", title: "Outcome balance",
                            description: "Calls of all selected runs by how they ended: the class balance of the dataset (\(legend)).",
                            xLabel: "outcome", yLabel: "calls", kind: .groupedBars,
                            series: [.init(name: "calls", color: "#0072B2", points: present.enumerated().map { (Double($0.offset), totals[$0.element.key]!) })],
                            categories: present.map(\.short))
        o += "<section id=\"balance-section\"><h2>Outcome balance</h2>" + (present.isEmpty ? "<p class=\"note\">No call was placed.</p>" : balance.html())
            + endCauseTable(try endCauses(runs: selected)) + "</section>"

        // Post-dial delay overall.
        let hists = try pdd(runs)
        o += "<section id=\"pdd-section\"><h2>Post-dial delay</h2>"
        o += hists.values.allSatisfy({ $0.count == 0 }) ? "<p class=\"note\">No call reached ringback or answer.</p>" : pddChart(hists, id: "pdd") + pddTable(hists)
        o += "</section>"

        // Post-dial delay against each swept parameter: the mean of each run, per route class.
        var params: [String: [Int64: String]] = [:]
        let p = try db.prepare("SELECT run_id, name, value FROM run_param ORDER BY name, run_id")
        while try p.step() { guard selected.contains(p.int(0)) else { continue }; params[p.text(1) ?? "", default: [:]][p.int(0)] = p.text(2) ?? "" }
        var means: [String: [Int64: Double]] = [:]
        let m = try db.prepare("SELECT run_id, \(Report.routeSQL) AS r, avg(pdd_us) FROM call WHERE pdd_us IS NOT NULL GROUP BY 1, 2")
        while try m.step() { guard selected.contains(m.int(0)), !m.isNull(1) else { continue }; means[m.text(1)!, default: [:]][m.int(0)] = m.double(2) / 1e6 }
        o += "<section id=\"params-section\"><h2>Post-dial delay against the swept parameters</h2>"
        if params.isEmpty { o += "<p class=\"note\">No swept parameter is recorded for these runs (they were not made by <code>pbxsim generate</code>).</p>" }
        for (i, name) in params.keys.sorted().enumerated() {
            let values = params[name]!
            // Numeric when every value reads as a number, a duration or a percentage.
            let numeric = values.values.allSatisfy { Report.numericValue($0) != nil }
            var categories: [String]? = nil
            var x: [Int64: Double] = [:]
            if numeric {
                for (r, v) in values { x[r] = Report.numericValue(v)! }
            } else {
                let cats = Set(values.values).sorted()
                categories = cats
                for (r, v) in values { x[r] = Double(cats.firstIndex(of: v)!) }
            }
            let series: [Chart.Series] = Report.routeClasses.compactMap { c in
                guard let per = means[c.key] else { return nil }
                let pts = values.keys.sorted().compactMap { r -> (x: Double, y: Double)? in per[r].map { (x[r]!, $0) } }
                return pts.isEmpty ? nil : .init(name: "\(c.label) (mean of a run)", color: c.color, points: pts)
            }
            let unit = Report.numericUnit(values.values.first ?? "")
            let chart = Chart(id: "param-\(i)", title: "Post-dial delay against \(name)",
                              description: "Each point is one run: its value of \(name) and the mean post-dial delay of its calls that reached ringback or answer, by route.",
                              xLabel: "\(name)\(numeric && !unit.isEmpty ? " (\(unit))" : "")", yLabel: "mean post-dial delay (s)", kind: .scatter,
                              series: series, categories: categories, yCounts: false)
            o += series.isEmpty ? "<p class=\"note\">\(esc(name)): no call reached ringback.</p>" : chart.html()
        }
        return o + "</section>"
    }

    /// A swept value as a number: plain numbers, percentages, and durations (in ms).
    static func numericValue(_ v: String) -> Double? {
        let t = v.hasSuffix("%") ? String(v.dropLast()) : v
        if let d = Double(t), d.isFinite { return d }
        if let d = SimTime.parseDuration(v) { return Double(d.ns) / 1e6 }
        return nil
    }

    static func numericUnit(_ sample: String) -> String {
        if sample.hasSuffix("%") { return "%" }
        if Double(sample) == nil, SimTime.parseDuration(sample) != nil { return "ms" }
        return ""
    }
}
