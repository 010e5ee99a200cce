import Testing
import Foundation
import Store
@testable import Export

/// `pbxsim report`: what the HTML holds, checked against the database it was made from, and in
/// a real browser (headless Chromium).
@Suite(.serialized) struct ReportTests {
    /// Runs bundled scenarios into a fresh database and returns its path.
    func database(_ name: String, _ scenarios: [String]) throws -> String {
        let db = tempPath(name)
        for s in scenarios {
            let r = try runCLI(["run", scenarioPath(s), "--db", db, "-q"])
            #expect(r.status == 0, "\(s): \(r.err)")
        }
        return db
    }

    /// Every chart of the file with the number of series it declares and draws.
    func charts(_ html: String) -> [String: (declared: Int, drawn: Int)] {
        var out: [String: (Int, Int)] = [:]
        for part in html.components(separatedBy: "<figure class=\"chart\"").dropFirst() {
            let body = part.components(separatedBy: "</figure>")[0]
            guard let id = attribute("data-chart", in: body), let n = attribute("data-series", in: body).flatMap(Int.init) else { continue }
            out[id] = (n, body.components(separatedBy: "<g class=\"series\"").count - 1)
        }
        return out
    }

    func attribute(_ name: String, in s: String) -> String? {
        guard let r = s.range(of: "\(name)=\"") else { return nil }
        return String(s[r.upperBound...].prefix { $0 != "\"" })
    }

    @Test func singleRunHasEveryChartWithItsSeries() throws {
        let db = try database("report-seed.sqlite", ["seed-example.yaml"])
        let out = tempPath("seed.html")
        let r = try runCLI(["report", db, "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        let c = charts(html)
        // The seed call: one outcome class (answered after reroute), one PDD route (rerouted),
        // two PBXs with trunk steps (in use + channels each), three SIP targets, two cards.
        #expect(c["outcomes"]?.declared == 1)
        #expect(c["pdd"]?.declared == 1)
        #expect(c["trunk"]?.declared == 4)
        for id in ["sip-attempts", "sip-failovers", "sip-503"] { #expect(c[id]?.declared == 3, "\(id)") }
        #expect(c["card-state"]?.declared == 2)
        for (id, v) in c { #expect(v.declared == v.drawn, "\(id): declares \(v.declared) series, draws \(v.drawn)") }
        // The numbers: PDD 13.4 s (dialled at 1 s, ALERTING at 14.4 s) on the rerouted route,
        // the run's scenario hash, and the summary row.
        #expect(html.contains("<td>rerouted</td><td>1</td><td>13.4 s</td>"))
        let hash = try #require(try SQLiteDatabase(path: db, readOnly: true).rows("SELECT scenario_hash FROM run").first?[0] ?? nil)
        #expect(html.contains(hash))
        #expect(html.contains("answered after reroute"))
        // The only answered call gets no ladder unless asked for.
        #expect(html.contains("Every call was answered"))
        let out2 = tempPath("seed-call1.html")
        #expect(try runCLI(["report", db, "--call", "1", "--out", out2]).status == 0)
        let html2 = try String(contentsOfFile: out2, encoding: .utf8)
        #expect(html2.contains("id=\"ladder-1\"") && html2.contains("INVITE"))
    }

    /// The calls not answered, by why they ended: one row per outcome and cause with the count
    /// the `call` table holds (busy-hour-sip-failure blocks calls when its 8 public channels are
    /// full, and has a busy subscriber), none for answered calls, and no table when every call
    /// was answered (the seed call).
    @Test func unansweredCallsByCause() throws {
        let db = try database("report-causes.sqlite", ["busy-hour-sip-failure.yaml"])
        let out = tempPath("causes.html")
        #expect(try runCLI(["report", db, "--out", out]).status == 0)
        let html = try String(contentsOfFile: out, encoding: .utf8)
        let table = try #require(html.components(separatedBy: "<table id=\"end-causes\">").dropFirst().first?.components(separatedBy: "</table>").first)
        let expected = try SQLiteDatabase(path: db, readOnly: true).rows("""
            SELECT outcome, end_cause, count(*) FROM call WHERE outcome != 'answered' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
            """)
        #expect(!expected.isEmpty && expected.allSatisfy { $0[1] != nil })
        let rows = table.components(separatedBy: "<tr><td>").dropFirst().map { "<td>" + $0.components(separatedBy: "</tr>")[0] }
        #expect(rows == expected.map { "<td>\($0[0] ?? "")</td><td>\($0[1] ?? "")</td><td>\($0[2] ?? "")</td>" })
        #expect(!table.contains("<td>answered</td>"))
        // A dataset report sums them over the selected runs.
        #expect(try runCLI(["run", scenarioPath("busy-far-end.yaml"), "--db", db, "-q"]).status == 0)
        #expect(try runCLI(["report", db, "--all-runs", "--out", out]).status == 0)
        let all = try String(contentsOfFile: out, encoding: .utf8)
        let allTable = try #require(all.components(separatedBy: "<table id=\"end-causes\">").dropFirst().first?.components(separatedBy: "</table>").first)
        let allExpected = try SQLiteDatabase(path: db, readOnly: true).rows("""
            SELECT outcome, end_cause, count(*) FROM call WHERE outcome != 'answered' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
            """)
        #expect(allExpected.contains { $0[1] == "sip-final" } && allExpected.count >= expected.count)
        #expect(allTable.components(separatedBy: "<tr><td>").dropFirst().map { "<td>" + $0.components(separatedBy: "</tr>")[0] }
                == allExpected.map { "<td>\($0[0] ?? "")</td><td>\($0[1] ?? "")</td><td>\($0[2] ?? "")</td>" })
        let seed = try database("report-causes-seed.sqlite", ["seed-example.yaml"])
        #expect(try runCLI(["report", seed, "--out", out]).status == 0)
        #expect(!(try String(contentsOfFile: out, encoding: .utf8)).contains("end-causes"))
    }

    /// Self-contained and readable: no script, no external reference; every chart has a title,
    /// a description, two axis labels, a legend and a data table.
    @Test func selfContainedAndAccessible() throws {
        let db = try database("report-busy.sqlite", ["busy-hour-sip-failure.yaml"])
        let out = tempPath("busy.html")
        #expect(try runCLI(["report", db, "--out", out]).status == 0)
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(!html.contains("<script"))
        #expect(!html.contains("src="))
        #expect(!html.contains("<link"))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").range(of: "http") == nil)
        let figures = html.components(separatedBy: "<figure class=\"chart\"").dropFirst().map { $0.components(separatedBy: "</figure>")[0] }
        #expect(figures.count >= 7)
        for f in figures {
            #expect(f.contains("<figcaption>") && f.contains("<title id=") && f.contains("<desc id="))
            #expect(f.contains("class=\"legend\"") && f.contains("<details class=\"data\">"))
            let axes = f.components(separatedBy: "class=\"axis\"").count - 1
            #expect(axes >= 1 && (f.contains("data-chart=\"card-state\"") || axes == 2))
        }
        // The card went OUS during the busy hour: the band shows both states.
        #expect(html.contains("PBX-1 OUS from"))
        // Blocked calls get ladders by default.
        #expect(html.contains("class=\"ladder\""))
    }

    /// Chart sizes follow buckets and targets, not calls: four times the calls in the same span
    /// give a report of about the same size.
    @Test func sizeDoesNotGrowWithCalls() throws {
        func report(erlangs: Int, calls: Int, name: String) throws -> Int {
            let text = try String(contentsOfFile: scenarioPath("public-trunk-overflow.yaml"), encoding: .utf8)
                .replacingOccurrences(of: "erlangs: 8", with: "erlangs: \(erlangs)")
                .replacingOccurrences(of: "calls: 600", with: "calls: \(calls)")
                .replacingOccurrences(of: "\nexpect:", with: "\nexpect_removed:")
                .components(separatedBy: "\nexpect_removed:")[0]
            let file = tempPath(name + ".yaml")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let db = tempPath(name + ".sqlite")
            let r = try runCLI(["run", file, "--db", db, "--summary-only"])
            #expect(r.status == 0, "\(r.err)")
            let out = tempPath(name + ".html")
            #expect(try runCLI(["report", db, "--out", out]).status == 0)
            return try Data(contentsOf: URL(fileURLWithPath: out)).count
        }
        let small = try report(erlangs: 8, calls: 300, name: "size-small")
        let large = try report(erlangs: 32, calls: 1200, name: "size-large")
        #expect(Double(large) < Double(small) * 1.3, "300 calls: \(small) bytes, 1200 calls: \(large) bytes")
    }

    /// Several runs (a dataset from a sweep): the outcome balance and one chart per swept parameter.
    @Test func datasetReport() throws {
        let db = tempPath("report-dataset.sqlite")
        let g = try runCLI(["generate", packageRoot.appendingPathComponent("sweeps/failover.yaml").path, "--runs", "12", "--db", db, "--seed", "3"])
        #expect(g.status == 0, "\(g.err)")
        let out = tempPath("dataset.html")
        let r = try runCLI(["report", db, "--all-runs", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        let html = try String(contentsOfFile: out, encoding: .utf8)
        let c = charts(html)
        #expect(c["balance"]?.declared == 1)
        let params = try SQLiteDatabase(path: db, readOnly: true).rows("SELECT DISTINCT name FROM run_param ORDER BY name").compactMap { $0[0] }
        #expect(!params.isEmpty)
        for (i, p) in params.enumerated() {
            #expect(c["param-\(i)"] != nil || html.contains("\(p): no call reached ringback"), "no chart for \(p)")
            #expect(html.contains("Post-dial delay against \(p)"))
        }
        // The balance adds up to every call of the dataset.
        let total = try SQLiteDatabase(path: db, readOnly: true).scalarInt("SELECT count(*) FROM call") ?? 0
        #expect(html.contains("12 runs, \(total) calls"))
    }

    @Test func badInputExitsTwo() throws {
        let missing = try runCLI(["report", tempPath("nope.sqlite"), "--out", tempPath("x.html")])
        #expect(missing.status == 2 && missing.err.contains("nope.sqlite"))
        let db = try database("report-bad.sqlite", ["busy-far-end.yaml"])
        let unknown = try runCLI(["report", db, "--run", "7", "--out", tempPath("x.html")])
        #expect(unknown.status == 2 && unknown.err.contains("no run 7"))
        let call = try runCLI(["report", db, "--call", "99", "--out", tempPath("x.html")])
        #expect(call.status == 2 && call.err.contains("no call 99"))
    }

    /// The REPL writes the same report for the session so far.
    @Test func replReport() throws {
        let out = tempPath("session.html")
        let res = try runRepl("""
            advance 1s
            down sip1.itsp.example sip2.itsp.example sip3.itsp.example
            dial PBX-1/1000 012-345-1011 hold 5s
            run
            report \(out)
            """, args: ["--db", tempPath("repl-report.sqlite")])
        #expect(res.status == 0, "\(res.err)")
        #expect(res.out.contains("wrote \(out)"))
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.contains("The session so far"))
        #expect(charts(html)["outcomes"]?.declared == 1)
        #expect(html.contains("<td>PBX-1</td><td>1</td>"))
    }

    // MARK: - In a real browser

    static var chromium: String? {
        for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return nil
    }

    func runTool(_ path: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) { try runProgram(path, args) }

    /// The report loads in headless Chromium without console errors, the browser's DOM has every
    /// chart with its series, and a screenshot is not blank. Skipped (with a message) where
    /// Chromium is absent, but never in CI (`CI` set), where `.ci/run` installs it.
    @Test func loadsInChromium() throws {
        guard let chromium = Self.chromium else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("CI is set but Chromium is not installed (.ci/run installs it)") }
            else { print("skipping the Chromium report test: no chromium on this machine (apt-get install chromium)") }
            return
        }
        let db = try database("report-browser.sqlite", ["busy-hour-sip-failure.yaml"])
        let out = tempPath("browser.html")
        #expect(try runCLI(["report", db, "--out", out]).status == 0)
        let expected = charts(try String(contentsOfFile: out, encoding: .utf8))
        let common = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                      "--user-data-dir=\(tempPath("chromium-profile"))"]
        // The DOM as the browser built it.
        let dom = try runTool(chromium, common + ["--dump-dom", "file://\(out)"])
        #expect(dom.status == 0, "\(dom.err.suffix(2000))")
        let seen = charts(dom.out)
        #expect(seen.count == expected.count && !seen.isEmpty)
        for (id, v) in expected { #expect(seen[id]?.drawn == v.declared, "\(id) in the browser: \(String(describing: seen[id]))") }
        // No console message of error level, no resource that failed to load.
        let consoleErrors = dom.err.split(separator: "\n").filter { ($0.contains("CONSOLE") && $0.contains("ERROR")) || $0.contains("Failed to load resource") }
        #expect(consoleErrors.isEmpty, "\(consoleErrors)")
        // A screenshot that is not blank: many colours, and a fair share of non-white pixels.
        let png = tempPath("report.png")
        let shot = try runTool(chromium, common + ["--window-size=1000,2400", "--screenshot=\(png)", "file://\(out)"])
        #expect(shot.status == 0 && FileManager.default.fileExists(atPath: png), "\(shot.err.suffix(2000))")
        let check = try runTool("/usr/bin/env", ["python3", packageRoot.appendingPathComponent("scripts/png-stats.py").path, png])
        #expect(check.status == 0, "\(check.err)")
        let fields = check.out.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(fields.count == 2)
        if fields.count == 2 {
            #expect(fields[0] >= 8, "distinct colours: \(fields[0])")
            #expect(fields[1] > 0.02, "share of non-white pixels: \(fields[1])")
        }
    }
}
