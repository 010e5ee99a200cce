import Testing
import Foundation
@testable import Scenario

/// Every scenario shipped in `scenarios/` loads and all its expectations hold.
@Suite struct BundledScenarioTests {
    static let files: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("scenarios").path)) ?? [])
        .filter { $0.hasSuffix(".yaml") }.sorted()

    @Test func thereAreScenarios() { #expect(Self.files.count >= 20) }

    @Test(arguments: files)
    func scenarioHoldsItsExpectations(_ file: String) throws {
        let s = try loadBundled(file)
        #expect(!s.expectations.isEmpty || !s.summaryExpectations.isEmpty, "\(file) has no expectations")
        let (r, _) = runMemory(s)
        for e in r.expectations where !e.held {
            Issue.record("\(file): call \(e.call) \(e.field): expected \(e.expected), actual \(e.actual)")
        }
    }
}
