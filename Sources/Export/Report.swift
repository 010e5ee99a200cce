import SimCore
import Store

public enum ReportError: Error, CustomStringConvertible {
    case noRuns(String)
    case unknownRun(Int64)
    case unknownCall(Int)
    public var description: String {
        switch self {
        case .noRuns(let why): return why
        case .unknownRun(let r): return "no run \(r) in this database"
        case .unknownCall(let c): return "no call \(c) in the run"
        }
    }
}

/// A self-contained HTML report of one run (summary, outcomes over time, post-dial delay,
/// trunk occupancy, SIP targets and card states, ladders) or of several runs (a dataset: outcome
/// balance and post-dial delay against each swept parameter). Charts are inline SVG built from
/// aggregates streamed out of SQLite, so the file stays small whatever the number of calls.
public struct Report {
    public let db: SQLiteDatabase
    public let runs: [Int64]
    /// Calls to draw as ladders (single run); when empty, the first `laddersPerOutcome` calls of
    /// each outcome other than answered.
    public var calls: [Int] = []
    public var laddersPerOutcome = 3
    /// Title line (the REPL says "session so far").
    public var note: String?
    /// The end of the time axis in microseconds, for a run still going (the REPL's now).
    public var endUs: Int64?

    public init(db: SQLiteDatabase, runs: [Int64]?) throws {
        self.db = db
        let all = try db.rows("SELECT run_id FROM run ORDER BY run_id").compactMap { $0[0].flatMap { Int64($0) } }
        if let runs, !runs.isEmpty {
            for r in runs where !all.contains(r) { throw ReportError.unknownRun(r) }
            self.runs = runs
        } else {
            guard !all.isEmpty else { throw ReportError.noRuns("the database holds no run") }
            self.runs = all
        }
    }

    public func html() throws -> String {
        var body: String
        let title: String
        if runs.count == 1 {
            guard let info = try runInfo(runs[0]) else { throw ReportError.unknownRun(runs[0]) }
            title = "pbxsim report: \(info.scenario), run \(info.id)"
            body = try singleRun(info)
        } else {
            title = "pbxsim report: \(runs.count) runs"
            body = try dataset()
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(title))</title><style>\(Report.css)</style></head>
        <body><main><h1>\(esc(title))</h1>\(note.map { "<p class=\"note\">\(esc($0))</p>" } ?? "")
        \(body)
        <footer><p>Written by pbxsim from \(esc(db.path)). Times are simulated time from the start of the run. Every chart has its numbers in a data table below it.</p></footer>
        </main></body></html>

        """
    }

    public func write(to out: OutputFile) throws { out.write(try html()) }

    static let css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111;background:#fff;margin:0}
        main{max-width:980px;margin:0 auto;padding:1rem 1.5rem}
        h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2rem}
        table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.2rem .45rem;text-align:right}
        th:first-child,td:first-child{text-align:left}thead th{background:#f0f0f0}
        figure{margin:1rem 0;break-inside:avoid;page-break-inside:avoid}figcaption{margin-bottom:.3rem}
        svg text{font-size:11px;font-family:inherit}svg .axis{font-size:12px;font-weight:600}
        .legend{list-style:none;padding:0;margin:.3rem 0;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;font-size:.85rem}
        .legend .sw{display:inline-block;width:12px;height:12px;border:1px solid #333;margin-right:.35rem;vertical-align:-1px}
        .legend .swl{margin-right:.35rem;vertical-align:0}
        .meta td,.meta th{text-align:left}.note{color:#444;font-style:italic}
        details.data summary{cursor:pointer;color:#0b4f8a;font-size:.85rem}
        pre{font-size:10px;overflow-x:auto}svg{max-width:100%;height:auto}
        @media print{details.data{display:none}h2{break-after:avoid}main{max-width:none}a{color:#000}}
        """

    /// A time axis unit for a span: seconds below ten minutes, minutes up to two days, hours beyond.
    static func timeUnit(spanUs: Int64) -> (name: String, us: Double) {
        if spanUs < 600_000_000 { return ("s", 1e6) }
        if spanUs < 172_800_000_000 { return ("min", 60e6) }
        return ("h", 3600e6)
    }

    /// Bucket width: one minute when the run lasts ten minutes or more (coarser past 240
    /// buckets), else a round number of seconds giving at most 60 buckets.
    static func bucketUs(spanUs: Int64) -> Int64 {
        let choices: [Int64] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400]
        let target = spanUs >= 600_000_000 ? max(60_000_000, spanUs / 240) : spanUs / 60
        for c in choices where c * 1_000_000 >= target { return c * 1_000_000 }
        return 86_400_000_000
    }

    static func bucketName(_ us: Int64) -> String {
        let s = us / 1_000_000
        if s % 3600 == 0 { return s == 3600 ? "hour" : "\(s / 3600) h" }
        if s % 60 == 0 { return s == 60 ? "minute" : "\(s / 60) min" }
        return s == 1 ? "second" : "\(s) s"
    }

    static func seconds(_ v: Double?) -> String {
        guard let v else { return "-" }
        return format3(v) + " s"
    }

    /// A number with at most three decimals, without a trailing `.0`.
    public static func format3(_ v: Double) -> String {
        let r = (v * 1000).rounded() / 1000
        var s = String(r)
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }

    func pddTable(_ hists: [String: DelayHistogram]) -> String {
        var o = "<table><thead><tr><th scope=\"col\">route</th><th scope=\"col\">calls</th><th scope=\"col\">mean</th><th scope=\"col\">p50</th><th scope=\"col\">p95</th><th scope=\"col\">p99</th><th scope=\"col\">max</th></tr></thead><tbody>"
        for c in Report.routeClasses {
            guard let h = hists[c.key], h.count > 0 else { continue }
            func q(_ x: Double) -> String { Report.seconds(h.quantile(x)?.seconds) }
            o += "<tr><td>\(c.label)</td><td>\(h.count)</td><td>\(Report.seconds(h.mean?.seconds))</td><td>\(q(0.5))</td><td>\(q(0.95))</td><td>\(q(0.99))</td><td>\(Report.seconds(Double(h.maxNs) / 1e9))</td></tr>"
        }
        return o + "</tbody></table>"
    }

    /// The post-dial-delay histogram chart, one series per route class.
    func pddChart(_ hists: [String: DelayHistogram], id: String) -> String {
        let maxMs = hists.values.map { Int($0.maxNs / 1_000_000) }.max() ?? 0
        let raw = max(1, (maxMs + 1) / 40)
        let width = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000].first { $0 >= raw } ?? raw
        let bins = maxMs / width + 1
        var series: [Chart.Series] = []
        for c in Report.routeClasses {
            guard let h = hists[c.key], h.count > 0 else { continue }
            let counts = h.binned(widthMs: width, bins: bins)
            series.append(.init(name: c.label, color: c.color, points: counts.enumerated().map { (Double($0.offset * width) / 1000, Double($0.element)) }))
        }
        var chart = Chart(id: id, title: "Post-dial delay by route",
                          description: "How many calls had each post-dial delay (dialling to the first ringback or answer), in bins of \(Report.format3(Double(width) / 1000)) s, by the route that carried them: over SIP, rerouted to the public trunk after SIP failed, or public from the start.",
                          xLabel: "post-dial delay (s)", yLabel: "calls", kind: .groupedBars, series: series)
        chart.barWidth = Double(width) / 1000
        return chart.html()
    }
}
