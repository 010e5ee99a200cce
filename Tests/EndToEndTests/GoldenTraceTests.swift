import Testing
import Foundation
@testable import Scenario
import Trace

/// Golden traces of every bundled scenario: the call rows, the steps and the SIP messages with
/// their instants and fields, as the models emit them at the full trace level. A refactor must
/// leave these byte-identical; a deliberate change of behaviour rewrites them with
/// `scripts/update-golden` and names the behaviour it fixes in its commit message.
@Suite struct GoldenTraceTests {
    static let goldenDir = packageRoot.appendingPathComponent("Tests/Golden")

    @Test(arguments: BundledScenarioTests.files)
    func traceMatchesGolden(_ file: String) throws {
        let s = try loadBundled(file)
        let (_, sink) = runMemory(s)
        let fresh = GoldenTrace.render(sink.events)
        let name = String(file.dropLast(".yaml".count)) + ".trace"
        let path = Self.goldenDir.appendingPathComponent(name).path
        if ProcessInfo.processInfo.environment["PBXSIM_UPDATE_GOLDEN"] == "1" {
            try fresh.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        guard let golden = try? String(contentsOfFile: path, encoding: .utf8) else {
            Issue.record("no golden trace \(path): run scripts/update-golden")
            return
        }
        if golden != fresh {
            // Keep the fresh trace for `diff` and report the first line that differs.
            let actual = tempPath(name)
            try? fresh.write(toFile: actual, atomically: true, encoding: .utf8)
            let g = golden.split(separator: "\n", omittingEmptySubsequences: false)
            let f = fresh.split(separator: "\n", omittingEmptySubsequences: false)
            let i = (0..<min(g.count, f.count)).first(where: { g[$0] != f[$0] }) ?? min(g.count, f.count)
            Issue.record("""
                \(file): trace differs from Tests/Golden/\(name) at line \(i + 1) (golden \(g.count) lines, fresh \(f.count))
                  golden: \(i < g.count ? String(g[i]) : "<end>")
                  fresh:  \(i < f.count ? String(f[i]) : "<end>")
                  diff \(path) \(actual)
                """)
        }
    }

    /// The rendering is sensitive to every field: a changed instant, detail or SIP text shows.
    @Test func renderingCoversEveryField() {
        let step = Step(atNs: 1_000_000_001, callID: 3, actor: "PBX-1", kind: .reroute, detail: "x")
        var later = step
        later.atNs += 1
        #expect(GoldenTrace.render([.step(step)]) != GoldenTrace.render([.step(later)]))
        let m = SIPMessageRecord(atNs: 0, callID: 1, src: "a:1", dst: "b:2", method: "INVITE", statusCode: nil, branch: "z9hG4bK1",
                                 sipCallID: "c", delivered: true, retransmission: false, transport: "UDP", raw: "INVITE sip:x SIP/2.0")
        var m2 = m
        m2.raw += " "
        #expect(GoldenTrace.render([.sipMessage(m)]) != GoldenTrace.render([.sipMessage(m2)]))
    }
}

/// A line-oriented, diffable rendering of a trace. SIP texts are represented by their length and
/// a 64-bit FNV-1a hash, which keeps the files small and still catches any change of a byte.
enum GoldenTrace {
    static func render(_ events: [TraceEvent]) -> String {
        var out = "# golden trace v2: S step (detail, then its typed fields as JSON) | M SIP message (len/fnv1a64 of the text) | C call row\n"
        for e in events {
            switch e {
            case .step(let s):
                out += "S \(s.atNs) \(s.callID.map(String.init) ?? "-") \(s.actor) \(s.kind.rawValue) | \(s.detail)"
                out += (s.fields.json.map { " " + $0 } ?? "") + "\n"
            case .sipMessage(let m):
                let what = m.method ?? "\(m.statusCode ?? 0)"
                out += "M \(m.atNs) \(m.callID.map(String.init) ?? "-") \(m.src) > \(m.dst) \(m.transport) \(what) \(m.branch) \(m.sipCallID)"
                out += " delivered=\(m.delivered ? 1 : 0) retx=\(m.retransmission ? 1 : 0) raw=\(m.raw.utf8.count)/\(fnv1a(m.raw))\n"
            case .callEnded(let c):
                out += "C \(c.callID) \(c.pbx) \(c.caller) -> \(c.dialed) placed=\(c.placedAtNs) ended=\(opt(c.endedAtNs))"
                out += " outcome=\(c.outcome) route=\(opt(c.route)) answered_by=\(opt(c.answeredBy)) setup=\(opt(c.setupDelayNs))"
                out += " targets=\(c.sipTargets.joined(separator: ",")) attempts=\(c.sipAttempts) rerouted=\(c.rerouted ? 1 : 0)"
                out += " final=\(opt(c.finalCode)) card=\(opt(c.cardState)) carrier=\(opt(c.carrier)) trg=\(opt(c.trunkGroup))"
                out += " sent=\(opt(c.sentDigits)) pdd=\(opt(c.pddNs)) released=\(opt(c.releasedBy)) cause=\(opt(c.endCause))\n"
            }
        }
        return out
    }

    static func opt<T>(_ v: T?) -> String { v.map { "\($0)" } ?? "-" }

    static func fnv1a(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
