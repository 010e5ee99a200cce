import Foundation
import Live
import Scenario
import Testing
import TestSupport
import Trace

/// The package root, found from this file's path.
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A lab of real SIP peers on loopback addresses for one test: SIPp user agents, a Kamailio
/// registrar, and silent sockets (a process that reads and answers nothing), each stopped when
/// the lab ends.
final class LiveLab {
    let dir: URL
    private var pids: [pid_t] = []

    init(_ name: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("pbxsim-live-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { stop() }

    /// Kills every peer with its whole process group (Kamailio's children too) and reaps it.
    func stop() {
        for pid in pids {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        pids.removeAll()
    }

    /// Runs a program to its end; its status and output (stdout and stderr).
    func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        try Spawn.run(path, args, scratch: dir.path)
    }

    /// Where a tool is, or nil. Absent tools skip the live tests on a developer's machine; in CI
    /// (`CI` set) an absent tool is a failure, never a skip.
    static func tool(_ name: String) -> String? { Spawn.tool(name) }

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// True when every tool is there; otherwise records why the test does nothing (a failure in CI).
    static func require(_ tools: [String]) -> Bool {
        let missing = tools.filter { tool($0) == nil }
        if missing.isEmpty { return true }
        if inCI {
            Issue.record("live tests need \(missing.joined(separator: ", ")) (Debian: sip-tester, kamailio, python3); .ci/run installs them")
        } else {
            print("skipped: live tests need \(missing.joined(separator: ", ")) (apt-get install sip-tester kamailio python3)")
        }
        return false
    }

    func start(_ path: String, _ args: [String], log: String) throws {
        pids.append(try Spawn.start(path, args, output: dir.appendingPathComponent(log).path))
    }

    /// Waits until something listens on UDP (or TCP) ip:port: binding there fails.
    func waitListening(_ ip: String, _ port: Int, tcp: Bool = false) throws {
        for _ in 0..<100 {
            let fd = socket(AF_INET, Int32(tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, ip, &a.sin_addr)
            let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
            if rc != 0 { return }
            usleep(50_000)
        }
        throw LabError(description: "nothing listens on \(ip):\(port) after 5 s; see \(dir.path)")
    }

    struct LabError: Error, CustomStringConvertible { var description: String }

    /// A socket that reads every datagram and answers nothing; it logs each arrival's instant
    /// (seconds, monotonic) and first line to `log`.
    func silent(_ ip: String, log: String) throws {
        let script = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], 5060))
        out = open(sys.argv[2], "w", buffering=1)
        while True:
            d, a = s.recvfrom(65535)
            out.write("%.6f %s\\n" % (time.monotonic(), d.split(b"\\r\\n")[0].decode()))
        """
        try start(LiveLab.tool("python3")!, ["-c", script, ip, dir.appendingPathComponent(log).path], log: log + ".stderr")
        try waitListening(ip, 5060)
    }

    /// A DNS server (UDP, RFC 1035 wire format) on ip:port: SRV records `name -> [(priority, weight,
    /// port, target)]` and A records `name -> [ip]`; anything else NXDOMAIN. It logs each question.
    func dns(_ ip: String, port: Int, srv: [String: [(Int, Int, Int, String)]], a: [String: [String]]) throws {
        let srvText = srv.map { k, v in "\"\(k)\": [" + v.map { "(\($0.0), \($0.1), \($0.2), \"\($0.3)\")" }.joined(separator: ", ") + "]" }.joined(separator: ", ")
        let aText = a.map { k, v in "\"\(k)\": [" + v.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }.joined(separator: ", ")
        let script = """
        import socket, struct, sys
        SRV = {\(srvText)}
        A = {\(aText)}
        def enc(name):
            return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\\0"
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], int(sys.argv[2])))
        log = open(sys.argv[3], "w", buffering=1)
        while True:
            q, addr = s.recvfrom(512)
            qid, flags = struct.unpack(">HH", q[:4])
            i, labels = 12, []
            while q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
            name = ".".join(labels).lower(); qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
            question = q[12:i + 5]
            log.write("%s %d\\n" % (name, qtype))
            answers, extra = [], []
            if qtype == 33 and name in SRV:
                for (pr, w, port, target) in SRV[name]:
                    rd = struct.pack(">HHH", pr, w, port) + enc(target)
                    answers.append(b"\\xc0\\x0c" + struct.pack(">HHIH", 33, 1, 60, len(rd)) + rd)
                    for ip in A.get(target, []):
                        extra.append(enc(target) + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip))
            elif qtype == 1 and name in A:
                for ip in A[name]:
                    answers.append(b"\\xc0\\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip))
            known = name in SRV or name in A
            rcode = 0 if known or answers else 3
            head = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, len(extra))
            s.sendto(head + question + b"".join(answers) + b"".join(extra), addr)
        """
        try start(LiveLab.tool("python3")!, ["-c", script, ip, String(port), dir.appendingPathComponent("dns.log").path], log: "dns.stderr")
        try waitListening(ip, port)
    }

    /// SIPp as a UAS answering every INVITE with 503 and Retry-After.
    func sipp503(_ ip: String, retryAfter: Int) throws {
        let shipped = try String(contentsOf: packageRoot.appendingPathComponent("scripts/live-lab/503.xml"), encoding: .utf8)
        let xml = shipped.replacingOccurrences(of: "Retry-After: 120", with: "Retry-After: \(retryAfter)")
        let f = dir.appendingPathComponent("503.xml")
        try xml.write(to: f, atomically: true, encoding: .utf8)
        try start(LiveLab.tool("sipp")!, ["-sf", f.path, "-i", ip, "-p", "5060", "-nostdin"], log: "sipp-503-\(ip).log")
        try waitListening(ip, 5060)
    }

    /// SIPp's built-in UAS: 180, 200 with a Contact, then takes the ACK and the BYE.
    func sippUAS(_ ip: String, tcp: Bool = false) throws {
        try start(LiveLab.tool("sipp")!, ["-sn", "uas", "-i", ip, "-p", "5060", "-nostdin"] + (tcp ? ["-t", "t1"] : []),
                  log: "sipp-uas-\(ip).log")
        try waitListening(ip, 5060, tcp: tcp)
    }

    /// Kamailio as a registrar (usrloc in memory) that answers anything else 503.
    func kamailio(_ ip: String) throws {
        let shipped = try String(contentsOf: packageRoot.appendingPathComponent("scripts/live-lab/kamailio.cfg"), encoding: .utf8)
        let cfg = shipped.replacingOccurrences(of: "listen=udp:127.0.0.20:5060", with: "listen=udp:\(ip):5060")
        let f = dir.appendingPathComponent("kamailio.cfg")
        try cfg.write(to: f, atomically: true, encoding: .utf8)
        try start(LiveLab.tool("kamailio")!, ["-f", f.path, "-DD", "-E", "-w", dir.path, "-P", dir.appendingPathComponent("kamailio.pid").path],
                  log: "kamailio.log")
        try waitListening(ip, 5060)
    }

    /// Arrival instants (seconds since the first) and first lines a silent socket logged.
    func arrivals(_ log: String) -> [(t: Double, line: String)] {
        let text = (try? String(contentsOf: dir.appendingPathComponent(log), encoding: .utf8)) ?? ""
        let rows = text.split(separator: "\n").compactMap { l -> (Double, String)? in
            let parts = l.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let t = Double(parts[0]) else { return nil }
            return (t, String(parts[1]))
        }
        guard let t0 = rows.first?.0 else { return [] }
        return rows.map { ($0.0 - t0, $0.1) }
    }

    func write(_ name: String, _ text: String) throws -> String {
        let f = dir.appendingPathComponent(name)
        try text.write(to: f, atomically: true, encoding: .utf8)
        return f.path
    }
}

/// A lab scenario on the loopback network `127.0.N.0/24`: the card at .1, sip1 .11, sip2 .12 (its
/// failover address), sip3 .13 (the DNS name's second SRV target), the registrar at .20.
func labScenario(net n: Int, respond1: String, respond2: String, respond3: String, registrar: Bool, timeline: [String],
                 transport: String = "udp", extraCard: String = "") -> String {
    let b = "127.0.\(n)"
    return """
    name: live-lab-\(n)
    seed: 7
    network:
      latency: 0ms
      hosts:
        pbx1.lab.example: \(b).1
        sip1.lab.example: \(b).11
        sip2.lab.example: \(b).12
        sip3.lab.example: \(b).13
        registrar.lab.example: \(b).20
        dns.lab.example: \(b).53
    dns:
      server: dns.lab.example
      records:
        lab.example:
          ttl: 300s
          srv:
            - {priority: 10, weight: 0, port: 5060, target: sip1.lab.example}
            - {priority: 20, weight: 0, port: 5060, target: sip3.lab.example}
    sip_servers:
      - {host: sip1.lab.example, domain: lab.example, respond: \(respond1)}
      - {host: sip2.lab.example, domain: lab.example, respond: \(respond2)}
      - {host: sip3.lab.example, domain: lab.example, respond: \(respond3)}
      - {host: registrar.lab.example, domain: lab.example}
    telephone_companies:
      - {name: TELCO-098, area_code: "098"}
      - {name: TELCO-012, area_code: "012"}
    pbxs:
      - name: PBX-1
        host: pbx1.lab.example
        telephone_company: TELCO-098
        extensions:
          - {number: "1000"}
        public_trunk: {channels: 4, numbers: ["098-765-4321"]}
        v_sipgw:
          sip_server: lab.example
          sip_server_failover: \(b).12
    \(registrar ? "      registrar: \(b).20\n" : "")      domain: lab.example
          transport: \(transport)
          invite_timeout: 4s
          numbers: ["098-765-4321"]
    \(extraCard.isEmpty ? "" : "      " + extraCard + "\n")timeline:
    \(timeline.map { "  - {\($0)}" }.joined(separator: "\n"))
    """
}

func loadScenario(_ path: String) throws -> Scenario {
    try ScenarioLoader.load(path: path, text: try String(contentsOfFile: path, encoding: .utf8))
}

extension Step {
    func text(_ n: String) -> String? { fields.text(n) }
}
