import Testing
import Foundation
import Store
import Export

/// Issue 11: every export format (and the report) is linear in the number of calls, with the call
/// indexes and without them (a bulk write killed before its end, in a file the reader cannot write
/// to repair). Work is counted in SQLite's virtual-machine instructions (`SQLiteDatabase.work`),
/// which depend on the data and the query plans only: twice the calls must cost about twice the
/// work, where a lookup per call that reads the whole run costs four times as much.
@Suite(.serialized) struct ExportLinearityTests {
    /// A failover workload of `calls` calls (three silent SIP targets, then the public trunk; calls
    /// overlap, so their rows interleave in `seq`), written by `pbxsim run` into a new file.
    func makeDB(calls: Int) throws -> String {
        let scenario = tempPath("lin-\(calls).yaml"), db = tempPath("lin-\(calls).sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
        try """
            name: linearity-\(calls)
            seed: 3
            network:
              latency: 10ms
              hosts: {sip1.itsp.example: 192.0.2.10, sip2.itsp.example: 192.0.2.11, pbx1.example: 198.51.100.1}
            sip_servers:
              - {host: sip1.itsp.example, domain: itsp.example}
              - {host: sip2.itsp.example, domain: itsp.example}
            telephone_companies:
              - {name: TELCO-098, area_code: "098"}
              - {name: TELCO-012, area_code: "012", subscribers: [{numbers: "012-999-0000..012-999-0999", answer_after: 1s}]}
            pbxs:
              - name: PBX-1
                host: pbx1.example
                telephone_company: TELCO-098
                extensions: [{numbers: "1000..1199"}]
                public_trunk: {channels: 200, numbers: ["098-765-4321"]}
                v_sipgw: {sip_server: 192.0.2.10, sip_server_failover: 192.0.2.11, invite_timeout: 4s, numbers: ["098-765-4321"]}
            traffic:
              - {from: PBX-1/1000..1199, to: "012-999-0000..012-999-0999", erlangs: 20, mean_hold: 2s, calls: \(calls)}
            timeline:
              - {at: 0s, do: "down sip1.itsp.example sip2.itsp.example"}
            """.write(toFile: scenario, atomically: true, encoding: .utf8)
        let r = try runCLI(["run", scenario, "--db", db, "--summary-only"])
        #expect(r.status == 0, "\(r.err)")
        return db
    }

    /// The same file without its call indexes (a copy; the original keeps them).
    func withoutIndexes(_ db: String) throws -> String {
        let bare = db.replacingOccurrences(of: ".sqlite", with: "-bare.sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: bare + suffix) }
        try SQLiteDatabase(path: db).execute("VACUUM INTO '\(bare)'")
        let w = try SQLiteDatabase(path: bare)
        for i in TraceStore.callIndexes { try w.execute("DROP INDEX \(i.name)") }
        return bare
    }

    /// Each reader's work on `db`, opened read-only as `pbxsim export` opens it, and its output.
    func work(_ db: String) throws -> [String: (work: Int64, output: String)] {
        let database = try SQLiteDatabase(path: db, readOnly: true)
        let exporter = try Exporter(db: database, runs: nil, split: false)
        var out: [String: (Int64, String)] = [:]
        func measure(_ name: String, _ body: ([String]) throws -> Void) throws {
            let paths = [tempPath("lin-out-\(name)-a"), tempPath("lin-out-\(name)-b")]
            database.countWork()
            try body(paths)
            let text = paths.compactMap { try? Data(contentsOf: URL(fileURLWithPath: $0)) }.map { $0.base64EncodedString() }.joined(separator: "|")
            out[name] = (database.work, text)
            for p in paths { try? FileManager.default.removeItem(atPath: p) }
        }
        func file(_ path: String, _ body: (OutputFile) throws -> Void) throws {
            let f = try OutputFile(path: path)
            try body(f)
            try f.close()
        }
        try measure("jsonl") { p in try file(p[0]) { try exporter.jsonl(to: $0) } }
        try measure("episodes") { p in try file(p[0]) { try exporter.episodes(to: $0) } }
        try measure("csv") { p in try file(p[0]) { c in try file(p[1]) { s in try exporter.csv(calls: c, steps: s) } } }
        try measure("pcap") { p in try file(p[0]) { try exporter.pcap(to: $0, deliveredOnly: false) } }
        // The report with the same two ladders in both files (by default it draws the first calls
        // of each outcome, and a larger run may have more outcomes); its footer names the file.
        try measure("report") { p in
            var report = try Report(db: database, runs: nil)
            report.calls = [1, 2]
            try file(p[0]) { try report.write(to: $0) }
            let html = try String(contentsOfFile: p[0], encoding: .utf8).replacingOccurrences(of: db, with: "DB")
            try html.write(toFile: p[0], atomically: true, encoding: .utf8)
        }
        return out
    }

    @Test func everyExportIsLinearInCallsWithAndWithoutTheCallIndexes() throws {
        let small = try makeDB(calls: 150), large = try makeDB(calls: 300)
        let indexed = (small: try work(small), large: try work(large))
        let bare = (small: try work(try withoutIndexes(small)), large: try work(try withoutIndexes(large)))
        for format in ["jsonl", "episodes", "csv", "pcap", "report"] {
            for (name, w) in [("with the call indexes", indexed), ("without them", bare)] {
                let a = try #require(w.small[format]), b = try #require(w.large[format])
                #expect(a.work > 10 && !a.output.isEmpty, "\(format) \(name): no work counted")
                let ratio = Double(b.work) / Double(a.work)
                // Linear: 2 × the calls, about 2 × the work (the fixed part of a run makes it a
                // little less); a scan of the run per call would make it about 4 ×.
                #expect(ratio > 1.5 && ratio < 2.4, "\(format) \(name): \(a.work)k → \(b.work)k VM instructions for 2 × the calls (ratio \(ratio))")
            }
            // And the same bytes either way.
            let same = indexed.large[format]?.output == bare.large[format]?.output
            #expect(same, "\(format) differs without the call indexes")
        }
    }
}
