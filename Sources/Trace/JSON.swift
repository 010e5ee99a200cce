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

/// Where a JSON writer puts its UTF-8 bytes: a buffer, or a hash that consumes them as they come.
public protocol UTF8ByteSink {
    mutating func put(_ byte: UInt8)
}

extension UTF8ByteSink {
    @inline(__always) mutating func put(_ s: String) {
        var s = s
        s.withUTF8 { for b in $0 { put(b) } }
    }

    /// A JSON string: quoted, escaped as `JSON.escape` escapes (RFC 8259 §7).
    @inline(__always) mutating func putJSONString(_ s: String) {
        put(0x22)
        var s = s
        s.withUTF8 { bytes in
            for b in bytes {
                switch b {
                case 0x22: put(0x5C); put(0x22)
                case 0x5C: put(0x5C); put(0x5C)
                case 0x0A: put(0x5C); put(0x6E)
                case 0x0D: put(0x5C); put(0x72)
                case 0x09: put(0x5C); put(0x74)
                case 0..<0x20:
                    put(0x5C); put(0x75); put(0x30); put(0x30); put(JSON.hexDigit(b >> 4)); put(JSON.hexDigit(b & 0xF))
                default: put(b)
                }
            }
        }
        put(0x22)
    }

    /// An integer in decimal, as `String(v)` writes it.
    @inline(__always) mutating func putDecimal(_ v: Int64) {
        if v < 0 { put(0x2D) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var m = v.magnitude
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[n] = 0x30 + UInt8(m % 10); m /= 10; n += 1 } while m > 0
        }
        withUnsafeBytes(of: &digits) { d in
            while n > 0 { n -= 1; put(d[n]) }
        }
    }
}

/// A growing byte buffer for a JSON text.
public struct JSONBytes: UTF8ByteSink {
    public var bytes: [UInt8] = []
    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }
    @inline(__always) public mutating func put(_ byte: UInt8) { bytes.append(byte) }
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}

extension JSON {
    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }
}
