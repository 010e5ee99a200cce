import Testing
import Foundation

/// `docs/behaviour.md` maps every item of the domain checklist (§6, items 1-28) to the tests that
/// hold it. This keeps that table honest: every item has a row, and every test it names exists.
@Suite struct BehaviourDocTests {
    @Test func checklistTableNamesRealTests() throws {
        let doc = try String(contentsOfFile: packageRoot.appendingPathComponent("docs/behaviour.md").path, encoding: .utf8)
        guard let start = doc.range(of: "## The domain checklist, item by item") else {
            Issue.record("docs/behaviour.md has no checklist table")
            return
        }
        let rows = doc[start.upperBound...].split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| #") }
        var items: [Int] = []
        var testNames: Set<String> = []
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let n = Int(cells.first ?? "") else { continue }
            items.append(n)
            // Backticked names in the last cell; `Suite.test` counts as `test`; files are skipped.
            let last = cells.last ?? ""
            for (i, part) in last.split(separator: "`", omittingEmptySubsequences: false).enumerated() where i % 2 == 1 {
                if part.hasSuffix(".yaml") || part.hasSuffix(".trace") { continue }
                testNames.insert(String(part.split(separator: ".").last ?? part))
            }
        }
        #expect(items == Array(1...28))
        // Every named test is a function (or a suite) in Tests/.
        var source = ""
        let testsDir = packageRoot.appendingPathComponent("Tests")
        let files = FileManager.default.enumerator(atPath: testsDir.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        for f in files { source += (try? String(contentsOfFile: testsDir.appendingPathComponent(f).path, encoding: .utf8)) ?? "" }
        for name in testNames.sorted() {
            #expect(source.contains("func \(name)(") || source.contains("struct \(name) "), "docs/behaviour.md names \(name), which is not a test")
        }
        #expect(testNames.count > 40)
    }

    /// Issue 12 item 7: the library map of docs/behaviour.md lists every bundled scenario once,
    /// and names no scenario that does not exist.
    @Test func libraryMapListsEveryScenario() throws {
        let doc = try String(contentsOfFile: packageRoot.appendingPathComponent("docs/behaviour.md").path, encoding: .utf8)
        let start = try #require(doc.range(of: "## The scenario library, by behaviour"))
        let section = doc[start.upperBound...].components(separatedBy: "\n## ").first ?? ""
        var named: [String] = []
        for (i, part) in section.split(separator: "`", omittingEmptySubsequences: false).enumerated() where i % 2 == 1 && part.hasSuffix(".yaml") {
            named.append(String(part))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("scenarios").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(named.sorted() == files, "listed \(Set(named).subtracting(files).sorted()) not in scenarios/, missing \(Set(files).subtracting(named).sorted())")
        #expect(Set(named).count == named.count, "a scenario is listed twice")
        #expect(files.count >= 20)
    }
}
