/// A minimal JSON writer with a stable key order (insertion order), for trace columns and exports.
public struct JSONObject {
    var parts: [String] = []
    public init() {}

    public mutating func add(_ key: String, _ v: String?) { parts.append(JSON.string(key) + ":" + (v.map(JSON.string) ?? "null")) }
    public mutating func add(_ key: String, _ v: Int?) { parts.append(JSON.string(key) + ":" + (v.map { String($0) } ?? "null")) }
    public mutating func add(_ key: String, _ v: Int64?) { parts.append(JSON.string(key) + ":" + (v.map { String($0) } ?? "null")) }
    public mutating func add(_ key: String, _ v: Double?) { parts.append(JSON.string(key) + ":" + (v.map(JSON.number) ?? "null")) }
    public mutating func add(_ key: String, _ v: Bool?) { parts.append(JSON.string(key) + ":" + (v.map { $0 ? "true" : "false" } ?? "null")) }
    /// Adds an already encoded JSON value.
    public mutating func addRaw(_ key: String, _ json: String) { parts.append(JSON.string(key) + ":" + json) }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }
}

public enum JSON {
    public static func string(_ s: String) -> String { "\"" + escape(s) + "\"" }

    public static func array(_ items: [String]) -> String { "[" + items.map(string).joined(separator: ",") + "]" }

    public static func rawArray(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    /// Shortest round-tripping decimal for finite values.
    public static func number(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }
}
