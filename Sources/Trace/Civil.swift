/// Calendar arithmetic for the scenario's `start` (proleptic Gregorian, UTC, no time zones).
public enum Civil {
    /// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    public static func days(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// Seconds since the epoch of "YYYY-MM-DD HH:MM[:SS]" (or with a T).
    public static func parse(_ s: String) -> Int64? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let d = parts[0].split(separator: "-").compactMap { Int($0) }
        let t = parts[1].split(separator: ":").compactMap { Int($0) }
        guard d.count == 3, t.count >= 2, t.count <= 3 else { return nil }
        return Int64(days(d[0], d[1], d[2])) * 86400 + Int64(t[0] * 3600 + t[1] * 60 + (t.count == 3 ? t[2] : 0))
    }

    public static let weekdays = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"]

    public static func describe(_ epochSeconds: Int64) -> (weekday: String, timeOfDay: String) {
        let day = Int((epochSeconds >= 0 ? epochSeconds : epochSeconds - 86399) / 86400)
        let sec = Int(epochSeconds - Int64(day) * 86400)
        func p(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return (weekdays[((day % 7) + 7) % 7], "\(p(sec / 3600)):\(p(sec / 60 % 60)):\(p(sec % 60))")
    }
}

