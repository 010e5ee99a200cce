extension Ladder {
    static func seconds(_ ns: Int64) -> String {
        let ms = (ns + 500_000) / 1_000_000
        let s = "\(ms / 1000).\(String(repeating: "0", count: 3 - String(ms % 1000).count))\(ms % 1000)s"
        return String(repeating: " ", count: max(0, 9 - s.count)) + s
    }

    /// The narrowest lane a text diagram uses.
    public static let minLane = 10

    /// Whether the text diagram fits `width` columns without squeezing lanes below `minLane`
    /// (after folding extension lanes into their PBX's).
    public func fits(width: Int) -> Bool { (width - 10) / max(folded(width: width).columns.count, 1) >= Ladder.minLane }

    /// When the lanes do not fit `width` at `minLane` columns, extension lanes (`PBX-1/1000`) are
    /// folded into their PBX's lane: their arrows to and from it become notes on the PBX lane
    /// (`PBX-1/1000: dial 012-345-1011`), and their notes move there too.
    func folded(width: Int) -> Ladder {
        guard (width - 10) / max(columns.count, 1) < Ladder.minLane else { return self }
        var into: [Int: Int] = [:]
        for (i, c) in columns.enumerated() {
            if let slash = c.firstIndex(of: "/"), let p = columns.firstIndex(of: String(c[..<slash])) { into[i] = p }
        }
        guard !into.isEmpty else { return self }
        let kept = columns.indices.filter { into[$0] == nil }
        let newIndex = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        func lane(_ i: Int) -> Int { newIndex[into[i] ?? i]! }
        var out = Ladder(title: title, columns: kept.map { columns[$0] }, rows: [])
        for r in rows {
            switch r {
            case .arrow(let t, let from, let to, let label, let style):
                if lane(from) == lane(to) {
                    let who = into[from] != nil ? columns[from] : columns[to]
                    out.rows.append(.note(atNs: t, column: lane(from), text: "\(who): \(label)", style: .info))
                } else {
                    out.rows.append(.arrow(atNs: t, from: lane(from), to: lane(to), label: label, style: style))
                }
            case .note(let t, let c, let text, let style):
                out.rows.append(.note(atNs: t, column: lane(c), text: into[c] != nil ? "\(columns[c]): \(text)" : text, style: style))
            }
        }
        return out
    }

    /// The diagram as text, `width` columns wide at most (lanes of 10 to 24 columns): lifelines
    /// `|`, arrows `---label-->` with labels cut only between words, dropped messages end in `x`,
    /// retransmissions dotted, notes start with `*` and wrap at words. Lane names that do not fit
    /// are abbreviated, with a legend under the header. `color` adds ANSI colours.
    public func renderText(color: Bool = false, width totalWidth: Int = 120) -> String {
        let f = folded(width: totalWidth)
        let columns = f.columns, rows = f.rows
        let timeW = 10
        let lanes = max(columns.count, 1)
        let width = max(Ladder.minLane, min(24, (totalWidth - timeW) / lanes))
        let center = { (c: Int) -> Int in c * width + width / 2 }
        let lineLen = columns.count * width
        func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        /// The longest run of whole words of `text` that fits `room` columns.
        func fitWords(_ text: String, _ room: Int) -> String {
            if text.count <= room { return text }
            var out = ""
            for w in text.split(separator: " ") {
                let next = out.isEmpty ? String(w) : out + " " + w
                if next.count > room { break }
                out = next
            }
            return out
        }
        var out = paint(title, "1") + "\n"
        // Header: names centred on their lifelines; names too long for a lane are abbreviated.
        var legend: [String] = []
        var header = Array(repeating: Character(" "), count: lineLen)
        for (i, name) in columns.enumerated() {
            var n = name
            if n.count > width - 1 {
                // The extension after a slash, or the first label of a host name, else a number.
                let ext = name.split(separator: "/").last.map(String.init) ?? name
                let first = String(name.prefix { $0 != "." })
                n = [ext, first].first { $0.count <= width - 1 && $0 != name } ?? "L\(i + 1)"
                legend.append("\(n) = \(name)")
            }
            let start = max(0, center(i) - n.count / 2)
            for (k, ch) in n.enumerated() where start + k < lineLen { header[start + k] = ch }
        }
        out += String(repeating: " ", count: timeW) + String(header) + "\n"
        for l in legend { out += String(repeating: " ", count: timeW) + paint(l, "2") + "\n" }
        func lifelines() -> [Character] {
            var l = Array(repeating: Character(" "), count: lineLen)
            for i in columns.indices { l[center(i)] = "|" }
            return l
        }
        let blankTime = String(repeating: " ", count: timeW - 1)
        for r in rows {
            var l = lifelines()
            var code = ""
            switch r {
            case .arrow(let t, let from, let to, let label, let style):
                let a = center(from), b = center(to)
                if a == b { continue }
                let lo = min(a, b), hi = max(a, b)
                let shaft: Character = style.retransmission ? "." : "-"
                // A dropped message dies two thirds of the way: the shaft stops at an x.
                let end = style.dropped ? (a < b ? a + (b - a) * 2 / 3 : a - (a - b) * 2 / 3) : b
                let s0 = min(a, end), s1 = max(a, end)
                for x in (s0 + 1)..<s1 { l[x] = shaft }
                if style.dropped {
                    l[end] = "x"
                    code = "31"
                } else {
                    if a < b { l[hi - 1] = ">" } else { l[lo + 1] = "<" }
                    if style.retransmission { code = "2" }
                }
                let text = style.retransmission ? label + " (re)" : label
                let room = s1 - s0 - 3
                let lab = fitWords(text, max(0, room))
                let start = s0 + 2 + max(0, (room - lab.count) / 2)
                for (k, ch) in lab.enumerated() where start + k < s1 { l[start + k] = ch }
                out += Ladder.seconds(t) + " " + paint(String(l), code) + "\n"
            case .note(let t, let c, let text, let style):
                let x = center(c)
                switch style {
                case .failover, .timer: code = "33"
                case .reroute: code = "1;33"
                case .answer: code = "32"
                case .end: code = "36"
                case .info: code = "2"
                }
                // The note starts right of its lifeline and wraps at words within the width; near
                // the right edge it goes left of the lifeline instead, ending in `*`.
                let right = max(lineLen, totalWidth - timeW - 1) - x - 2
                let leftSide = right < 20 && x > right
                let room = max(8, leftSide ? x - 1 : right)
                var lines: [String] = []
                var cur = ""
                for w in text.split(separator: " ") {
                    if !cur.isEmpty && cur.count + 1 + w.count > room - 2 { lines.append(cur); cur = String(w) } else { cur += (cur.isEmpty ? "" : " ") + w }
                }
                lines.append(cur)
                for (n, body) in lines.enumerated() {
                    var row = lifelines()
                    let piece = leftSide ? body + (n == 0 ? " *" : "  ") : (n == 0 ? "* " : "  ") + body
                    let start = leftSide ? max(0, x - 1 - piece.count) : x + 2
                    for (k, ch) in piece.enumerated() where start + k < lineLen { row[start + k] = ch }
                    let overflow = start + piece.count > lineLen ? String(piece.dropFirst(max(0, lineLen - start))) : ""
                    while row.last == " " && overflow.isEmpty && start + piece.count < row.count { row.removeLast() }
                    out += (n == 0 ? Ladder.seconds(t) : blankTime) + " " + paint(String(row) + overflow, code) + "\n"
                }
            }
        }
        return out
    }

    /// The same diagram as a standalone SVG document.
    public func renderSVG() -> String {
        let colW = 150, rowH = 22, top = 70, left = 80
        let width = left + columns.count * colW + 40
        let height = top + rows.count * rowH + 40
        func x(_ c: Int) -> Int { left + c * colW + colW / 2 }
        var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="monospace" font-size="11">
        <defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#222"/></marker></defs>
        <rect width="100%" height="100%" fill="white"/>
        <text x="10" y="20" font-size="14" font-weight="bold">\(esc(title))</text>

        """
        for (i, c) in columns.enumerated() {
            s += "<text x=\"\(x(i))\" y=\"\(top - 15)\" text-anchor=\"middle\" font-weight=\"bold\">\(esc(c))</text>\n"
            s += "<line x1=\"\(x(i))\" y1=\"\(top - 8)\" x2=\"\(x(i))\" y2=\"\(height - 20)\" stroke=\"#999\" stroke-dasharray=\"2,3\"/>\n"
        }
        for (n, r) in rows.enumerated() {
            let y = top + n * rowH + rowH / 2
            switch r {
            case .arrow(let t, let from, let to, let label, let style):
                s += "<text x=\"5\" y=\"\(y + 4)\">\(esc(Ladder.seconds(t).trimmingLeadingSpaces()))</text>\n"
                let x1 = x(from), x2 = x(to)
                let color = style.dropped ? "#c00" : style.retransmission ? "#888" : "#222"
                let dash = style.retransmission ? " stroke-dasharray=\"4,3\"" : ""
                if style.dropped {
                    let xe = x1 + (x2 - x1) * 2 / 3
                    s += "<line x1=\"\(x1)\" y1=\"\(y)\" x2=\"\(xe)\" y2=\"\(y)\" stroke=\"\(color)\"\(dash)/>\n"
                    s += "<text x=\"\(xe)\" y=\"\(y + 4)\" text-anchor=\"middle\" fill=\"\(color)\" font-weight=\"bold\">x</text>\n"
                } else {
                    s += "<line x1=\"\(x1)\" y1=\"\(y)\" x2=\"\(x2)\" y2=\"\(y)\" stroke=\"\(color)\"\(dash) marker-end=\"url(#arrow)\"/>\n"
                }
                let text = style.retransmission ? label + " (re)" : label
                s += "<text x=\"\((x1 + x2) / 2)\" y=\"\(y - 3)\" text-anchor=\"middle\" fill=\"\(color)\">\(esc(text))</text>\n"
            case .note(let t, let c, let text, let style):
                s += "<text x=\"5\" y=\"\(y + 4)\">\(esc(Ladder.seconds(t).trimmingLeadingSpaces()))</text>\n"
                let color: String
                switch style {
                case .failover, .timer: color = "#b36b00"
                case .reroute: color = "#d35400"
                case .answer: color = "#1e8449"
                case .end: color = "#1f618d"
                case .info: color = "#666"
                }
                let weight = style == .reroute ? " font-weight=\"bold\"" : ""
                s += "<text x=\"\(x(c) + 6)\" y=\"\(y + 4)\" fill=\"\(color)\"\(weight)>* \(esc(text))</text>\n"
            }
        }
        s += "</svg>\n"
        return s
    }
}

extension String {
    func trimmingLeadingSpaces() -> String { String(drop { $0 == " " }) }
}
