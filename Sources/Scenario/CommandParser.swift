import SimCore
import Telephony

/// Parses the command language shared by scenario timelines and the REPL.
public enum CommandParser {
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var message: String
        public var hint: String
        public var description: String { "\(message) (usage: \(hint))" }
    }

    /// Usage line of each command.
    public static let usage: [(name: String, usage: String, help: String)] = [
        ("dial", "dial PBX/EXT NUMBER [hold DURATION]", "extension EXT on PBX dials NUMBER (plain EXT when unique)"),
        ("down", "down HOST...", "hosts go silent: they drop everything"),
        ("up", "up HOST...", "hosts come back (and accept SIP again)"),
        ("refuse", "refuse HOST...", "hosts are up but their SIP port is closed (ICMP port unreachable / TCP refused)"),
        ("partition", "partition HOST... | HOST...", "both sides stay up but nothing passes between them (silently dropped)"),
        ("heal", "heal", "every partition is removed"),
        ("respond", "respond HOST CODE|silent|normal [retry-after DURATION]", "a SIP server answers new requests with CODE (100: only 100 Trying; 200: it answers as a UAS and takes the BYE), or reads them and stays silent"),
        ("dns", "dns NAME servfail|nxdomain|timeout|normal", "the DNS server fails queries for NAME"),
        ("latency", "latency DURATION [HOST]", "one-way latency of every path, or of paths to/from HOST"),
        ("loss", "loss PERCENT [HOST]", "packet loss on every path, or on paths to/from HOST"),
        ("busy", "busy PBX/EXT", "the extension answers busy (486)"),
        ("idle", "idle PBX/EXT", "the extension behaves normally again"),
        ("unanswered", "unanswered PBX/EXT", "the extension rings without answering"),
        ("absent", "absent PBX/EXT", "the extension does not exist for callers (404)"),
        ("hangup", "hangup [CALL] [callee]", "the caller hangs up a call (every call without CALL); callee: the called side does"),
    ]

    public static var commandNames: [String] { usage.map(\.name) }

    static func hint(_ name: String) -> String { usage.first { $0.name == name }?.usage ?? commandNames.joined(separator: ", ") }

    public static func parse(_ text: String) throws -> Command {
        // `|` separates the sides of a partition, with or without spaces around it.
        let words = text.replacingOccurrences(of: "|", with: " | ").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let name = words.first?.lowercased() else {
            throw ParseError(message: "empty command", hint: commandNames.joined(separator: ", "))
        }
        let args = Array(words.dropFirst())
        func fail(_ m: String) -> ParseError { ParseError(message: m, hint: hint(name)) }
        func duration(_ s: String) throws -> SimTime {
            guard let d = SimTime.parseDuration(s), d <= SimTime.maxDuration else {
                let why = SimTime.durationProblem(s)
                throw fail(why.hasPrefix("expected") ? "'\(s)' is not a duration (like 500ms, 4s, 2m)" : why)
            }
            return d
        }
        func ext(_ s: String) throws -> ExtensionRef {
            let parts = s.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 1, !s.isEmpty { return ExtensionRef(pbx: nil, number: s) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw fail("'\(s)' is not PBX/EXT") }
            return ExtensionRef(pbx: String(parts[0]), number: String(parts[1]))
        }
        switch name {
        case "dial":
            guard args.count == 2 || (args.count == 4 && args[2].lowercased() == "hold") else { throw fail("expected a caller and a number") }
            let number = args[1]
            guard !phoneDigits(number).isEmpty, phoneDigits(number).allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "*" || $0 == "#") }) else {
                throw fail("'\(number)' is not a phone number")
            }
            return .dial(caller: try ext(args[0]), number: number, hold: args.count == 4 ? try duration(args[3]) : nil)
        case "down", "up", "refuse":
            guard !args.isEmpty else { throw fail("expected at least one host") }
            return name == "down" ? .down(args) : name == "up" ? .up(args) : .refuse(args)
        case "partition":
            guard let bar = args.firstIndex(of: "|"), args.filter({ $0 == "|" }).count == 1 else {
                throw fail("expected two groups of hosts separated by |")
            }
            let a = Array(args[..<bar]), b = Array(args[(bar + 1)...])
            guard !a.isEmpty, !b.isEmpty else { throw fail("each side of | needs at least one host") }
            if let both = a.first(where: { b.contains($0) }) { throw fail("'\(both)' is on both sides") }
            return .partition(a, b)
        case "heal":
            guard args.isEmpty else { throw fail("heal takes no arguments") }
            return .heal
        case "respond":
            guard args.count == 2 || (args.count == 4 && args[2].lowercased() == "retry-after") else {
                throw fail("expected a host and a status code")
            }
            if args[1].lowercased() == "normal" || args[1].lowercased() == "silent" {
                guard args.count == 2 else { throw fail("'\(args[1].lowercased())' takes no retry-after") }
                return .respond(host: args[0], code: args[1].lowercased() == "silent" ? RespondMode.silentCode : nil, retryAfter: nil)
            }
            guard let code = RespondMode.code(args[1]) else {
                throw fail("'\(args[1])' is not 100, 200, a final status code 300-699, silent or normal")
            }
            return .respond(host: args[0], code: code, retryAfter: args.count == 4 ? try duration(args[3]) : nil)
        case "dns":
            guard args.count == 2, let f = DNSFault(rawValue: args[1].lowercased()) else {
                throw fail("expected a name and one of servfail, nxdomain, timeout, normal")
            }
            return .dns(name: args[0], fault: f)
        case "latency":
            guard args.count == 1 || args.count == 2 else { throw fail("expected a duration and an optional host") }
            return .latency(try duration(args[0]), host: args.count == 2 ? args[1] : nil)
        case "loss":
            guard args.count == 1 || args.count == 2 else { throw fail("expected a percentage and an optional host") }
            let t = args[0].hasSuffix("%") ? String(args[0].dropLast()) : args[0]
            guard let p = Double(t), p >= 0, p <= 100 else { throw fail("'\(args[0])' is not a percentage 0-100") }
            return .loss(p, host: args.count == 2 ? args[1] : nil)
        case "busy", "idle", "unanswered", "absent":
            guard args.count == 1 else { throw fail("expected one extension") }
            let mode: PhoneMode = name == "busy" ? .busy : name == "idle" ? .normal : name == "unanswered" ? .unanswered : .absent
            return .phone(try ext(args[0]), mode)
        case "hangup":
            var rest = args
            var callee = false
            if let last = rest.last?.lowercased(), last == "callee" || last == "caller" { callee = last == "callee"; rest.removeLast() }
            guard rest.count <= 1 else { throw fail("expected at most one call number, then caller or callee") }
            if let a = rest.first {
                guard let n = Int(a), n > 0 else { throw fail("'\(a)' is not a call number") }
                return .hangup(call: n, callee: callee)
            }
            return .hangup(call: nil, callee: callee)
        default:
            let close = commandNames.min { editDistance($0, name) < editDistance($1, name) }
            throw ParseError(message: "unknown command '\(name)'" + (close.map { editDistance($0, name) <= 2 ? "; did you mean '\($0)'?" : "" } ?? ""),
                             hint: commandNames.joined(separator: ", "))
        }
    }

    /// The canonical text of a command (what `save` writes and `parse` reads back).
    public static func format(_ c: Command) -> String {
        switch c {
        case .dial(let who, let n, let hold): return "dial \(who) \(n)" + (hold.map { " hold \($0.durationString)" } ?? "")
        case .down(let h): return "down " + h.joined(separator: " ")
        case .up(let h): return "up " + h.joined(separator: " ")
        case .refuse(let h): return "refuse " + h.joined(separator: " ")
        case .partition(let a, let b): return "partition " + a.joined(separator: " ") + " | " + b.joined(separator: " ")
        case .heal: return "heal"
        case .respond(let h, let code, let ra):
            return "respond \(h) " + (code.map(RespondMode.text) ?? "normal") + (ra.map { " retry-after \($0.durationString)" } ?? "")
        case .dns(let n, let f): return "dns \(n) \(f.rawValue)"
        case .latency(let d, let h): return "latency \(d.durationString)" + (h.map { " \($0)" } ?? "")
        case .loss(let p, let h): return "loss \(p)" + (h.map { " \($0)" } ?? "")
        case .phone(let e, let m):
            switch m {
            case .normal: return "idle \(e)"
            case .busy: return "busy \(e)"
            case .unanswered: return "unanswered \(e)"
            case .absent: return "absent \(e)"
            }
        case .hangup(let c, let callee): return "hangup" + (c.map { " \($0)" } ?? "") + (callee ? " callee" : "")
        }
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}
