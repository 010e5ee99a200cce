#if canImport(Glibc)
import Glibc
#endif

/// A buffered output: a file, or standard output when no path is given.
public final class OutputFile {
    let handle: UnsafeMutablePointer<FILE>
    let isStdout: Bool
    public let path: String?

    public init(path: String?) throws {
        self.path = path
        if let path {
            guard let f = fopen(path, "wb") else { throw ExportError.cannotWrite(path) }
            handle = f
            isStdout = false
        } else {
            guard let f = fdopen(dup(1), "wb") else { throw ExportError.cannotWrite("standard output") }
            handle = f
            isStdout = true
        }
        setvbuf(handle, nil, _IOFBF, 1 << 20)
    }

    public func write(_ s: String) {
        var s = s
        s.withUTF8 { b in _ = fwrite(b.baseAddress, 1, b.count, handle) }
    }

    public func write(bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { b in _ = fwrite(b.baseAddress, 1, b.count, handle) }
    }

    /// Closes and removes a file that was only partly written (after an error or a signal).
    public func discard() {
        fclose(handle)
        if let path { unlink(path) }
    }

    public func close() throws {
        let failed = ferror(handle) != 0
        let rc = fclose(handle)
        if failed || rc != 0 { throw ExportError.cannotWrite(path ?? "standard output") }
    }
}

public enum ExportError: Error, CustomStringConvertible {
    case cannotWrite(String)
    case noSuchRun(Int64)
    case needsOutput(String)
    case tooLarge(run: Int64, seq: Int64, bytes: Int, limit: Int)
    /// A signal stopped the export.
    case interrupted
    public var description: String {
        switch self {
        case .interrupted: return "interrupted"
        case .tooLarge(let r, let q, let b, let l):
            return "run \(r), SIP message seq \(q): \(b) bytes do not fit one UDP datagram (at most \(l)); export it as jsonl instead"
        case .cannotWrite(let p): return "cannot write \(p)"
        case .noSuchRun(let r): return "no run \(r) in the database"
        case .needsOutput(let why): return why
        }
    }
}
