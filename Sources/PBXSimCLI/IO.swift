#if canImport(Glibc)
import Store
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
