#if canImport(Glibc)
import Glibc
#endif
import SIP

/// One remote (or local) SIP address: an IP literal and a port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var ip: String
    public var port: Int
    public init(ip: String, port: Int) { self.ip = ip; self.port = port }
    public var description: String { hostPort(ip, port) }
}

/// What the transport heard since the last poll.
public enum TransportEvent: Sendable {
    /// One SIP message's bytes (a datagram, or one message cut out of a TCP stream).
    case received(bytes: [UInt8], from: Endpoint, transport: Transport)
    /// ICMP port or host unreachable for what was sent to this address (UDP, via IP_RECVERR),
    /// or a TCP connection refused or reset: RFC 3261 §18.4 treats it as a transport error.
    case unreachable(Endpoint, transport: Transport, reason: String)
}

/// Live mode's transport: the C socket API behind a small type (docs/architecture.md says why
/// not SwiftNIO). One UDP socket bound to the card's local address, and one TCP connection per
/// remote address for `transport: tcp`, all non-blocking and polled by one thread. The cores never
/// see it: the live driver hands them what arrives and puts on the wire what they return.
public final class SocketTransport {
    public let local: Endpoint
    private let udp: Int32
    private var tcp: [Endpoint: TCPConnection] = [:]
    /// Addresses the scenario names: nothing is ever sent anywhere else (docs/live.md, safety).
    public private(set) var allowedIPs: Set<String> = []
    /// Whether addresses that are neither loopback nor private may be learnt (`--yes`).
    public var allowPublic = false
    /// Addresses the system resolver gave that were not learnt (public, without `--yes`).
    public private(set) var refusedIPs: [String] = []

    public func allowed(_ ip: String) -> Bool { allowedIPs.contains(ip) }

    /// Adds an address the scenario names (directly, or through its DNS names).
    public func learn(_ ip: String) {
        if allowedIPs.contains(ip) { return }
        if AddressScope.of(ip).isLocal || allowPublic { allowedIPs.insert(ip) }
        else if !refusedIPs.contains(ip) { refusedIPs.append(ip) }
    }

    final class TCPConnection {
        let fd: Int32
        var connected = false
        var pending: [UInt8] = []
        var inbox: [UInt8] = []
        init(fd: Int32) { self.fd = fd }
    }

    public struct SocketError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds the UDP socket to `local` (an IPv4 or IPv6 literal; port 0 lets the kernel choose).
    public init(local: Endpoint) throws {
        let v6 = local.ip.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(description: "cannot open a UDP socket: \(SocketTransport.errorText(errno))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        // ICMP errors for what we sent come back on the error queue (Linux IP_RECVERR).
        if v6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_RECVERR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        else { setsockopt(fd, Int32(IPPROTO_IP), IP_RECVERR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        guard var addr = SocketTransport.address(for: local) else {
            close(fd); throw SocketError(description: "'\(local.ip)' is not an IP address")
        }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let why = SocketTransport.errorText(errno)
            close(fd)
            throw SocketError(description: "cannot bind UDP \(local): \(why) (another program on that port? choose one with --local IP:PORT)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        udp = fd
        var bound = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.local = SocketTransport.endpoint(of: bound) ?? local
    }

    deinit {
        close(udp)
        for c in tcp.values { close(c.fd) }
    }

    /// Sends one message. Returns nil when it left, else why not (the address is not one the
    /// scenario names, or the kernel refused at once).
    public func send(_ bytes: [UInt8], to remote: Endpoint, transport: Transport) -> String? {
        guard allowed(remote.ip) else {
            return refusedIPs.contains(remote.ip) ? "not sent: \(remote.ip) is a public address (start with --yes to allow it)"
                : "not sent: \(remote.ip) is not an address the scenario names"
        }
        switch transport {
        case .udp:
            guard var addr = SocketTransport.address(for: remote) else { return "'\(remote.ip)' is not an IP address" }
            let len = socklen_t(remote.ip.contains(":") ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
            let n = bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &addr) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, b.baseAddress, b.count, 0, $0, len) }
                }
            }
            if n < 0 { return SocketTransport.errorText(errno) }
            return nil
        case .tcp, .tls:
            if transport == .tls { return "live mode speaks UDP and TCP, not TLS" }
            let c: TCPConnection
            if let existing = tcp[remote] { c = existing } else {
                guard let made = connectTCP(remote) else { return "cannot open a TCP socket: \(SocketTransport.errorText(errno))" }
                c = made
                tcp[remote] = c
            }
            c.pending += bytes
            flush(c)
            return nil
        }
    }

    private func connectTCP(_ remote: Endpoint) -> TCPConnection? {
        let v6 = remote.ip.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, var addr = SocketTransport.address(for: remote) else { return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let len = socklen_t(v6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        let c = TCPConnection(fd: fd)
        c.connected = rc == 0
        return c
    }

    private func flush(_ c: TCPConnection) {
        guard c.connected, !c.pending.isEmpty else { return }
        let n = c.pending.withUnsafeBytes { Glibc.send(c.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n > 0 { c.pending.removeFirst(n) }
    }

    /// Waits up to `timeoutMs` for traffic and returns what came.
    public func poll(timeoutMs: Int32) -> [TransportEvent] {
        var fds = [pollfd(fd: udp, events: Int16(POLLIN), revents: 0)]
        let conns = Array(tcp)
        for (_, c) in conns {
            var ev = Int16(POLLIN)
            if !c.connected || !c.pending.isEmpty { ev |= Int16(POLLOUT) }
            fds.append(pollfd(fd: c.fd, events: ev, revents: 0))
        }
        let n = Glibc.poll(&fds, nfds_t(fds.count), timeoutMs)
        guard n > 0 else { return [] }
        var out: [TransportEvent] = []
        if fds[0].revents & Int16(POLLERR) != 0 { out += readErrorQueue() }
        if fds[0].revents & Int16(POLLIN) != 0 { out += readUDP() }
        for (i, (remote, c)) in conns.enumerated() {
            let re = fds[i + 1].revents
            if re == 0 { continue }
            if !c.connected, re & Int16(POLLOUT | POLLERR | POLLHUP) != 0 {
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len)
                if err != 0 {
                    out.append(.unreachable(remote, transport: .tcp, reason: "TCP connect: \(SocketTransport.errorText(err))"))
                    close(c.fd); tcp[remote] = nil
                    continue
                }
                c.connected = true
            }
            flush(c)
            if re & Int16(POLLIN) != 0 {
                var buf = [UInt8](repeating: 0, count: 65536)
                let k = buf.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
                if k > 0 {
                    c.inbox += buf[0..<k]
                    while let msg = SocketTransport.cutMessage(&c.inbox) { out.append(.received(bytes: msg, from: remote, transport: .tcp)) }
                } else if k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                    out.append(.unreachable(remote, transport: .tcp, reason: k == 0 ? "TCP connection closed by the peer" : "TCP: \(SocketTransport.errorText(errno))"))
                    close(c.fd); tcp[remote] = nil
                }
            }
        }
        return out
    }

    private func readUDP() -> [TransportEvent] {
        var out: [TransportEvent] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            var from = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let k = buf.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &from) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, b.baseAddress, b.count, 0, $0, &len) }
                }
            }
            if k < 0 {
                if errno == ECONNREFUSED || errno == EHOSTUNREACH { out += readErrorQueue(); continue }
                break
            }
            guard let ep = SocketTransport.endpoint(of: from) else { continue }
            out.append(.received(bytes: Array(buf[0..<k]), from: ep, transport: .udp))
        }
        return out
    }

    /// ICMP errors queued for the UDP socket: each names the address the failed datagram went to.
    private func readErrorQueue() -> [TransportEvent] {
        var out: [TransportEvent] = []
        var data = [UInt8](repeating: 0, count: 2048)
        var control = [UInt8](repeating: 0, count: 512)
        while true {
            var name = sockaddr_storage()
            let k: Int = data.withUnsafeMutableBytes { d in
                control.withUnsafeMutableBytes { c in
                    withUnsafeMutablePointer(to: &name) { np in
                        var iov = iovec(iov_base: d.baseAddress, iov_len: d.count)
                        return withUnsafeMutablePointer(to: &iov) { iovp in
                            var msg = msghdr()
                            msg.msg_name = UnsafeMutableRawPointer(np)
                            msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                            msg.msg_iov = iovp
                            msg.msg_iovlen = 1
                            msg.msg_control = c.baseAddress
                            msg.msg_controllen = c.count
                            return recvmsg(udp, &msg, Int32(MSG_ERRQUEUE))
                        }
                    }
                }
            }
            if k < 0 { break }
            if let ep = SocketTransport.endpoint(of: name) {
                out.append(.unreachable(ep, transport: .udp, reason: "ICMP unreachable"))
            }
        }
        return out
    }

    /// Cuts one whole SIP message (headers and Content-Length bytes of body) off a TCP stream.
    public static func cutMessage(_ inbox: inout [UInt8]) -> [UInt8]? {
        // Leading CRLFs are keep-alives (RFC 5626 §3.5.1).
        while inbox.first == 0x0D || inbox.first == 0x0A { inbox.removeFirst() }
        guard inbox.count >= 4 else { return nil }
        var end = -1
        for i in 0...(inbox.count - 4) where inbox[i] == 0x0D && inbox[i + 1] == 0x0A && inbox[i + 2] == 0x0D && inbox[i + 3] == 0x0A {
            end = i + 4; break
        }
        guard end > 0 else { return nil }
        let head = String(decoding: inbox[0..<end], as: UTF8.self)
        var length = 0
        for line in head.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = trim(parts[0]).lowercased()
            if name == "content-length" || name == "l" { length = Int(trim(parts[1])) ?? 0 }
        }
        guard inbox.count >= end + length else { return nil }
        let msg = Array(inbox[0..<(end + length)])
        inbox.removeFirst(end + length)
        return msg
    }

    static func errorText(_ code: Int32) -> String {
        guard let p = strerror(code) else { return "error \(code)" }
        return String(validatingCString: p) ?? "error \(code)"
    }

    static func trim(_ s: Substring) -> String {
        String(s.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    static func address(for ep: Endpoint) -> sockaddr_storage? {
        var storage = sockaddr_storage()
        if ep.ip.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(ep.port).bigEndian)
            guard inet_pton(AF_INET6, ep.ip, &a.sin6_addr) == 1 else { return nil }
            withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee = a } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(ep.port).bigEndian)
            guard inet_pton(AF_INET, ep.ip, &a.sin_addr) == 1 else { return nil }
            withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee = a } }
        }
        return storage
    }

    static func endpoint(of s: sockaddr_storage) -> Endpoint? {
        var s = s
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if Int32(s.ss_family) == AF_INET {
            return withUnsafePointer(to: &s) { p in
                p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a -> Endpoint? in
                    var addr = a.pointee.sin_addr
                    guard inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
                    return Endpoint(ip: String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: Int(UInt16(bigEndian: a.pointee.sin_port)))
                }
            }
        }
        if Int32(s.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &s) { p in
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a -> Endpoint? in
                    var addr = a.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count)) != nil else { return nil }
                    return Endpoint(ip: String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: Int(UInt16(bigEndian: a.pointee.sin6_port)))
                }
            }
        }
        return nil
    }
}

/// Monotonic nanoseconds since the clock was made: the live driver's "now" in place of virtual time.
public struct MonotonicClock: Sendable {
    private let origin: Int64
    public init() { origin = MonotonicClock.raw() }
    public var now: Int64 { MonotonicClock.raw() - origin }
    static func raw() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
