import Store
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to standard error (unbuffered, after flushing standard output so the two
/// streams stay in order on a terminal).
func printError(_ s: String) {
    fflush(nil)
    let line = s.hasSuffix("\n") ? s : s + "\n"
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

func flushOutput() { fflush(nil) }

func terminate(_ code: Int32) -> Never {
    fflush(nil)
    Glibc.exit(code)
}

/// A plain sentence for a trace database that cannot be used: a directory, a missing file (for
/// readers), a scenario or other file given where a database belongs, a foreign database.
func databaseProblem(_ path: String, _ error: Error, reading: Bool) -> String {
    var st = stat()
    if path.isEmpty { return "an empty database file name; give a .sqlite file" }
    if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return "\(path) is a directory; give a trace database file (.sqlite)" }
    if reading && stat(path, &st) != 0 { return "\(path): no such file (expected a pbxsim trace database)" }
    if let e = error as? SQLiteError, e.code & 0xff == 26 {
        let looksYAML = (try? readTextFile(path, what: "").text).map { $0.contains(":") } ?? false
        return "\(path) is not a SQLite database" + (looksYAML ? " (it looks like a scenario file)" : "")
            + "; expected a pbxsim trace database" + (reading ? "" : " (created when missing)")
    }
    return "\(path): \(error)"
}

/// A one-line status on standard error, redrawn at most ten times a second, only when standard
/// error is a terminal (nothing at all when it is a pipe or a file).
final class StatusLine {
    let enabled = isatty(2) == 1
    let start = StatusLine.now()
    var last = 0.0
    var shown = false

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    var elapsed: Double { max(1e-9, StatusLine.now() - start) }

    func update(_ text: @autoclosure () -> String) {
        guard enabled else { return }
        let t = StatusLine.now()
        guard t - last >= 0.1 else { return }
        last = t
        let width = max(20, terminalColumns() - 1)
        let line = String(text().prefix(width))
        printErrorRaw("\r\u{1B}[K" + line)
        shown = true
    }

    func finish() {
        if enabled && shown { printErrorRaw("\r\u{1B}[K") }
        shown = false
    }
}

/// The terminal's width: the terminal itself, else `COLUMNS`, else 80.
func terminalColumns() -> Int {
    var ws = winsize()
    for fd in [Int32(1), 2, 0] where isatty(fd) == 1 && ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 { return Int(ws.ws_col) }
    if let c = getenv("COLUMNS"), let n = Int(String(cString: c)), n > 0 { return n }
    return 80
}

/// `1.5 MB`, `230 KB`, `12 bytes`.
func byteCount(_ n: Int64) -> String {
    if n >= 1 << 30 { return String(format1(Double(n) / Double(1 << 30))) + " GB" }
    if n >= 1 << 20 { return String(format1(Double(n) / Double(1 << 20))) + " MB" }
    if n >= 1 << 10 { return String(format1(Double(n) / Double(1 << 10))) + " KB" }
    return "\(n) bytes"
}

func format1(_ v: Double) -> String { String((v * 10).rounded() / 10) }

/// Size of a file and its WAL, in bytes.
func fileBytes(_ path: String) -> Int64 {
    var total: Int64 = 0
    for p in [path, path + "-wal"] {
        var st = stat()
        if stat(p, &st) == 0 { total += Int64(st.st_size) }
    }
    return total
}

/// The visible width of a string, ANSI colour sequences not counted.
func visibleCount(_ s: String) -> Int {
    var n = 0, inEscape = false
    for ch in s {
        if inEscape { if ch == "m" { inEscape = false }; continue }
        if ch == "\u{1B}" { inEscape = true; continue }
        n += 1
    }
    return n
}

/// Word-wraps `text` to `width` columns: the first line after `first` (already printed, of its
/// visible width), the next ones indented by `indent` spaces. Words are never cut; a word longer
/// than a whole line stands on its own line.
func wrapWords(_ text: String, width: Int, firstUsed: Int, indent: Int) -> [String] {
    var lines: [String] = []
    var cur = "", used = firstUsed, first = true
    let room = max(width, indent + 10)
    for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
        let w = visibleCount(word)
        if first {
            cur = word; used += w; first = false; continue
        }
        if used + 1 + w > room && cur.contains(where: { $0 != " " }) && w > 0 {
            lines.append(cur)
            cur = String(repeating: " ", count: indent) + word
            used = indent + w
        } else {
            cur += " " + word
            used += 1 + w
        }
    }
    lines.append(cur)
    // A break at a double space leaves one behind: no line ends in spaces.
    return lines.map { l in var t = Substring(l); while t.last == " " { t = t.dropLast() }; return String(t) }
}

