import Store

/// A sequence (ladder) diagram of one call: one column per party, one row per message or note.
public struct Ladder: Sendable {
    public struct Style: Sendable, Equatable {
        public var retransmission = false
        public var dropped = false
        public static let normal = Style()
    }
    public enum NoteStyle: Sendable { case info, timer, failover, reroute, answer, end }

    public enum Row: Sendable {
        case arrow(atNs: Int64, from: Int, to: Int, label: String, style: Style)
        case note(atNs: Int64, column: Int, text: String, style: NoteStyle)
    }

    public var title: String
    public var columns: [String]
    public var rows: [Row]

    /// Builds the diagram of a call from its stored rows. `hosts` maps addresses to parties.
    public static func build(call: TraceReader.CallRow, rows: [TraceReader.Row],
                             hosts: [(name: String, ip: String, role: String)]) -> Ladder {
        var ipToParty: [String: String] = [:]
        for h in hosts {
            if h.role.hasPrefix("pbx ") { ipToParty[h.ip] = String(h.role.dropFirst(4)) } else { ipToParty[h.ip] = h.name }
        }
        func party(ofAddress a: String) -> String {
            let ip = a.split(separator: ":").first.map(String.init) ?? a
            return ipToParty[ip] ?? ip
        }
        let callerPBX = call.pbx
        let callerExt = call.caller
        func party(ofActor a: String) -> String {
            if a == callerExt { return callerExt }
            if let slash = a.firstIndex(of: "/") {
                let head = String(a[..<slash]), tail = String(a[a.index(after: slash)...])
                if tail == "V-SIPGW" || tail == "resolver" { return head }
                return a // an extension
            }
            return a
        }
        // Column order: caller extension, caller PBX, SIP servers and telephone companies in order
        // of appearance, then the far PBX and the far extension.
        var middle: [String] = []
        var farPBX: String?
        var farExt: String?
        func addMiddle(_ p: String) { if p != callerPBX && p != callerExt && p != farPBX && !middle.contains(p) { middle.append(p) } }
        for r in rows {
            switch r {
            case .message(_, _, let src, let dst, _, _, _, _, _, _):
                for p in [party(ofAddress: src), party(ofAddress: dst)] {
                    if hosts.contains(where: { $0.role == "pbx \(p)" }) { if p != callerPBX { farPBX = farPBX ?? p } } else { addMiddle(p) }
                }
            case .step(_, _, let actor, let kind, _, _):
                let p = party(ofActor: actor)
                if kind == "pstn-setup" { addMiddle(p) }
                if kind == "extension-ringing" || kind == "extension-answered" || kind == "extension-busy" {
                    farExt = farExt ?? p
                    if let slash = p.firstIndex(of: "/") { let pbx = String(p[..<slash]); if pbx != callerPBX { farPBX = farPBX ?? pbx } }
                }
                if kind == "trunk-seized" && p != callerPBX { farPBX = farPBX ?? p }
            }
        }
        middle.removeAll { $0 == farPBX }
        var columns = [callerExt, callerPBX] + middle
        if let f = farPBX { columns.append(f) }
        if let e = farExt, !columns.contains(e) { columns.append(e) }
        func col(_ p: String) -> Int {
            if let i = columns.firstIndex(of: p) { return i }
            columns.append(p)
            return columns.count - 1
        }

        var out: [Row] = []
        var lastHop = callerPBX
        for r in rows {
            switch r {
            case .message(_, let t, let src, let dst, let method, let status, _, let delivered, let re, let raw):
                var label = method ?? "\(status ?? 0)"
                if method == nil, let firstLine = raw.split(separator: "\r\n").first {
                    label = String(firstLine.dropFirst("SIP/2.0 ".count))
                }
                let style = Style(retransmission: re, dropped: !delivered)
                out.append(.arrow(atNs: t, from: col(party(ofAddress: src)), to: col(party(ofAddress: dst)), label: label, style: style))
            case .step(_, let t, let actor, let kind, let detail, let fields):
                let p = party(ofActor: actor)
                switch kind {
                case "call-placed":
                    out.append(.arrow(atNs: t, from: col(callerExt), to: col(callerPBX), label: "dial \(call.dialed)", style: .normal))
                case "timer-fired" where fields.text("timer") == "invite-failover" || fields.text("timer") == "B":
                    out.append(.note(atNs: t, column: col(p), text: "timeout: " + detail, style: .timer))
                case "failover":
                    out.append(.note(atNs: t, column: col(p), text: detail, style: .failover))
                case "transport-error", "dns-failure", "blocklist-added", "target-skipped", "did-mapped", "route-selected", "trunk-busy", "call-rejected", "extension-busy", "targets-resolved":
                    out.append(.note(atNs: t, column: col(p), text: detail, style: kind == "transport-error" ? .timer : .info))
                case "dns-query", "dns-cache-hit":
                    out.append(.note(atNs: t, column: col(p), text: detail, style: .info))
                case "reroute":
                    out.append(.note(atNs: t, column: col(p), text: "REROUTE: " + detail, style: .reroute))
                case "trunk-seized" where p == callerPBX:
                    lastHop = callerPBX
                case "pstn-setup":
                    out.append(.arrow(atNs: t, from: col(lastHop), to: col(p), label: "SETUP", style: .normal))
                    lastHop = p
                    if fields.text("result") == "unallocated" || fields.text("result") == "not-in-service" {
                        out.append(.note(atNs: t, column: col(p), text: detail, style: .end))
                    }
                case "trunk-seized":
                    out.append(.arrow(atNs: t, from: col(lastHop), to: col(p), label: "SETUP", style: .normal))
                case "extension-ringing":
                    let pbx = p.split(separator: "/").first.map(String.init) ?? p
                    out.append(.arrow(atNs: t, from: col(pbx), to: col(p), label: "ring", style: .normal))
                case "extension-answered":
                    let pbx = p.split(separator: "/").first.map(String.init) ?? p
                    out.append(.arrow(atNs: t, from: col(p), to: col(pbx), label: "off-hook", style: .normal))
                case "pstn-alerting":
                    out.append(.arrow(atNs: t, from: col(farPBX ?? lastHop), to: col(callerPBX), label: "ALERTING", style: .normal))
                case "pstn-connect":
                    out.append(.arrow(atNs: t, from: col(farPBX ?? lastHop), to: col(callerPBX), label: "CONNECT", style: .normal))
                case "call-answered":
                    out.append(.note(atNs: t, column: col(callerPBX), text: "answered (\(detail))", style: .answer))
                case "call-ended":
                    out.append(.note(atNs: t, column: col(p), text: detail, style: .end))
                default:
                    break
                }
            }
        }
        let title = "call \(call.callID): \(call.caller) dials \(call.dialed): \(call.outcome)"
            + (call.route.map { " via \($0)" } ?? "") + (call.answeredBy.map { " by \($0)" } ?? "")
        return Ladder(title: title, columns: columns, rows: out)
    }
}
