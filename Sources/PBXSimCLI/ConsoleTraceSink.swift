import Trace
import SimCore
#if canImport(Glibc)
import Glibc
#endif

/// ANSI styling, off when `NO_COLOR` is set or stdout is not a terminal.
struct TextStyle {
    var color: Bool
    static func detect() -> TextStyle {
        TextStyle(color: getenv("NO_COLOR") == nil && isatty(1) == 1)
    }
    func wrap(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
    func bold(_ s: String) -> String { wrap(s, "1") }
    func dim(_ s: String) -> String { wrap(s, "2") }
    func red(_ s: String) -> String { wrap(s, "31") }
    func green(_ s: String) -> String { wrap(s, "32") }
    func yellow(_ s: String) -> String { wrap(s, "33") }
    func cyan(_ s: String) -> String { wrap(s, "36") }
}

/// Prints each call when it ends: a summary line, then its steps and SIP messages with their
/// simulated times. Memory holds only the calls in progress.
final class ConsoleTraceSink: TraceSink {
    let style: TextStyle
    let quiet: Bool
    let verbose: Bool
    /// Print nothing per call.
    var silent = false
    /// Lines of the calls in progress (a call's buffer opens with its `call-placed` step and is
    /// printed and dropped when the call ends, so memory follows the calls in progress).
    var buffered: [Int: [String]] = [:]

    /// Columns to fit: the terminal's, else `COLUMNS`, else 80.
    let width = terminalColumns()

    init(style: TextStyle, quiet: Bool, verbose: Bool) { self.style = style; self.quiet = quiet; self.verbose = verbose }

    /// A step or message line: time, actor and kind in columns, then the detail wrapped at words.
    /// Below 110 columns the detail goes under the time, so that narrow terminals stay readable.
    func layout(_ atNs: Int64, _ actor: String, _ kind: String, _ detail: String) -> String {
        let time = "  \(ConsoleTraceSink.time(atNs))  "
        if width >= 110 {
            let head = time + ConsoleTraceSink.pad(actor, 22) + " " + kind + " "
            return wrapWords(detail, width: width, firstUsed: visibleCount(head), indent: visibleCount(head)).enumerated()
                .map { $0.offset == 0 ? head + $0.element : $0.element }.joined(separator: "\n")
        }
        let head = time + actor + "  " + kind.trimming(" ")
        let indent = visibleCount(time)
        return head + "\n" + wrapWords(detail, width: width, firstUsed: indent, indent: indent).enumerated()
            .map { $0.offset == 0 ? String(repeating: " ", count: indent) + $0.element : $0.element }.joined(separator: "\n")
    }

    static func time(_ ns: Int64) -> String {
        let s = SimTime(ns: ns).formatSeconds(precision: 3)
        return String(repeating: " ", count: max(0, 9 - s.count)) + s
    }

    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }

    func line(for e: TraceEvent) -> (call: Int?, text: String)? {
        switch e {
        case .step(let s):
            let kind = s.kind == .failover || s.kind == .reroute ? style.yellow(ConsoleTraceSink.pad(s.kind.rawValue, 17))
                : s.kind == .callAnswered ? style.green(ConsoleTraceSink.pad(s.kind.rawValue, 17)) : ConsoleTraceSink.pad(s.kind.rawValue, 17)
            return (s.callID, layout(s.atNs, s.actor, kind, s.detail))
        case .sipMessage(let m):
            let what = m.method ?? "\(m.statusCode ?? 0)"
            var t = "\(m.src) -> \(m.dst) \(what)"
            if m.retransmission { t += " (retransmission)" }
            if !m.delivered { t += style.red(" [dropped]") }
            return (m.callID, layout(m.atNs, "network", style.dim(ConsoleTraceSink.pad("sip", 17)), t))
        case .callEnded:
            return nil
        }
    }

    func record(_ e: TraceEvent) {
        if silent { return }
        if case .callEnded(let c) = e {
            var summary = "call \(c.callID)  \(c.caller) -> \(c.dialed)  \(style.bold(c.outcome.rawValue))"
            if let cause = c.endCause { summary += " (\(cause))" }
            if let r = c.route { summary += " via \(r)" }
            if let a = c.answeredBy { summary += " by \(a)" }
            if let d = c.setupDelayNs { summary += "  setup \(SimTime(ns: d).formatSeconds(precision: 3))" }
            if !c.sipTargets.isEmpty { summary += "  SIP targets \(c.sipTargets.joined(separator: ", "))" }
            if c.rerouted { summary += "  (rerouted)" }
            print(wrapWords(summary, width: width, firstUsed: 0, indent: 8).joined(separator: "\n"))
            if !quiet { for l in buffered[c.callID] ?? [] { print(l) } }
            buffered[c.callID] = nil
            return
        }
        // A line nobody will see is not laid out: a call's steps under --quiet, a step of no call
        // without --verbose (laying out and wrapping a line costs more than simulating its step).
        let callOf: Int?
        switch e {
        case .step(let s): callOf = s.callID
        case .sipMessage(let m): callOf = m.callID
        case .callEnded: return
        }
        if callOf != nil ? quiet : !verbose { return }
        guard let (call, text) = line(for: e) else { return }
        if let c = call {
            if case .step(let st) = e, st.kind == .callPlaced { buffered[c] = [text]; return }
            // Steps after the call ended (BYE completion) are in the trace, not on the console.
            buffered[c]?.append(text)
        } else {
            print(text) // --verbose: a step of no call
        }
    }

    func flush() throws { flushOutput() }
}
