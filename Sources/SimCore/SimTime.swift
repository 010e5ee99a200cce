/// A point or span of simulated time, in integer nanoseconds.
///
/// Simulated time never comes from a wall clock. One type serves both instants (time since the
/// start of a run) and durations, as in ns-3's `Time`.
public struct SimTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds.
    public var ns: Int64

    @inlinable public init(ns: Int64) { self.ns = ns }

    public static let zero = SimTime(ns: 0)
    /// A time later than any event a run will schedule.
    public static let never = SimTime(ns: Int64.max)

    @inlinable public static func nanoseconds(_ v: Int64) -> SimTime { SimTime(ns: v) }
    @inlinable public static func microseconds(_ v: Int64) -> SimTime { SimTime(ns: v * 1_000) }
    @inlinable public static func milliseconds(_ v: Int64) -> SimTime { SimTime(ns: v * 1_000_000) }
    @inlinable public static func seconds(_ v: Int64) -> SimTime { SimTime(ns: v * 1_000_000_000) }
    /// Rounds to the nearest nanosecond.
    /// Seconds as a time, saturating: NaN and values beyond ±`saturation` (about 73 years) come
    /// out at the bound instead of trapping (an exponential draw of a tiny rate, a lognormal tail).
    @inlinable public static func fromSeconds(_ v: Double) -> SimTime {
        let ns = v * 1e9
        guard ns.isFinite else { return SimTime(ns: ns.isNaN || ns > 0 ? saturation.ns : -saturation.ns) }
        if ns >= Double(saturation.ns) { return saturation }
        if ns <= -Double(saturation.ns) { return SimTime(ns: -saturation.ns) }
        return SimTime(ns: Int64(ns.rounded()))
    }

    /// The longest duration a scenario, a sweep or a command may give, and the longest simulated
    /// time a run lasts: 366 days. Every sum the models form (a time plus a duration, 64·T1) stays
    /// far inside Int64 nanoseconds below it.
    public static let maxDuration = SimTime(ns: 366 * 86_400 * 1_000_000_000)
    /// Where saturating conversions stop (Int64.max / 4).
    public static let saturation = SimTime(ns: Int64.max / 4)

    /// Whole microseconds (truncated toward zero), the unit of the SQLite trace.
    @inlinable public var microseconds: Int64 { ns / 1_000 }
    @inlinable public var seconds: Double { Double(ns) / 1e9 }

    @inlinable public static func < (a: SimTime, b: SimTime) -> Bool { a.ns < b.ns }
    @inlinable public static func + (a: SimTime, b: SimTime) -> SimTime { SimTime(ns: a.ns &+ b.ns) }
    @inlinable public static func - (a: SimTime, b: SimTime) -> SimTime { SimTime(ns: a.ns &- b.ns) }
    @inlinable public static func * (a: SimTime, k: Int64) -> SimTime { SimTime(ns: a.ns * k) }
    @inlinable public static func += (a: inout SimTime, b: SimTime) { a.ns &+= b.ns }

    /// `12.345s` style with millisecond precision: how the CLI prints instants.
    public var description: String { formatSeconds(precision: 3) }

    /// Seconds with a fixed number of decimals (integer arithmetic, no floating point rounding).
    public func formatSeconds(precision: Int = 3) -> String {
        let neg = ns < 0
        let a = neg ? -ns : ns
        var div: Int64 = 1
        for _ in 0..<(9 - precision) { div *= 10 }
        let scaled = (a + div / 2) / div
        var unit: Int64 = 1
        for _ in 0..<precision { unit *= 10 }
        let whole = scaled / unit
        let frac = scaled % unit
        var f = String(frac)
        while f.count < precision { f = "0" + f }
        return (neg ? "-" : "") + String(whole) + (precision > 0 ? "." + f : "") + "s"
    }

    /// The shortest exact form in the scenario syntax: `0s`, `500ms`, `4s`, `2m`, `1500us`.
    public var durationString: String {
        if ns == 0 { return "0s" }
        if ns % 3_600_000_000_000 == 0 { return "\(ns / 3_600_000_000_000)h" }
        if ns % 60_000_000_000 == 0 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
        if ns % 1_000 == 0 { return "\(ns / 1_000)us" }
        return "\(ns)ns"
    }

    /// Parses a duration written `500ms`, `4s`, `1.5s`, `2m`, `1h`, `250us`, `10ns`
    /// (a bare `0` is accepted). Returns nil when the text is not a duration.
    public static func parseDuration(_ text: String) -> SimTime? {
        let s = text.trimmingSpaces()
        if s == "0" { return .zero }
        if let c = parseCompound(s) { return c }
        let units: [(String, Int64)] = [("ms", 1_000_000), ("us", 1_000), ("ns", 1), ("h", 3_600_000_000_000),
                                        ("m", 60_000_000_000), ("s", 1_000_000_000)]
        for (suffix, mult) in units where s.hasSuffix(suffix) {
            let num = String(s.dropLast(suffix.count))
            guard !num.isEmpty, num.first != "-", num.first != "+" else { return nil }
            if let i = Int64(num) {
                let (r, o) = i.multipliedReportingOverflow(by: mult)
                return o ? nil : SimTime(ns: r)
            }
            // Decimal such as 1.5s or 0.25ms: must come out as whole nanoseconds.
            let parts = num.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty, parts[1].count <= 9,
                  parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
                  parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0])),
                  let frac = Int64(String(parts[1])) else { return nil }
            var scale: Int64 = 1
            for _ in 0..<parts[1].count { scale *= 10 }
            let (w, o) = whole.multipliedReportingOverflow(by: mult)
            let (f, o2) = frac.multipliedReportingOverflow(by: mult)
            guard !o, !o2, f % scale == 0 else { return nil }
            let (total, o3) = w.addingReportingOverflow(f / scale)
            return o3 ? nil : SimTime(ns: total)
        }
        return nil
    }
}

extension SimTime {
    /// Why `text` is not an acceptable duration: too long (including values beyond Int64
    /// nanoseconds), or not a duration at all.
    public static func durationProblem(_ text: String) -> String {
        let s = text.trimmingSpaces()
        let allowed = Set("0123456789.hmsun")
        if let f = s.first, f.isASCII, f.isNumber, s.allSatisfy({ allowed.contains($0) }), s.last.map({ "hmsn".contains($0) }) ?? false {
            if let d = parseDuration(s), d <= maxDuration { return "" }
            if parseDuration(s) != nil || !s.contains(".") { return tooLong(text) }
        }
        return "expected a duration such as 500ms, 4s or 2m, got '\(text)'"
    }

    /// The message for a duration above `maxDuration`.
    public static func tooLong(_ text: String) -> String {
        "'\(text)' is longer than 8784h (366 days), the longest simulated time pbxsim runs"
    }

    /// `1h30m`, `2m30s`, `12h7m`: several whole-number parts, largest unit first.
    static func parseCompound(_ s: String) -> SimTime? {
        let units: [(String, Int64)] = [("h", 3_600_000_000_000), ("ms", 1_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000)]
        var rest = Substring(s)
        var total: Int64 = 0
        var parts = 0
        var lastUnit = Int64.max
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let v = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let (u, mult) = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            guard mult < lastUnit else { return nil }
            lastUnit = mult
            rest = rest.dropFirst(u.count)
            let (product, o1) = v.multipliedReportingOverflow(by: mult)
            let (sum, o2) = total.addingReportingOverflow(product)
            guard !o1, !o2 else { return nil }
            total = sum
            parts += 1
        }
        return parts >= 2 ? SimTime(ns: total) : nil
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
