import Yams
import SimCore

/// Collects every error of a file instead of stopping at the first (`pbxsim check`). While one
/// is installed, an unknown key is recorded and skipped, and `recovering` records a failed part
/// (one PBX, one timeline entry...) and goes on with the next.
final class ErrorCollector: @unchecked Sendable {
    var errors: [ScenarioError] = []
    /// Every `(key path with list indices as [], allowed keys)` the loader checked (tests hold the
    /// JSON Schema to these).
    var checkedMappings: [String: Set<String>] = [:]
    @TaskLocal static var current: ErrorCollector?

    func add(_ e: ScenarioError) { if !errors.contains(e) { errors.append(e) } }
}

/// Runs one independent part of a file. Without a collector an error ends the load as before;
/// with one it is recorded and `fallback` stands in for the part.
func recovering<T>(_ fallback: @autoclosure () -> T, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ScenarioError {
        guard let c = ErrorCollector.current else { throw e }
        c.add(e)
        return fallback()
    }
}

/// A YAML node with its location, for reading scenario files with precise errors.
struct YNode {
    let node: Node
    let path: String
    let file: String

    var line: Int? { node.mark?.line }
    var column: Int? { node.mark?.column }

    func error(_ message: String, key: String? = nil) -> ScenarioError {
        ScenarioError(file: file, line: line, column: column, key: key ?? path, message: message)
    }

    static func load(_ text: String, file: String) throws -> YNode {
        do {
            guard let n = try Yams.compose(yaml: text) else {
                throw ScenarioError(file: file, line: 1, column: 1, key: "", message: "the file is empty")
            }
            return YNode(node: n, path: "", file: file)
        } catch let e as ScenarioError {
            throw e
        } catch YamlError.duplicatedKeysInMapping(let keys, let context) {
            // Name both places instead of quoting the whole file.
            let key = keys.first ?? "?"
            let first = context.mark.line, column = context.mark.column
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            var second: Int?
            for i in first..<lines.count {
                let l = lines[i]
                guard l.count >= column, let start = l.index(l.startIndex, offsetBy: column - 1, limitedBy: l.endIndex) else { continue }
                let rest = l[start...]
                if rest.hasPrefix(key), rest.dropFirst(key.count).drop(while: { $0 == " " }).hasPrefix(":") { second = i + 1; break }
            }
            throw ScenarioError(file: file, line: second ?? first, column: column, key: key,
                                message: "duplicate key '\(key)'" + (second.map { ": first at line \(first), again at line \($0)" } ?? " (first at line \(first))"))
        } catch let e as YamlError {
            let mark = YNode.mark(of: e)
            throw ScenarioError(file: file, line: mark?.line, column: mark?.column, key: "", message: YNode.plainSentence(e))
        } catch {
            throw ScenarioError(file: file, line: nil, column: nil, key: "", message: "not valid YAML: \(error)")
        }
    }

    static func mark(of e: YamlError) -> (line: Int, column: Int)? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return (mark.line, mark.column)
        default: return nil
        }
    }

    /// A YAML syntax error as a plain sentence, with libyaml's own words after it for searching.
    static func plainSentence(_ e: YamlError) -> String {
        let raw = describe(e)
        let hints: [(String, String)] = [
            ("mapping values are not allowed", "a ':' where a plain value was expected; quote a value that holds ': ', or check the indentation"),
            ("found character that cannot start any token", "a character that cannot start a value here (a tab used for indentation, or a value starting with @ or `); indent with spaces and quote such values"),
            ("did not find expected key", "this line does not line up with the keys above it; check its indentation"),
            ("could not find expected ':'", "a key without ':' after it, or a quote that is never closed"),
            ("did not find expected '-' indicator", "a list item indented differently from the items above it"),
            ("found unexpected end of stream", "the file ends inside a quoted value, a [list] or a {mapping}; close it"),
            ("did not find expected ',' or ']'", "a [list] that is not closed with ']' (or a missing ',' between its items)"),
            ("did not find expected ',' or '}'", "a {mapping} that is not closed with '}' (or a missing ',' between its entries)"),
            ("did not find expected node content", "a value is missing here: a [list] or {mapping} that is never closed, or a ',' or ':' with nothing after it"),
            ("found undefined alias", "a *name that refers to no &name anchor"),
            ("block sequence entries are not allowed", "a '- ' list item where a value was expected; start the list on the next line"),
        ]
        for (needle, sentence) in hints where raw.contains(needle) { return "not valid YAML: \(sentence) (parser: \(raw))" }
        return "not valid YAML: \(raw)"
    }

    static func describe(_ e: YamlError) -> String {
        switch e {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        default: return "\(e)"
        }
    }

    func child(_ key: String, _ n: Node) -> YNode {
        YNode(node: n, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    /// The mapping's entries in order; rejects keys not in `allowed` (typos are errors).
    func mapping(allowed: Set<String>? = nil) throws -> [(key: String, value: YNode)] {
        guard case .mapping(let m) = node else { throw error("expected a mapping (key: value pairs)") }
        var out: [(String, YNode)] = []
        var seen = Set<String>()
        let collector = ErrorCollector.current
        if let c = collector, let a = allowed {
            var pattern = "", inIndex = false
            for ch in path {
                if ch == "[" { inIndex = true; pattern += "[]" } else if ch == "]" { inIndex = false } else if !inIndex { pattern.append(ch) }
            }
            c.checkedMappings[pattern, default: []].formUnion(a)
        }
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw error("keys must be plain text") }
            let key = ks.string
            let c = child(key, v)
            if let a = allowed, !a.contains(key) {
                // A misspelt key gets the closest valid one (at most a third of it changed).
                let best = a.min { CommandParser.editDistance($0, key) < CommandParser.editDistance($1, key) }
                let e: ScenarioError
                if let b = best, CommandParser.editDistance(b, key) <= max(2, key.count / 3) {
                    e = ScenarioError(file: file, line: k.mark?.line, column: k.mark?.column, key: c.path,
                                      message: "unknown key '\(key)'; did you mean \(b)? (expected one of: \(a.sorted().joined(separator: ", ")))")
                } else {
                    e = ScenarioError(file: file, line: k.mark?.line, column: k.mark?.column, key: c.path,
                                      message: "unknown key '\(key)' (expected one of: \(a.sorted().joined(separator: ", ")))")
                }
                // Checking a file: note it and read the rest.
                guard let collector else { throw e }
                collector.add(e)
                continue
            }
            if !seen.insert(key).inserted {
                throw ScenarioError(file: file, line: k.mark?.line, column: k.mark?.column, key: c.path, message: "duplicate key '\(key)'")
            }
            out.append((key, c))
        }
        return out
    }

    func dict(allowed: Set<String>? = nil) throws -> [String: YNode] {
        Dictionary(try mapping(allowed: allowed).map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    func sequence() throws -> [YNode] {
        guard case .sequence(let s) = node else { throw error("expected a list") }
        return s.enumerated().map { i, n in YNode(node: n, path: "\(path)[\(i)]", file: file) }
    }

    var isNull: Bool {
        if case .scalar(let s) = node { return s.style == .plain && (s.string == "" || s.string == "~" || s.string == "null") }
        return false
    }

    func string() throws -> String {
        guard case .scalar(let s) = node else { throw error("expected a single value, not a list or mapping") }
        return s.string
    }

    func nonEmptyString() throws -> String {
        let s = try string()
        if s.isEmpty { throw error("must not be empty") }
        return s
    }

    func int(min lo: Int? = nil, max hi: Int? = nil) throws -> Int {
        let s = try string()
        guard let v = Int(s) else { throw error("expected a whole number, got '\(s)'") }
        if let lo, v < lo { throw error("must be at least \(lo), got \(v)") }
        if let hi, v > hi { throw error("must be at most \(hi), got \(v)") }
        return v
    }

    func uint64() throws -> UInt64 {
        let s = try string()
        guard let v = UInt64(s) else { throw error("expected a non-negative whole number, got '\(s)'") }
        return v
    }

    func double(min lo: Double? = nil, max hi: Double? = nil) throws -> Double {
        let s = try string()
        guard let v = Double(s), v.isFinite else { throw error("expected a number, got '\(s)'") }
        if let lo, v < lo { throw error("must be at least \(lo), got \(v)") }
        if let hi, v > hi { throw error("must be at most \(hi), got \(v)") }
        return v
    }

    func bool() throws -> Bool {
        switch try string().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let s: throw error("expected true or false, got '\(s)'")
        }
    }

    func duration() throws -> SimTime {
        let s = try string()
        guard let d = SimTime.parseDuration(s), d <= SimTime.maxDuration else { throw error(SimTime.durationProblem(s)) }
        return d
    }

    func stringList() throws -> [String] {
        if case .scalar = node { return [try string()] }
        return try sequence().map { try $0.string() }
    }
}
