/// A minimal JSON writer with a stable key order (insertion order), for trace columns and exports.
/// It writes into one byte buffer as keys are added (exports write one object per step and per
/// message: a string per member, joined at the end, was most of an export's time).
public struct JSONObject {
    var out = JSONBytes(capacity: 256)
    var empty = true
    public init() { out.put(0x7B) }

    @inline(__always) mutating func key(_ k: String) {
        if !empty { out.put(0x2C) }
        empty = false
        out.putJSONString(k)
        out.put(0x3A)
    }
    @inline(__always) mutating func null() { out.put(0x6E); out.put(0x75); out.put(0x6C); out.put(0x6C) }

    public mutating func add(_ key: String, _ v: String?) { self.key(key); if let v { out.putJSONString(v) } else { null() } }
    public mutating func add(_ key: String, _ v: Int?) { self.key(key); if let v { out.putDecimal(Int64(v)) } else { null() } }
    public mutating func add(_ key: String, _ v: Int64?) { self.key(key); if let v { out.putDecimal(v) } else { null() } }
    public mutating func add(_ key: String, _ v: Double?) { self.key(key); if let v { out.put(JSON.number(v)) } else { null() } }
    public mutating func add(_ key: String, _ v: Bool?) { self.key(key); if let v { out.put(v ? "true" : "false") } else { null() } }
    /// Adds an already encoded JSON value.
    public mutating func addRaw(_ key: String, _ json: String) { self.key(key); out.put(json) }

    public var text: String {
        var b = out
        b.put(0x7D)
        return b.text
    }
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
            guard JSON.firstEscape(in: bytes) < bytes.count else { return String(decoding: bytes, as: UTF8.self) }
            var out = JSONBytes(capacity: bytes.count + bytes.count / 8 + 8)
            out.putEscaped(utf8: bytes)
            return out.text
        }
    }
}

/// Where a JSON writer puts its UTF-8 bytes: a buffer, or a hash that consumes them as they come.
public protocol UTF8ByteSink {
    mutating func put(_ byte: UInt8)
    /// Several bytes as they are (a buffer appends them in one copy).
    mutating func put(contentsOf bytes: UnsafeBufferPointer<UInt8>)
    /// A JSON string, quoted and escaped (a requirement, so that a buffer's own version, which
    /// copies a text with nothing to escape in one piece, is the one generic writers call).
    mutating func putJSONString(_ s: String)
}

extension UTF8ByteSink {
    @inline(__always) public mutating func put(contentsOf bytes: UnsafeBufferPointer<UInt8>) {
        for b in bytes { put(b) }
    }

    @inline(__always) mutating func put(_ s: String) {
        var s = s
        s.withUTF8 { for b in $0 { put(b) } }
    }

    /// A JSON string: quoted, escaped as `JSON.escape` escapes (RFC 8259 §7).
    @inline(__always) public mutating func putJSONString(_ s: String) {
        var s = s
        s.withUTF8 { putJSONString(utf8: $0) }
    }

    /// The same, from UTF-8 bytes.
    mutating func putJSONString(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        put(0x22)
        putEscaped(utf8: bytes)
        put(0x22)
    }

    /// The bytes of a JSON string's content, escaped (RFC 8259 §7): the one escaping table of the
    /// trace and the exports.
    /// The bytes between escapes go on in runs (a SIP text has a CRLF every few dozen bytes).
    mutating func putEscaped(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        var start = 0
        var i = JSON.firstEscape(in: bytes)
        while i < bytes.count {
            let b = bytes[i]
            if start < i { put(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
            start = i + 1
            switch b {
            case 0x22: put(0x5C); put(0x22)
            case 0x5C: put(0x5C); put(0x5C)
            case 0x0A: put(0x5C); put(0x6E)
            case 0x0D: put(0x5C); put(0x72)
            case 0x09: put(0x5C); put(0x74)
            default:
                put(0x5C); put(0x75); put(0x30); put(0x30); put(JSON.hexDigit(b >> 4)); put(JSON.hexDigit(b & 0xF))
            }
            i = JSON.firstEscape(in: bytes, from: start)
        }
        if start < bytes.count { put(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
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
public struct JSONBytes: UTF8ByteSink, Sendable {
    public var bytes: [UInt8] = []
    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }
    @inline(__always) public mutating func put(_ byte: UInt8) { bytes.append(byte) }
    @inline(__always) public mutating func put(contentsOf src: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: src) }
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// A text as it is, in one copy.
    @inline(__always) mutating func put(_ s: String) {
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A JSON string, the same bytes as the generic writer's; a text with nothing to escape (most
    /// of them) is copied in one piece.
    @inline(__always) public mutating func putJSONString(_ s: String) {
        var s = s
        s.withUTF8 { src in
            if JSON.firstEscape(in: src) == src.count {
                bytes.append(0x22)
                bytes.append(contentsOf: src)
                bytes.append(0x22)
                return
            }
            putJSONString(utf8: src)
        }
    }
}

extension JSON {
    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x61 + v - 10 }

    /// Whether a byte must be escaped in a JSON string (RFC 8259 §7): a control character, `"` or `\`.
    @inline(__always) static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    /// The index of the first byte at or after `from` that must be escaped, or `bytes.count`.
    /// Eight bytes a step (SWAR: a word has a byte below 0x20, or equal to `"` or `\`, when the
    /// classic has-zero test fires), then byte by byte from the word that has one: the same answer
    /// as a scan with `needsEscape`, in a fraction of the instructions over the texts of a trace
    /// (most of which have nothing to escape, and a SIP text a CRLF every few dozen bytes).
    @inline(__always) public static func firstEscape(in bytes: UnsafeBufferPointer<UInt8>, from: Int = 0) -> Int {
        let n = bytes.count
        guard let base = bytes.baseAddress else { return n }
        var i = from
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i &+ 8 <= n {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let quote = w ^ (0x22 &* ones), backslash = w ^ (0x5C &* ones)
            // (x - 0x01..) & ~x & 0x80..: nonzero when a byte of x is zero; with 0x20.. instead of
            // 0x01.. and x = w, when a byte of w is below 0x20 (bytes of 0x80 and above excluded by ~w).
            let control = (w &- 0x20 &* ones) & ~w & highs
            let isQuote = (quote &- ones) & ~quote & highs
            let isBackslash = (backslash &- ones) & ~backslash & highs
            if control | isQuote | isBackslash != 0 { break }
            i &+= 8
        }
        while i < n && !needsEscape(base[i]) { i &+= 1 }
        return i
    }
}
