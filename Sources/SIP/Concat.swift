/// Writes UTF-8 into a String of exactly its final size, each piece copied once: how the
/// messages, their headers, `ip:port` texts, branches and tags are built (`concat`,
/// `SIPMessage.encoded`, `hostPort`, `hexTagged`), each through `String(utf8Count:)`.
///
/// A string interpolation or `+` grows its buffer as it goes (an `append` cost about 460
/// instructions, and an INVITE took 22 of them): every message a call sends is built from such
/// pieces (issue 11's profile).
@usableFromInline struct ExactUTF8Writer {
    @usableFromInline let base: UnsafeMutablePointer<UInt8>
    @usableFromInline let size: Int
    @usableFromInline var count = 0

    /// A writer into a buffer of the size measured (`String(utf8Count:)` makes one).
    @inlinable @inline(__always) init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress!
        size = buffer.count
    }

    /// Stops the program if `n` more bytes would pass the size measured: a bug, never an overrun.
    @inlinable @inline(__always) func fits(_ n: Int) {
        precondition(count + n <= size, "ExactUTF8Writer: more than the \(size) bytes measured")
    }

    @inlinable @inline(__always) mutating func put(_ piece: String) {
        // In place when the text is contiguous UTF-8 (every native string); a copy otherwise.
        if piece.utf8.withContiguousStorageIfAvailable({ put(bytes: $0) }) == nil {
            var copy = piece
            copy.withUTF8 { put(bytes: $0) }
        }
    }

    @inlinable @inline(__always) mutating func put(bytes src: UnsafeBufferPointer<UInt8>) {
        guard let from = src.baseAddress, src.count > 0 else { return }
        fits(src.count)
        (base + count).update(from: from, count: src.count)
        count += src.count
    }

    @inlinable @inline(__always) mutating func put(byte: UInt8) {
        fits(1)
        base[count] = byte
        count += 1
    }

    /// The decimal digits of `n` (not negative), which take `digits` bytes (`decimalDigits(n)`).
    @inlinable @inline(__always) mutating func put(decimal n: Int, digits: Int) {
        fits(digits)
        var q = n, i = count + digits - 1
        repeat { base[i] = UInt8(ascii: "0") + UInt8(q % 10); q /= 10; i -= 1 } while q > 0
        count += digits
    }

    /// The lower-case hexadecimal digits of `n`, which take `digits` bytes (`hexDigits(n)`).
    @inlinable @inline(__always) mutating func put(hex n: UInt64, digits: Int) {
        fits(digits)
        var q = n, i = count + digits - 1
        repeat {
            let d = UInt8(q & 15)
            base[i] = d < 10 ? UInt8(ascii: "0") + d : UInt8(ascii: "a") + d - 10
            q >>= 4; i -= 1
        } while q > 0
        count += digits
    }

    /// How many hexadecimal digits `n` has.
    @inlinable static func hexDigits(_ n: UInt64) -> Int { n == 0 ? 1 : (64 - n.leadingZeroBitCount + 3) / 4 }

    /// How many decimal digits `n` (not negative) has.
    @inlinable static func decimalDigits(_ n: Int) -> Int {
        var digits = 1, p = n
        while p >= 10 { digits += 1; p /= 10 }
        return digits
    }
}

/// Joins strings into one String allocated at exactly their total size. The same as
/// `parts.joined()`. Inlinable, so that the list of parts a caller writes out stays on its stack
/// instead of being allocated for each call.
@inlinable public func concat(_ parts: String...) -> String {
    var total = 0
    for p in parts { total += p.utf8.count }
    return String(utf8Count: total) { w in for p in parts { w.put(p) } }
}

/// `prefix` followed by `n` in lower-case hexadecimal: the model's branches, tags and tokens
/// (`z9hG4bK-1f`), the same as `prefix + String(n, radix: 16)`.
@inlinable public func hexTagged(_ prefix: String, _ n: UInt64) -> String {
    let digits = ExactUTF8Writer.hexDigits(n)
    return String(utf8Count: prefix.utf8.count + digits) { w in
        w.put(prefix)
        w.put(hex: n, digits: digits)
    }
}

/// `n` (not negative) in decimal, with leading zeros up to `width` digits: the numbers a
/// traffic source dials from a range (`zeroPaddedDecimal(1_299_990_000, width: 11)` is
/// "01299990000"). The same as padding `String(n)` on the left with "0".
@inlinable public func zeroPaddedDecimal(_ n: Int, width: Int) -> String {
    precondition(n >= 0, "zeroPaddedDecimal: negative \(n)")
    let digits = ExactUTF8Writer.decimalDigits(n)
    let count = max(digits, width)
    return String(utf8Count: count) { w in
        for _ in 0..<(count - digits) { w.put(byte: UInt8(ascii: "0")) }
        w.put(decimal: n, digits: digits)
    }
}

extension String {
    /// A string of `count` UTF-8 bytes that `write` puts, in order, through an exact-size writer:
    /// up to 15 bytes on the stack and stored inline (no allocation), longer ones written into
    /// the new string's own buffer.
    @inlinable init(utf8Count count: Int, _ write: (inout ExactUTF8Writer) -> Void) {
        if count <= 15 {
            self = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { buf in
                var w = ExactUTF8Writer(UnsafeMutableBufferPointer(rebasing: buf[0..<count]))
                write(&w)
                return String(decoding: UnsafeBufferPointer(rebasing: buf[0..<w.count]), as: UTF8.self)
            }
        } else {
            self.init(unsafeUninitializedCapacity: count) { buf in
                var w = ExactUTF8Writer(buf)
                write(&w)
                return w.count
            }
        }
    }
}
