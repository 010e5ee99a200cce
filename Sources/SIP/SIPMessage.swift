import Synchronization

/// A SIP message (RFC 3261 §7): a request or a response, ordered headers and a body.
///
/// Headers keep their order and their names as written; lookups are case-insensitive and accept
/// the compact forms (`v`, `i`, `f`, `t`, `l`, `m`, `c`). Serialisation always computes
/// `Content-Length` from the body.
public struct SIPMessage: Sendable, Equatable {
    public enum StartLine: Sendable, Equatable {
        case request(method: String, uri: String)
        case response(code: Int, reason: String)
    }

    /// The message's parts behind one reference, copied on write: a message is handed from the
    /// transaction to its actions, the network, the trace and the receiver, and a copy is then
    /// one reference count instead of one for each of its strings and its header list (issue
    /// 11's profile: copying and destroying messages inside transaction actions was about 8 % of
    /// a failover call).
    ///
    /// An INVITE the model builds (`invite(...)`) keeps its parts (`InviteParts`) and writes its
    /// headers and SDP body on first read: at `--trace calls` nothing reads the INVITEs sent to a
    /// silent server, and writing them was about a tenth of a failover call (issue 11: "SIP text
    /// encoded from typed messages only for the full trace"). The first read builds them once,
    /// under a lock, for every copy sharing the storage; a storage with parts is never changed in
    /// place (a change copies it into a plain one).
    @usableFromInline final class Storage: @unchecked Sendable {
        // Written only while this is the only reference (`makeUnique`), or once by `build`,
        // under `lock`, before `built` is set (readers load `built` first, acquiring).
        @usableFromInline var startLine: StartLine
        @usableFromInline var builtHeaders: [(name: String, value: String)]
        @usableFromInline var builtBody: String
        @usableFromInline let parts: InviteParts?
        @usableFromInline let built: Atomic<Bool>
        let lock = Mutex<Void>(())

        @usableFromInline init(startLine: StartLine, headers: [(name: String, value: String)], body: String) {
            self.startLine = startLine; builtHeaders = headers; builtBody = body
            parts = nil; built = Atomic(true)
        }

        init(invite parts: InviteParts) {
            startLine = .request(method: "INVITE", uri: parts.requestURI)
            builtHeaders = []; builtBody = ""
            self.parts = parts; built = Atomic(false)
        }

        /// Headers and body are there to read.
        @inlinable @inline(__always) func ready() {
            if !built.load(ordering: .acquiring) { build() }
        }

        @usableFromInline @inline(never) func build() {
            lock.withLock { _ in
                guard !built.load(ordering: .relaxed), let parts else { return }
                (builtHeaders, builtBody) = parts.headersAndBody()
                built.store(true, ordering: .releasing)
            }
        }
    }

    @usableFromInline var storage: Storage

    public init(startLine: StartLine, headers: [(name: String, value: String)] = [], body: String = "") {
        storage = Storage(startLine: startLine, headers: headers, body: body)
    }

    init(invite parts: InviteParts) { storage = Storage(invite: parts) }

    @inlinable mutating func makeUnique() {
        if storage.parts != nil || !isKnownUniquelyReferenced(&storage) {
            storage.ready()
            storage = Storage(startLine: storage.startLine, headers: storage.builtHeaders, body: storage.builtBody)
        }
    }

    public var startLine: StartLine {
        @inlinable get { storage.startLine }
        @inlinable _modify { makeUnique(); yield &storage.startLine }
    }
    public var headers: [(name: String, value: String)] {
        @inlinable get { storage.ready(); return storage.builtHeaders }
        @inlinable _modify { makeUnique(); yield &storage.builtHeaders }
    }
    public var body: String {
        @inlinable get { storage.ready(); return storage.builtBody }
        @inlinable _modify { makeUnique(); yield &storage.builtBody }
    }

    public static func == (a: SIPMessage, b: SIPMessage) -> Bool {
        if a.storage === b.storage { return true }
        return a.startLine == b.startLine && a.body == b.body && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public var isRequest: Bool { if case .request = startLine { return true } else { return false } }
    public var method: String? { if case .request(let m, _) = startLine { return m } else { return nil } }
    public var requestURI: String? { if case .request(_, let u) = startLine { return u } else { return nil } }
    public var statusCode: Int? { if case .response(let c, _) = startLine { return c } else { return nil } }

    /// ASCII case-insensitive equality without allocating.
    @inline(__always) static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        var ia = a.utf8.makeIterator(), ib = b.utf8.makeIterator()
        while true {
            switch (ia.next(), ib.next()) {
            case (nil, nil): return true
            case let (x?, y?):
                if x != y && (x | 0x20) != (y | 0x20) { return false }
                if x != y && !((x | 0x20) >= 0x61 && (x | 0x20) <= 0x7a) { return false }
            default: return false
            }
        }
    }

    /// Whether a header line's name is `want` (any case) or its compact form `short`.
    @inline(__always) static func matches(_ name: String, canonical want: String, compact short: String?) -> Bool {
        if equalsIgnoringCase(name, want) { return true }
        if let short, name.utf8.count == 1, equalsIgnoringCase(name, short) { return true }
        return false
    }

    /// The long and compact forms of a header name, without lower-casing or hashing it: the
    /// lookups below run for every message the model handles (issue 11's profile). The long form
    /// keeps the caller's case (matching ignores case).
    @inline(__always) static func forms(of name: String) -> (long: String, short: String?) {
        if name.utf8.count == 1 {
            for (c, long) in compactPairs where equalsIgnoringCase(name, c) { return (long, c) }
            return (name, nil)
        }
        for (c, long) in compactPairs where equalsIgnoringCase(name, long) { return (long, c) }
        return (name, nil)
    }

    /// Whether a header line's name is the header `want`, in either form and any case.
    @inline(__always) static func isHeader(_ name: String, _ want: String) -> Bool {
        let (long, short) = forms(of: want)
        return matches(name, canonical: long, compact: short)
    }

    /// The compact forms (RFC 3261 §7.3.3) and the names they stand for: the one table of them.
    static let compactPairs: [(String, String)] = [("v", "via"), ("i", "call-id"), ("f", "from"), ("t", "to"),
                                                   ("l", "content-length"), ("m", "contact"), ("c", "content-type")]

    /// First value of a header (case-insensitive, compact forms accepted).
    public func header(_ name: String) -> String? {
        let (want, short) = SIPMessage.forms(of: name)
        for h in headers where SIPMessage.matches(h.name, canonical: want, compact: short) { return h.value }
        return nil
    }

    /// Every value of a header, in order.
    public func headerValues(_ name: String) -> [String] {
        let (want, short) = SIPMessage.forms(of: name)
        return headers.filter { SIPMessage.matches($0.name, canonical: want, compact: short) }.map(\.value)
    }

    public mutating func setHeader(_ name: String, _ value: String) {
        let (want, short) = SIPMessage.forms(of: name)
        if let i = headers.firstIndex(where: { SIPMessage.matches($0.name, canonical: want, compact: short) }) {
            headers[i].value = value
        } else {
            headers.append((name, value))
        }
    }

    public mutating func removeHeaders(_ name: String) {
        let (want, short) = SIPMessage.forms(of: name)
        headers.removeAll { SIPMessage.matches($0.name, canonical: want, compact: short) }
    }

    /// Inserts a Via above the existing ones (what a proxy does when it forwards a request).
    public mutating func pushVia(_ value: String) {
        let i = headers.firstIndex { SIPMessage.isHeader($0.name, "via") } ?? 0
        headers.insert(("Via", value), at: i)
    }

    /// Removes the topmost Via (what a proxy does before relaying a response upstream).
    public mutating func popVia() {
        if let i = headers.firstIndex(where: { SIPMessage.isHeader($0.name, "via") }) { headers.remove(at: i) }
    }

    /// The transport and sent-by of the top Via (`SIP/2.0/UDP 192.0.2.10:5060;branch=...`), where a
    /// response goes next (RFC 3261 §18.2.2; no `received`/`rport` in this model).
    public var topViaSentBy: (transport: Transport, ip: String, port: Int)? {
        guard let v = header("Via") else { return nil }
        let parts = v.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let proto = parts[0].split(separator: "/").last,
              let t = Transport(rawValue: String(proto).uppercased()) else { return nil }
        let hp = parts[1].split(separator: ";").first.map { String($0).filter { $0 != " " } } ?? ""
        let (ip, port) = splitHostPort(hp)
        return (t, ip, port)
    }

    /// The `branch` parameter of the top Via.
    public var branch: String? { header("Via").flatMap { SIPMessage.parameter("branch", in: $0) } }
    public var callID: String? { header("Call-ID") }
    public var cseq: (number: Int, method: String)? {
        guard let v = header("CSeq") else { return nil }
        let parts = v.split(separator: " ")
        guard parts.count == 2, let n = Int(parts[0]) else { return nil }
        return (n, String(parts[1]))
    }
    public var fromTag: String? { header("From").flatMap { SIPMessage.parameter("tag", in: $0) } }
    public var toTag: String? { header("To").flatMap { SIPMessage.parameter("tag", in: $0) } }

    /// Seconds from a `Retry-After` header, if present and well formed.
    public var retryAfterSeconds: Int? {
        guard let v = header("Retry-After") else { return nil }
        let digits = v.prefix { $0.isASCII && $0.isNumber }
        return Int(digits)
    }

    /// Value of `;name=value` in a header value (outside angle brackets for name-addr forms).
    /// Scans the UTF-8 bytes once; allocates only the result.
    public static func parameter(_ name: String, in value: String) -> String? {
        var value = value, name = name
        // Native strings are contiguous UTF-8: scan them in place (no copy into an array).
        return value.withUTF8 { bytes in name.withUTF8 { key in parameter(key, in: bytes) } }
    }

    private static func parameter(_ key: UnsafeBufferPointer<UInt8>, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var i = 0
        if let close = bytes.lastIndex(of: UInt8(ascii: ">")) { i = close + 1 }
        let n = bytes.count
        while i < n {
            // Find the next ';'.
            while i < n && bytes[i] != UInt8(ascii: ";") { i += 1 }
            i += 1
            while i < n && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            // Compare the parameter name case-insensitively.
            var j = 0
            while j < key.count && i + j < n && (bytes[i + j] | 0x20) == (key[j] | 0x20) { j += 1 }
            var k = i + j
            if j == key.count {
                while k < n && (bytes[k] == 0x20 || bytes[k] == 0x09) { k += 1 }
                if k < n && bytes[k] == UInt8(ascii: "=") {
                    k += 1
                    while k < n && (bytes[k] == 0x20 || bytes[k] == 0x09) { k += 1 }
                    var end = k
                    while end < n && bytes[end] != UInt8(ascii: ";") { end += 1 }
                    var e2 = end
                    while e2 > k && (bytes[e2 - 1] == 0x20 || bytes[e2 - 1] == 0x09) { e2 -= 1 }
                    return String(decoding: bytes[k..<e2], as: UTF8.self)
                }
            }
            i = k
        }
        return nil
    }

    /// The URI inside a name-addr (`"Name" <sip:x@y>;tag=...`) or the addr-spec itself.
    public static func uri(in value: String) -> String {
        if let o = value.firstIndex(of: "<"), let c = value.firstIndex(of: ">"), o < c {
            return String(value[value.index(after: o)..<c])
        }
        return String(value.split(separator: ";").first ?? Substring(value)).trimmed()
    }

    /// The user part of a SIP URI (`sip:0123451011@itsp.example` -> `0123451011`).
    public static func user(ofURI uri: String) -> String? {
        var s = Substring(uri)
        if s.hasPrefix("sips:") { s = s.dropFirst(5) } else if s.hasPrefix("sip:") { s = s.dropFirst(4) }
        guard let at = s.firstIndex(of: "@") else { return nil }
        return String(s[..<at])
    }

    /// The transport a request to this URI uses (RFC 3261 §19.1.1, RFC 3263 §4.1 for an IP
    /// literal): its `transport=` parameter, else TLS for a `sips:` URI, else UDP.
    public static func transport(ofURI uri: String) -> Transport {
        for param in uri.split(separator: ";").dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "transport" {
                switch kv[1].lowercased() {
                case "tcp": return uri.hasPrefix("sips:") ? .tls : .tcp
                case "tls": return .tls
                default: return .udp
                }
            }
        }
        return uri.hasPrefix("sips:") ? .tls : .udp
    }

    /// Where a request to this URI goes: address, port (the transport's default when the URI has
    /// none) and transport. In-dialog requests (ACK for a 2xx, BYE) go to the remote Contact so.
    public static func target(ofURI uri: String) -> (ip: String, port: Int, transport: Transport) {
        let t = transport(ofURI: uri)
        let hp = hostport(ofURI: uri)
        let (ip, port) = splitHostPort(hp)
        let explicitPort = hp.hasPrefix("[") ? hp.contains("]:") : (hp.split(separator: ":").count == 2)
        return (ip, explicitPort ? port : t.defaultPort, t)
    }

    /// The host[:port] part of a SIP URI.
    public static func hostport(ofURI uri: String) -> String {
        var s = Substring(uri)
        if s.hasPrefix("sips:") { s = s.dropFirst(5) } else if s.hasPrefix("sip:") { s = s.dropFirst(4) }
        if let at = s.firstIndex(of: "@") { s = s[s.index(after: at)...] }
        if let semi = s.firstIndex(of: ";") { s = s[..<semi] }
        return String(s)
    }
}

extension StringProtocol {
    func trimmed() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
