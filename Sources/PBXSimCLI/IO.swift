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
