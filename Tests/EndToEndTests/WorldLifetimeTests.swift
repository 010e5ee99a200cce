import Testing
import Foundation
import Scenario
import Telephony
import Trace
import SimCore

/// A world, its nodes and their records are freed when the run that made it is done with it.
/// `generate` makes one world per run, millions in a dataset, and the REPL one per `reset`: a
/// reference cycle among the nodes kept every world (about 8 KB a run) to the end of the process,
/// so that a 16,000-run `generate` peaked at 185 MB against 54 MB for 1,000 runs.
@Suite struct WorldLifetimeTests {
    /// Every bundled scenario: its world, run to its end, is gone once the last reference to it is.
    @Test func everyBundledScenarioFreesItsWorld() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("scenarios").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count > 20)
        try expectFreed(files.map { (try loadBundled($0), $0) })
    }

    /// The runs of the reference sweep, as `generate` makes them (faults, busy and unanswered
    /// extensions, 503s, DNS failures).
    @Test func sweepRunsFreeTheirWorlds() throws {
        let path = packageRoot.appendingPathComponent("sweeps/failover.yaml").path
        let sweep = try SweepLoader.load(path: path, text: try String(contentsOfFile: path, encoding: .utf8),
                                         readFile: { try? String(contentsOfFile: $0, encoding: .utf8) })
        try expectFreed((0..<40).map { (try sweep.scenario(run: $0, seed: 1).0, "sweep run \($0)") })
    }

    func expectFreed(_ scenarios: [(Scenario, String)]) throws {
        for (s, f) in scenarios {
            weak var freed: World?
            weak var firstPBX: PBXState?
            do {
                let world = ScenarioRunner.makeWorld(s, sink: MemoryTraceSink())
                world.runUntilQuiet(limit: s.until ?? SimTime.maxDuration)
                world.recordCallsInProgress()
                freed = world
                firstPBX = world.pbxs.first
            }
            #expect(freed == nil, "\(f): the world outlives its run")
            #expect(firstPBX == nil, "\(f): a PBX outlives its world")
        }
    }
}
