/// Charts of the HTML report, written as inline SVG: no script, no external file, readable on
/// paper. Every chart carries a title, axis labels with units, a legend and a data table as its
/// text alternative; colours come from the Okabe-Ito palette (distinguishable with the common
/// colour-vision deficiencies) and line series also differ by dash pattern.
struct Chart {
    enum Kind { case stackedBars, groupedBars, lines, scatter }

    struct Series {
        var name: String
        var color: String
        /// (x, y); for bar charts x is the index of a category or the start of a time bucket.
        var points: [(x: Double, y: Double)]
        var dash: String? = nil
    }

    var id: String
    var title: String
    /// One sentence saying what the chart shows (also the SVG's description).
    var description: String
    var xLabel: String
    var yLabel: String
    var kind: Kind
    var series: [Series]
    /// Names of the x categories (bar charts over categories); nil for numeric x.
    var categories: [String]? = nil
    /// Width of one bar group on a numeric x axis (time buckets).
    var barWidth: Double = 1
    /// The x axis range (a time axis spans the whole run); nil: the data's range.
    var xRange: (Double, Double)? = nil
    /// The y axis counts things: whole-number ticks.
    var yCounts = true
    /// A horizontal reference line (for example the number of channels), drawn as its own series.
    var xFormat: (Double) -> String = { Chart.number($0) }
    var yFormat: (Double) -> String = { Chart.number($0) }

    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]
    static let dashes = [nil, "6,3", "2,2", "8,3,2,3", "1,3", "10,4"]

    static func number(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e12 { return String(Int64(v)) }
        let r = (v * 1000).rounded() / 1000
        return String(r)
    }

    /// "Nice" axis ticks covering 0...max (or min...max).
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, minStep: Double = 0) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = max((hi - lo) / Double(count), minStep)
        var mag = 1.0
        while mag * 10 <= raw { mag *= 10 }
        while mag > raw { mag /= 10 }
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var v = (lo / step).rounded(.down) * step
        while v <= hi + step * 1e-9 { if v >= lo - step * 1e-9 { out.append(v) }; v += step }
        return out
    }

    func html() -> String {
        let w = 760.0, h = 300.0, left = 70.0, right = 20.0, top = 20.0, bottom = 50.0
        let pw = w - left - right, ph = h - top - bottom
        // Ranges.
        var xs: [Double] = [], ys: [Double] = [0]
        for s in series { for p in s.points { xs.append(p.x); ys.append(p.y) } }
        if kind == .stackedBars {
            var sums: [Double: Double] = [:]
            for s in series { for p in s.points { sums[p.x, default: 0] += p.y } }
            ys += sums.values
        }
        var xlo = xs.min() ?? 0, xhi = xs.max() ?? 1
        if let c = categories { xlo = -0.5; xhi = Double(c.count) - 0.5 }
        else if let r = xRange { xlo = r.0; xhi = r.1 }
        else if kind == .stackedBars || kind == .groupedBars { xhi += barWidth }
        if kind == .scatter && categories == nil {
            // Keep points off the frame: 5 % on each side, or ±1 around a single value.
            let pad = xhi > xlo ? (xhi - xlo) * 0.05 : 1
            xlo -= pad; xhi += pad
        }
        if xhi <= xlo { xhi = xlo + 1 }
        // At least 0...1 on the y axis, so an all-zero series still has a readable scale.
        let yTicks = Chart.ticks(0, max(ys.max() ?? 1, 1), minStep: yCounts ? 1 : 0)
        let yhi = max(yTicks.last ?? 1, ys.max() ?? 1, 1)
        func px(_ x: Double) -> Double { left + (x - xlo) / (xhi - xlo) * pw }
        func py(_ y: Double) -> Double { top + ph - y / yhi * ph }
        func f(_ v: Double) -> String { String((v * 10).rounded() / 10) }

        var svg = "<svg role=\"img\" aria-labelledby=\"\(id)-t \(id)-d\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" width=\"\(Int(w))\" height=\"\(Int(h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<title id=\"\(id)-t\">\(esc(title))</title><desc id=\"\(id)-d\">\(esc(description))</desc>"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(w))\" height=\"\(Int(h))\" fill=\"#fff\"/>"
        // Grid and y axis.
        for t in yTicks {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(w - right))\" y2=\"\(f(py(t)))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(esc(yFormat(t)))</text>"
        }
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + ph))\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + ph))\" x2=\"\(f(w - right))\" y2=\"\(f(top + ph))\" stroke=\"#333\"/>"
        // x ticks.
        if let c = categories {
            for (i, name) in c.enumerated() {
                svg += "<text x=\"\(f(px(Double(i))))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(esc(name))</text>"
            }
        } else {
            for t in Chart.ticks(xlo, xhi) {
                svg += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top + ph))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + ph + 4))\" stroke=\"#333\"/>"
                svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(esc(xFormat(t)))</text>"
            }
        }
        svg += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(h - 8))\" text-anchor=\"middle\" class=\"axis\">\(esc(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(f(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">\(esc(yLabel))</text>"
        // Series.
        var base: [Double: Double] = [:]
        let groups = Double(max(series.count, 1))
        for (si, s) in series.enumerated() {
            svg += "<g class=\"series\" data-name=\"\(esc(s.name))\">"
            switch kind {
            case .stackedBars, .groupedBars:
                for p in s.points where p.y > 0 {
                    let x0: Double, bw: Double
                    if categories != nil {
                        bw = pw / (xhi - xlo) * 0.8 / (kind == .groupedBars ? groups : 1)
                        x0 = px(p.x) - pw / (xhi - xlo) * 0.4 + (kind == .groupedBars ? Double(si) * bw : 0)
                    } else {
                        let full = px(p.x + barWidth) - px(p.x)
                        bw = max(full * 0.9 / (kind == .groupedBars ? groups : 1), 0.5)
                        x0 = px(p.x) + (kind == .groupedBars ? Double(si) * bw : 0)
                    }
                    let b = kind == .stackedBars ? base[p.x, default: 0] : 0
                    let y1 = py(b + p.y), y0 = py(b)
                    svg += "<rect x=\"\(f(x0))\" y=\"\(f(y1))\" width=\"\(f(bw))\" height=\"\(f(max(y0 - y1, 0.5)))\" fill=\"\(s.color)\" stroke=\"#333\" stroke-width=\"0.3\"><title>\(esc(s.name)): \(esc(xLabelFor(p.x))) \(esc(yFormat(p.y)))</title></rect>"
                    if kind == .stackedBars { base[p.x] = b + p.y }
                }
            case .lines:
                let d = s.points.enumerated().map { (i, p) in "\(i == 0 ? "M" : "L")\(f(px(p.x))),\(f(py(p.y)))" }.joined(separator: " ")
                svg += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>"
            case .scatter:
                for p in s.points {
                    svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(s.color)\" stroke=\"#333\" stroke-width=\"0.4\"><title>\(esc(s.name)): \(esc(xLabelFor(p.x))), \(esc(yFormat(p.y)))</title></circle>"
                }
            }
            svg += "</g>"
        }
        svg += "</svg>"
        return figure(svg: svg)
    }

    func xLabelFor(_ x: Double) -> String {
        if let c = categories, Int(x) >= 0, Int(x) < c.count { return c[Int(x)] }
        return xFormat(x)
    }

    /// The chart with its caption, legend and data table.
    func figure(svg: String) -> String {
        var o = "<figure class=\"chart\" id=\"\(id)\" data-chart=\"\(id)\" data-series=\"\(series.count)\">"
        o += "<figcaption><strong>\(esc(title))</strong>. \(esc(description))</figcaption>"
        o += svg
        o += "<ul class=\"legend\">"
        for s in series {
            let sw = s.dash == nil ? "<span class=\"sw\" style=\"background:\(s.color)\"></span>"
                : "<svg class=\"swl\" width=\"28\" height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"28\" y2=\"5\" stroke=\"\(s.color)\" stroke-width=\"2\" stroke-dasharray=\"\(s.dash!)\"/></svg>"
            o += "<li>\(sw)\(esc(s.name))</li>"
        }
        o += "</ul>"
        o += dataTable()
        o += "</figure>"
        return o
    }

    /// The numbers behind the chart, one row per x value and one column per series.
    func dataTable() -> String {
        var xsSeen: [Double] = []
        var set = Set<Double>()
        for s in series { for p in s.points where set.insert(p.x).inserted { xsSeen.append(p.x) } }
        xsSeen.sort()
        var values: [[Double: Double]] = series.map { s in Dictionary(s.points.map { ($0.x, $0.y) }, uniquingKeysWith: { a, _ in a }) }
        if kind == .scatter { values = series.map { _ in [:] } }
        var o = "<details class=\"data\"><summary>Data table: \(esc(title))</summary><table><thead><tr><th scope=\"col\">\(esc(xLabel))</th>"
        if kind == .scatter {
            o += "<th scope=\"col\">series</th><th scope=\"col\">\(esc(yLabel))</th></tr></thead><tbody>"
            for s in series { for p in s.points { o += "<tr><td>\(esc(xLabelFor(p.x)))</td><td>\(esc(s.name))</td><td>\(esc(yFormat(p.y)))</td></tr>" } }
        } else {
            for s in series { o += "<th scope=\"col\">\(esc(s.name))</th>" }
            o += "</tr></thead><tbody>"
            for x in xsSeen {
                o += "<tr><td>\(esc(xLabelFor(x)))</td>"
                for v in values { o += "<td>\(v[x].map { esc(yFormat($0)) } ?? "")</td>" }
                o += "</tr>"
            }
        }
        o += "</tbody></table></details>"
        return o
    }
}

/// A state band: one row per subject (a card), coloured segments over time.
struct BandChart {
    struct Segment { var start: Double; var end: Double; var state: String }
    var id: String
    var title: String
    var description: String
    var xLabel: String
    var rows: [(name: String, segments: [Segment])]
    var colors: [String: String]
    var span: (Double, Double)
    var xFormat: (Double) -> String

    func html() -> String {
        let w = 760.0, left = 110.0, right = 20.0, rowH = 26.0, top = 10.0
        let h = top + Double(rows.count) * rowH + 40
        let pw = w - left - right
        let (lo, hi0) = span
        let hi = hi0 > lo ? hi0 : lo + 1
        func px(_ x: Double) -> Double { left + (x - lo) / (hi - lo) * pw }
        func f(_ v: Double) -> String { String((v * 10).rounded() / 10) }
        var svg = "<svg role=\"img\" aria-labelledby=\"\(id)-t \(id)-d\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" width=\"\(Int(w))\" height=\"\(Int(h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<title id=\"\(id)-t\">\(esc(title))</title><desc id=\"\(id)-d\">\(esc(description))</desc><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
        for (i, r) in rows.enumerated() {
            let y = top + Double(i) * rowH
            svg += "<g class=\"series\" data-name=\"\(esc(r.name))\"><text x=\"\(f(left - 6))\" y=\"\(f(y + rowH / 2 + 4))\" text-anchor=\"end\">\(esc(r.name))</text>"
            for s in r.segments {
                svg += "<rect x=\"\(f(px(s.start)))\" y=\"\(f(y + 3))\" width=\"\(f(max(px(s.end) - px(s.start), 0.5)))\" height=\"\(f(rowH - 6))\" fill=\"\(colors[s.state] ?? "#999")\" stroke=\"#333\" stroke-width=\"0.3\"><title>\(esc(r.name)) \(esc(s.state)) from \(esc(xFormat(s.start))) to \(esc(xFormat(s.end)))</title></rect>"
            }
            svg += "</g>"
        }
        let axisY = top + Double(rows.count) * rowH
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(axisY))\" x2=\"\(f(w - right))\" y2=\"\(f(axisY))\" stroke=\"#333\"/>"
        for t in Chart.ticks(lo, hi) {
            svg += "<line x1=\"\(f(px(t)))\" y1=\"\(f(axisY))\" x2=\"\(f(px(t)))\" y2=\"\(f(axisY + 4))\" stroke=\"#333\"/><text x=\"\(f(px(t)))\" y=\"\(f(axisY + 16))\" text-anchor=\"middle\">\(esc(xFormat(t)))</text>"
        }
        svg += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(h - 6))\" text-anchor=\"middle\" class=\"axis\">\(esc(xLabel))</text></svg>"
        var o = "<figure class=\"chart\" id=\"\(id)\" data-chart=\"\(id)\" data-series=\"\(rows.count)\"><figcaption><strong>\(esc(title))</strong>. \(esc(description))</figcaption>\(svg)<ul class=\"legend\">"
        for state in colors.keys.sorted() { o += "<li><span class=\"sw\" style=\"background:\(colors[state]!)\"></span>\(esc(state))</li>" }
        o += "</ul><details class=\"data\"><summary>Data table: \(esc(title))</summary><table><thead><tr><th scope=\"col\">card</th><th scope=\"col\">state</th><th scope=\"col\">from</th><th scope=\"col\">to</th></tr></thead><tbody>"
        for r in rows { for s in r.segments { o += "<tr><td>\(esc(r.name))</td><td>\(esc(s.state))</td><td>\(esc(xFormat(s.start)))</td><td>\(esc(xFormat(s.end)))</td></tr>" } }
        o += "</tbody></table></details></figure>"
        return o
    }
}

/// HTML/XML text escaping.
public func esc(_ s: String) -> String {
    var o = ""
    o.reserveCapacity(s.utf8.count)
    for ch in s {
        switch ch {
        case "&": o += "&amp;"
        case "<": o += "&lt;"
        case ">": o += "&gt;"
        case "\"": o += "&quot;"
        default: o.append(ch)
        }
    }
    return o
}
