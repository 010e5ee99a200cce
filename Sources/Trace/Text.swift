/// Small text helpers shared by the targets above the cores (Foundation-free, so named apart
/// from Foundation's methods to avoid ambiguity where both are visible).
extension String {
    /// Splits on a separator string: `"a..b".splitting(on: "..")` is `["a", "b"]`.
    public func splitting(on sep: String) -> [String] {
        let b = Array(utf8), p = Array(sep.utf8)
        guard !p.isEmpty, b.count >= p.count else { return [self] }
        var out: [String] = [], start = 0, i = 0
        while i <= b.count - p.count {
            if b[i..<(i + p.count)].elementsEqual(p) {
                out.append(String(decoding: b[start..<i], as: UTF8.self))
                i += p.count
                start = i
            } else { i += 1 }
        }
        out.append(String(decoding: b[start...], as: UTF8.self))
        return out
    }

    /// Drops leading and trailing characters that are in `set`.
    public func trimming(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
