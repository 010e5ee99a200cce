import Trace
import SimCore

/// Prints steps as they happen, one line each (the REPL's live output).
final class LiveTraceSink: TraceSink {
    let style: TextStyle
    var verbose = false
    let width = terminalColumns()

    init(style: TextStyle) { self.style = style }

    static let noisy: Set<StepKind> = [.txnState, .timerFired, .dnsCacheHit]

    func record(_ e: TraceEvent) {
        switch e {
        case .step(let s):
            let timer = s.fields.first { $0.name == "timer" }?.value
            if !verbose && LiveTraceSink.noisy.contains(s.kind) && !(s.kind == .timerFired && timer == .text("invite-failover")) { return }
            let tag = s.callID.map { "[\($0)]" } ?? "   "
            var kind = ConsoleTraceSink.pad(s.kind.rawValue, 17)
            switch s.kind {
            case .failover, .reroute, .cardState, .blocklistAdded: kind = style.yellow(kind)
            case .callAnswered: kind = style.green(kind)
            case .registration where s.fields.contains { $0.name == "registered_at" }: kind = style.green(kind)
            case .callEnded, .callRejected, .trunkBusy: kind = style.cyan(kind)
            case .hostState: kind = style.bold(kind)
            default: break
            }
            printFitted("\(ConsoleTraceSink.time(s.atNs)) \(tag) \(ConsoleTraceSink.pad(s.actor, 20)) \(kind)", s.detail)
        case .sipMessage(let m):
            if !verbose && m.retransmission { return }
            let tag = m.callID.map { "[\($0)]" } ?? "   "
            var line = "\(m.src) -> \(m.dst) \(m.method ?? String(m.statusCode ?? 0))"
            if m.retransmission { line += " (retransmission)" }
            if !m.delivered { line += style.red(" [dropped]") }
            printFitted("\(ConsoleTraceSink.time(m.atNs)) \(tag) \(ConsoleTraceSink.pad("network", 20)) \(style.dim(ConsoleTraceSink.pad("sip", 17)))", line)
        case .callEnded(let c):
            var s = "call \(c.callID) ended: \(c.outcome)"
            if let r = c.route { s += " via \(r)" }
            if let a = c.answeredBy { s += " by \(a)" }
            if let d = c.setupDelayNs { s += ", setup \(SimTime(ns: d).formatSeconds(precision: 3))" }
            print(style.bold("\(ConsoleTraceSink.time(c.endedAtNs ?? 0)) [\(c.callID)] \(s)"))
        }
    }

    /// One line when it fits the terminal; otherwise the detail wraps at words, its lines indented
    /// under the head (or, when the head leaves too little room, below it).
    func printFitted(_ head: String, _ detail: String) {
        let used = visibleCount(head) + 1
        if used + visibleCount(detail) <= width { print(head + " " + detail); return }
        if width - used >= 40 {
            print(head + " " + wrapWords(detail, width: width, firstUsed: used, indent: used).joined(separator: "\n"))
        } else {
            let indent = 13
            var h = head
            while h.hasSuffix(" ") { h.removeLast() }
            print(h + "\n" + String(repeating: " ", count: indent)
                  + wrapWords(detail, width: width, firstUsed: indent, indent: indent).joined(separator: "\n"))
        }
    }

    func flush() throws { flushOutput() }
}
