/// Writes UTF-8 into a String allocated at exactly its final size, each piece copied once: how
/// the messages, their headers and `ip:port` texts are built (`concat`, `SIPMessage.encoded`,
/// `hostPort`), each in the closure of `String(unsafeUninitializedCapacity:initializingUTF8With:)`.
///
/// A string interpolation or `+` grows its buffer as it goes (an `append` cost about 460
/// instructions, and an INVITE took 22 of them): every message a call sends is built from such
/// pieces (issue 11's profile).
struct ExactUTF8Writer {
    private let base: UnsafeMutablePointer<UInt8>
    private let size: Int
    private(set) var count = 0

    /// A writer into the buffer of `String(unsafeUninitializedCapacity:initializingUTF8With:)`,
    /// whose closure returns `count`.
    @inline(__always) init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress!
        size = buffer.count
    }

    /// Stops the program if `n` more bytes would pass the size measured: a bug, never an overrun.
    @inline(__always) private func fits(_ n: Int) {
        precondition(count + n <= size, "ExactUTF8Writer: more than the \(size) bytes measured")
    }

    @inline(__always) mutating func put(_ piece: String) {
        // In place when the text is contiguous UTF-8 (every native string); a copy otherwise.
        if piece.utf8.withContiguousStorageIfAvailable({ put(bytes: $0) }) == nil {
            var copy = piece
            copy.withUTF8 { put(bytes: $0) }
        }
    }

    @inline(__always) mutating func put(bytes src: UnsafeBufferPointer<UInt8>) {
        guard let from = src.baseAddress, src.count > 0 else { return }
        fits(src.count)
        (base + count).update(from: from, count: src.count)
        count += src.count
    }

    @inline(__always) mutating func put(byte: UInt8) {
        fits(1)
        base[count] = byte
        count += 1
    }

    /// The decimal digits of `n` (not negative), which take `digits` bytes (`decimalDigits(n)`).
    @inline(__always) mutating func put(decimal n: Int, digits: Int) {
        fits(digits)
        var q = n, i = count + digits - 1
        repeat { base[i] = UInt8(ascii: "0") + UInt8(q % 10); q /= 10; i -= 1 } while q > 0
        count += digits
    }

    /// How many decimal digits `n` (not negative) has.
    static func decimalDigits(_ n: Int) -> Int {
        var digits = 1, p = n
        while p >= 10 { digits += 1; p /= 10 }
        return digits
    }
}

/// Joins strings into one String allocated at exactly their total size. The same as
/// `parts.joined()`.
public func concat(_ parts: String...) -> String {
    var total = 0
    for p in parts { total += p.utf8.count }
    // Up to 15 bytes a String is stored inline, without an allocation to save.
    if total <= 15 { return parts.joined() }
    return String(unsafeUninitializedCapacity: total) { buf in
        var w = ExactUTF8Writer(buf)
        for p in parts { w.put(p) }
        return w.count
    }
}
