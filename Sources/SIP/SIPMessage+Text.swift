/// RFC 3261 text encoding and parsing.
extension SIPMessage {
    /// The message as it goes on the wire: start line, headers and a blank line with CRLF, then the
    /// body; `Content-Length` is always present and correct.
    public func encoded() -> String {
        // Measured, then written in one pass into a string of exactly that size: this runs for
        // every message of the full trace (issue 11's profile: appending piece by piece, with a
        // lower-cased copy of every header name, was a third of the full trace's cost).
        let lengthText = String(body.utf8.count)
        // The start line's three parts: `METHOD URI SIP/2.0` or `SIP/2.0 CODE REASON`.
        let first: (String, String, String)
        switch startLine {
        case .request(let m, let u): first = (m, u, "SIP/2.0")
        case .response(let c, let r): first = ("SIP/2.0", String(c), r)
        }
        var size = first.0.utf8.count + first.1.utf8.count + first.2.utf8.count + 4
        for h in headers where !SIPMessage.isContentLength(h.name) { size += h.name.utf8.count + h.value.utf8.count + 4 }
        size += 16 + lengthText.utf8.count + 4 + body.utf8.count
        return String(utf8Count: size) { w in
            w.put(first.0); w.put(" "); w.put(first.1); w.put(" "); w.put(first.2); w.put("\r\n")
            for h in headers where !SIPMessage.isContentLength(h.name) { w.put(h.name); w.put(": "); w.put(h.value); w.put("\r\n") }
            w.put("Content-Length: "); w.put(lengthText); w.put("\r\n\r\n")
            w.put(body)
        }
    }

    /// Whether a header name is Content-Length, in either form and any case.
    @inline(__always) static func isContentLength(_ name: String) -> Bool {
        matches(name, canonical: "content-length", compact: "l")
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case badStartLine(String)
        case badHeader(String)
        case missingHeader(String)
        case contentLengthMismatch(declared: Int, actual: Int)
        public var description: String {
            switch self {
            case .empty: return "empty message"
            case .badStartLine(let l): return "malformed start line: \(l)"
            case .badHeader(let l): return "malformed header line: \(l)"
            case .missingHeader(let h): return "missing mandatory header \(h)"
            case .contentLengthMismatch(let d, let a): return "Content-Length \(d) but body has \(a) bytes"
            }
        }
    }

    /// Parses a message, accepting CRLF or bare LF line ends, header folding, and compact header
    /// names. Checks the mandatory headers of RFC 3261 §8.1.1 (To, From, CSeq, Call-ID, Via;
    /// Max-Forwards on requests) and Content-Length against the body.
    public static func parse(_ text: String) throws -> SIPMessage {
        let normalized = text.replacingCRLF()
        guard !normalized.isEmpty else { throw ParseError.empty }
        let headEnd = normalized.range(of: "\n\n")
        let head = headEnd.map { String(normalized[..<$0.lowerBound]) } ?? normalized
        let bodyLF = headEnd.map { String(normalized[$0.upperBound...]) } ?? ""
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !lines.isEmpty, !lines[0].isEmpty else { throw ParseError.empty }
        let first = lines.removeFirst()
        let start: StartLine
        if first.hasPrefix("SIP/2.0 ") {
            let parts = first.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, let code = Int(parts[1]), (100...699).contains(code) else {
                throw ParseError.badStartLine(first)
            }
            start = .response(code: code, reason: parts.count == 3 ? String(parts[2]) : "")
        } else {
            let parts = first.split(separator: " ")
            guard parts.count == 3, parts[2] == "SIP/2.0", parts[0].allSatisfy({ $0.isUppercase || $0 == "-" }) else {
                throw ParseError.badStartLine(first)
            }
            start = .request(method: String(parts[0]), uri: String(parts[1]))
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            if line.first == " " || line.first == "\t" {
                guard !headers.isEmpty else { throw ParseError.badHeader(line) }
                headers[headers.count - 1].value += " " + line.trimmed()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { throw ParseError.badHeader(line) }
            let name = line[..<colon].trimmed()
            guard !name.isEmpty, !name.contains(" ") else { throw ParseError.badHeader(line) }
            headers.append((name, line[line.index(after: colon)...].trimmed()))
        }
        // The body was split on LF; restore CRLF only if the original used it consistently.
        let body = text.contains("\r\n") ? bodyLF.replacingOccurrencesOfLF() : bodyLF
        var msg = SIPMessage(startLine: start, headers: headers, body: body)
        var mandatory = ["To", "From", "CSeq", "Call-ID", "Via"]
        if msg.isRequest { mandatory.append("Max-Forwards") }
        for h in mandatory where msg.header(h) == nil { throw ParseError.missingHeader(h) }
        if let cl = msg.header("Content-Length"), let n = Int(cl) {
            if n != body.utf8.count { throw ParseError.contentLengthMismatch(declared: n, actual: body.utf8.count) }
        }
        msg.removeHeaders("Content-Length")
        return msg
    }
}

extension String {
    func replacingCRLF() -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        var prevCR = false
        for ch in unicodeScalars {
            if prevCR { if ch != "\n" { out.unicodeScalars.append("\n") } ; prevCR = false }
            if ch == "\r" { prevCR = true; continue }
            out.unicodeScalars.append(ch)
        }
        if prevCR { out.unicodeScalars.append("\n") }
        return out
    }

    func replacingOccurrencesOfLF() -> String {
        var out = ""
        for ch in unicodeScalars {
            if ch == "\n" { out += "\r\n" } else { out.unicodeScalars.append(ch) }
        }
        return out
    }

    func range(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
