import Store
import Trace

extension Exporter {
    /// Simulated time zero of the first run in a pcap: 2026-01-01T00:00:00Z.
    public static let pcapEpoch: Int64 = 1_767_225_600

    /// Where each run starts in a pcap of several runs (seconds after `pcapEpoch`): the first at
    /// 0, each next one at the first midnight after the previous run ended (at least one day
    /// later), so runs never overlap and each starts on its own day.
    public func pcapOffsets() throws -> [Int64: Int64] {
        var out: [Int64: Int64] = [:]
        var next: Int64 = 0
        for run in runs {
            out[run] = next
            let end = try db.scalarInt("SELECT max(coalesce((SELECT ended_at_us FROM run WHERE run_id = ?), 0), coalesce((SELECT max(at_us) FROM sip_message WHERE run_id = ?), 0))",
                                       [.int(run), .int(run)]) ?? 0
            next += (end / 1_000_000 / 86_400 + 1) * 86_400
        }
        return out
    }

    /// The datagram of a message, its Call-ID made unique across runs: `r<run>-` before its
    /// value. Lines are found on bytes (CRLF); up to the
    /// first empty line, a line `Call-ID:` or `i:` (any case) with something after the colon gets
    /// `r<run>-` before its value, the spaces after the colon becoming one. The rest is copied as
    /// it is. A message with a non-ASCII header line takes the character-by-character path (a
    /// combining mark after the colon belongs to it there, so the name does not match).
    static func runScopedCallIDBytes(_ raw: String, run: Int64) -> [UInt8] {
        var raw = raw
        return raw.withUTF8 { b -> [UInt8] in
            var out: [UInt8] = []
            out.reserveCapacity(b.count + 24)
            let prefix = Array("r\(run)-".utf8)
            var i = 0
            while true {
                // The line [i, j); CRLF follows unless j is the end.
                var j = i
                while j < b.count && !(b[j] == 0x0D && j + 1 < b.count && b[j + 1] == 0x0A) { j += 1 }
                if j == i {
                    // The empty line ends the headers: the rest goes as it is.
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: b[i...]))
                    return out
                }
                let line = UnsafeBufferPointer(rebasing: b[i..<j])
                if line.contains(where: { $0 >= 0x80 }) {
                    return Array(runScopedCallIDByCharacters(String(decoding: b, as: UTF8.self), run: run).utf8)
                }
                let name = callIDNameLength(line)
                if name > 0 {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: line[0..<name]))
                    out.append(0x20)
                    out.append(contentsOf: prefix)
                    var v = name
                    while v < line.count && line[v] == 0x20 { v += 1 }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: line[v...]))
                } else {
                    out.append(contentsOf: line)
                }
                if j == b.count { return out }
                out.append(0x0D); out.append(0x0A)
                i = j + 2
            }
        }
    }

    /// The length of `Call-ID:` or `i:` (any case) at the start of the line when
    /// something follows the colon; 0 otherwise.
    private static func callIDNameLength(_ line: UnsafeBufferPointer<UInt8>) -> Int {
        // The name's length when the line starts with it (lower-case name, ASCII case folded).
        func match(_ name: StaticString) -> Int {
            let n = name.utf8CodeUnitCount
            guard line.count > n else { return 0 }
            let p = name.utf8Start
            for k in 0..<n where (line[k] | (line[k] >= 0x41 && line[k] <= 0x5A ? 0x20 : 0)) != p[k] { return 0 }
            return n
        }
        let long = match("call-id:")
        return long > 0 ? long : match("i:")
    }

    /// The character-by-character form of `runScopedCallIDBytes` (headers with non-ASCII text).
    static func runScopedCallIDByCharacters(_ raw: String, run: Int64) -> String {
        var lines = raw.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        for i in lines.indices {
            if lines[i].isEmpty { break } // end of headers
            let l = lines[i]
            for name in ["Call-ID:", "i:"] where l.count > name.count && l.prefix(name.count).lowercased() == name.lowercased() {
                let value = l.dropFirst(name.count).drop { $0 == " " }
                lines[i] = "\(l.prefix(name.count)) r\(run)-\(value)"
            }
        }
        return lines.joined(separator: "\r\n")
    }

    /// Every SIP message as a UDP/IPv4 packet in a classic pcap file (LINKTYPE_RAW: packets start
    /// with the IPv4 header). Timestamps are `pcapEpoch` + the run's offset (`pcapOffsets`) +
    /// simulated time (microseconds); Call-IDs carry `r<run>-` so they are unique across runs. IPv4
    /// header checksums and UDP checksums are computed. Messages the network dropped are included
    /// unless `delivered only`; TCP- and TLS-transport messages are written (in clear) as UDP datagrams too, so every
    /// message decodes on its own.
    public func pcap(to out: OutputFile, deliveredOnly: Bool) throws {
        var header: [UInt8] = []
        header.le32(0xa1b2_c3d4)  // magic, microsecond timestamps
        header.le16(2); header.le16(4)  // version 2.4
        header.le32(0)  // thiszone
        header.le32(0)  // sigfigs
        header.le32(262_144)  // snaplen
        header.le32(101)  // LINKTYPE_RAW
        out.write(bytes: header)
        var ident: UInt16 = 0
        let offsets = try pcapOffsets()
        for run in runs {
            let offsetUs = (offsets[run] ?? 0) * 1_000_000
            let s = try db.prepare("SELECT m.at_us, m.src, m.dst, \(TraceStore.rawSQL), m.delivered, m.seq FROM sip_message m WHERE m.run_id = ? ORDER BY m.seq")
            s.bind(1, run)
            while try s.step() {
                if shouldStop() { throw ExportError.interrupted }
                if deliveredOnly && s.int(4) == 0 { continue }
                guard let (srcIP, srcPort) = Exporter.endpoint(s.text(1) ?? ""), let (dstIP, dstPort) = Exporter.endpoint(s.text(2) ?? "") else { continue }
                let payload = Exporter.runScopedCallIDBytes(s.text(3) ?? "", run: run)
                // One UDP datagram carries at most 65,507 bytes over IPv4 (65,527 over IPv6).
                let limit = srcIP.count == 4 ? 65_507 : 65_527
                guard payload.count <= limit else { throw ExportError.tooLarge(run: run, seq: s.int(5), bytes: payload.count, limit: limit) }
                ident &+= 1
                let packet: [UInt8]
                if srcIP.count == 4 && dstIP.count == 4 {
                    packet = Exporter.ipv4UDP(src: srcIP, dst: dstIP, srcPort: srcPort, dstPort: dstPort, payload: payload, ident: ident)
                } else if srcIP.count == 16 && dstIP.count == 16 {
                    packet = Exporter.ipv6UDP(src: srcIP, dst: dstIP, srcPort: srcPort, dstPort: dstPort, payload: payload)
                } else {
                    continue // mixed families cannot be one packet
                }
                let us = Exporter.pcapEpoch * 1_000_000 + offsetUs + s.int(0)
                var rec: [UInt8] = []
                rec.reserveCapacity(16 + packet.count)
                rec.le32(UInt32(us / 1_000_000)); rec.le32(UInt32(us % 1_000_000))
                rec.le32(UInt32(packet.count)); rec.le32(UInt32(packet.count))
                rec.append(contentsOf: packet)
                out.write(bytes: rec)
            }
        }
    }

    /// Parses `a.b.c.d:port` (4 bytes) or `[v6]:port` (16 bytes).
    static func endpoint(_ s: String) -> ([UInt8], UInt16)? {
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            let ip = String(s[s.index(after: s.startIndex)..<close])
            guard let port = UInt16(s[s.index(after: close)...].dropFirst()), let bytes = ipv6Bytes(ip) else { return nil }
            return (bytes, port)
        }
        let parts = s.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        let octets = parts[0].split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        return (octets, port)
    }

    /// The 16 bytes of an IPv6 address in text form (with at most one `::`).
    static func ipv6Bytes(_ s: String) -> [UInt8]? {
        let halves = s.splitting(on: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ t: String) -> [UInt16]? {
            var out: [UInt16] = []
            for g in t.split(separator: ":") {
                guard g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        guard let tail = halves.count == 2 ? groups(halves[1]) : [] else { return nil }
        let fill = 8 - head.count - tail.count
        guard fill >= 0, halves.count == 2 || fill == 0 else { return nil }
        let all = head + Array(repeating: 0, count: fill) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    /// An IPv6 header (40 bytes, hop limit 64) and a UDP header with its mandatory checksum.
    static func ipv6UDP(src: [UInt8], dst: [UInt8], srcPort: UInt16, dstPort: UInt16, payload: [UInt8]) -> [UInt8] {
        let udpLen = 8 + payload.count
        var ip: [UInt8] = [0x60, 0, 0, 0]
        ip.be16(UInt16(udpLen)); ip.append(17); ip.append(64)
        ip.append(contentsOf: src); ip.append(contentsOf: dst)
        var udp: [UInt8] = []
        udp.be16(srcPort); udp.be16(dstPort); udp.be16(UInt16(udpLen)); udp.be16(0)
        var pseudo: [UInt8] = src + dst + [0, 0]
        pseudo.be16(UInt16(udpLen))
        pseudo += [0, 0, 0, 17]
        var sum = checksum(pseudo + udp + payload)
        if sum == 0 { sum = 0xffff }
        udp[6] = UInt8(sum >> 8); udp[7] = UInt8(sum & 0xff)
        return ip + udp + payload
    }

    /// An IPv4 header (20 bytes, DF, TTL 64) and a UDP header with its checksum, then the payload.
    static func ipv4UDP(src: [UInt8], dst: [UInt8], srcPort: UInt16, dstPort: UInt16, payload: [UInt8], ident: UInt16) -> [UInt8] {
        let udpLen = 8 + payload.count
        let total = 20 + udpLen
        var ip: [UInt8] = [0x45, 0x00]
        ip.be16(UInt16(total)); ip.be16(ident); ip.be16(0x4000)
        ip.append(64); ip.append(17)
        ip.be16(0)  // checksum placeholder
        ip.append(contentsOf: src); ip.append(contentsOf: dst)
        let ipSum = checksum(ip)
        ip[10] = UInt8(ipSum >> 8); ip[11] = UInt8(ipSum & 0xff)
        var udp: [UInt8] = []
        udp.be16(srcPort); udp.be16(dstPort); udp.be16(UInt16(udpLen)); udp.be16(0)
        // UDP checksum over the pseudo-header, the UDP header and the payload (RFC 768).
        var pseudo: [UInt8] = src + dst + [0, 17]
        pseudo.be16(UInt16(udpLen))
        var sum = checksum(pseudo + udp + payload)
        if sum == 0 { sum = 0xffff }
        udp[6] = UInt8(sum >> 8); udp[7] = UInt8(sum & 0xff)
        return ip + udp + payload
    }

    /// The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit words.
    public static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

extension Array where Element == UInt8 {
    mutating func le16(_ v: UInt16) { append(UInt8(v & 0xff)); append(UInt8(v >> 8)) }
    mutating func le32(_ v: UInt32) { for k in 0..<4 { append(UInt8((v >> (8 * UInt32(k))) & 0xff)) } }
    mutating func be16(_ v: UInt16) { append(UInt8(v >> 8)); append(UInt8(v & 0xff)) }
}
