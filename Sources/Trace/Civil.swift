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

    /// Seconds since the epoch of "YYYY-MM-DD HH:MM[:SS]" (or with a T); nil unless it is a real
    /// calendar date (1..9999, the month's own number of days, leap years) and a real time of day.
    public static func parse(_ s: String) -> Int64? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        func numbers(_ p: Substring, _ sep: Character) -> [Int]? {
            let f = p.split(separator: sep, omittingEmptySubsequences: false)
            guard f.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return nil }
            return f.map { Int($0)! }
        }
        guard let d = numbers(parts[0], "-"), let t = numbers(parts[1], ":"), d.count == 3, t.count >= 2, t.count <= 3 else { return nil }
        let (y, m, day) = (d[0], d[1], d[2])
        guard (1...9999).contains(y), (1...12).contains(m), day >= 1, day <= daysInMonth(y, m) else { return nil }
        guard (0...23).contains(t[0]), (0...59).contains(t[1]), t.count == 2 || (0...59).contains(t[2]) else { return nil }
        return Int64(days(y, m, day)) * 86400 + Int64(t[0] * 3600 + t[1] * 60 + (t.count == 3 ? t[2] : 0))
    }

    public static func daysInMonth(_ y: Int, _ m: Int) -> Int {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    public static let weekdays = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"]

    public static func describe(_ epochSeconds: Int64) -> (weekday: String, timeOfDay: String) {
        let day = Int((epochSeconds >= 0 ? epochSeconds : epochSeconds - 86399) / 86400)
        let sec = Int(epochSeconds - Int64(day) * 86400)
        func p(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return (weekdays[((day % 7) + 7) % 7], "\(p(sec / 3600)):\(p(sec / 60 % 60)):\(p(sec % 60))")
    }
}

