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

    /// JSON string escaping (RFC 8259 §7) over UTF-8 bytes: a text with nothing to escape is
    /// returned as it is; otherwise the bytes are copied once with the escapes put in.
    public static func escape(_ s: String) -> String {
        var s = s
        return s.withUTF8 { bytes -> String in
            guard bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return String(decoding: bytes, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + bytes.count / 8 + 8)
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            for b in bytes {
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0D: out.append(0x5C); out.append(0x72)
                case 0x09: out.append(0x5C); out.append(0x74)
                case 0..<0x20:
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                default: out.append(b)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
