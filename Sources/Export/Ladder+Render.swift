extension Ladder {
    static func seconds(_ ns: Int64) -> String {
        let ms = (ns + 500_000) / 1_000_000
        let s = "\(ms / 1000).\(String(repeating: "0", count: 3 - String(ms % 1000).count))\(ms % 1000)s"
        return String(repeating: " ", count: max(0, 9 - s.count)) + s
    }

    /// The diagram as text: lifelines `|`, arrows `---label-->`, dropped messages end in `x`,
    /// retransmissions are dotted, notes start with `*`. `color` adds ANSI colours.
    public func renderText(color: Bool = false, columnWidth: Int? = nil) -> String {
        let width = columnWidth ?? max(18, min(24, (columns.map(\.count).max() ?? 10) + 3))
        let timeW = 10
        let center = { (c: Int) -> Int in c * width + width / 2 }
        let lineLen = columns.count * width
        func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        var out = paint(title, "1") + "\n"
        // Header: names centred on their lifelines.
        var header = Array(repeating: Character(" "), count: lineLen)
        for (i, name) in columns.enumerated() {
            let n = name.count > width - 1 ? String(name.prefix(width - 2)) + "~" : name
            let start = max(0, center(i) - n.count / 2)
            for (k, ch) in n.enumerated() where start + k < lineLen { header[start + k] = ch }
        }
        out += String(repeating: " ", count: timeW) + String(header) + "\n"
        func lifelines() -> [Character] {
            var l = Array(repeating: Character(" "), count: lineLen)
            for i in columns.indices { l[center(i)] = "|" }
            return l
        }
        for r in rows {
            var l = lifelines()
            var suffix = ""
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
                let lab = text.count > room ? String(text.prefix(max(0, room))) : text
                let start = s0 + 2 + max(0, (room - lab.count) / 2)
                for (k, ch) in lab.enumerated() where start + k < s1 { l[start + k] = ch }
                out += Ladder.seconds(t) + " " + paint(String(l), code) + "\n"
                continue
            case .note(let t, let c, let text, let style):
                let x = center(c)
                let marker = "* " + text
                for (k, ch) in marker.enumerated() where x + 2 + k < lineLen { l[x + 2 + k] = ch }
                if x + 2 + marker.count > lineLen { suffix = String(marker.dropFirst(max(0, lineLen - x - 2))) }
                switch style {
                case .failover, .timer: code = "33"
                case .reroute: code = "1;33"
                case .answer: code = "32"
                case .end: code = "36"
                case .info: code = "2"
                }
                out += Ladder.seconds(t) + " " + paint(String(l) + suffix, code) + "\n"
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
                    s += "<line x1=\"\(x1)\" y1=\"\(y)\" x2=\"\(xe)\" y2=\"\(y)\" stroke=\"\(color)\"/>\n"
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
