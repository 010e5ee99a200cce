import SimCore
import SIP
import Routing
import Trace

extension World {
    /// Starts the RFC 3263 resolution of `name` for a requester: SRV `_sip._udp.NAME` (`_sip._tcp`,
    /// or `_sips._tcp` for TLS) unless a port is given, then A records of targets without additional
    /// records; without SRV, A records of the name at port 5060 (5061 for TLS). A name with an
    /// explicit port is looked up by A/AAAA only. The cache answers first.
    func resolve(pbx pi: Int, name: String, port: Int?, transport: Transport, for requester: ResolveRequester, call: Int?) {
        jobCounter += 1
        let id = jobCounter
        let qname = port == nil ? transport.srvPrefix + name : name
        let job = ResolveJob(requester: requester, name: name, port: port, transport: transport, qname: qname,
                             qtype: port == nil ? .srv : .a, callID: call)
        jobs[pi][id] = job
        query(pbx: pi, job: id)
    }

    private func actor(_ pi: Int) -> String { "\(pbxs[pi].name)/resolver" }

    /// Sends the job's current query, or answers it from the cache.
    func query(pbx pi: Int, job id: Int) {
        guard let job = jobs[pi][id] else { return }
        if let cached = pbxs[pi].resolver.lookup(job.qname, job.qtype, now: sim.now) {
            step(.dnsCacheHit, actor(pi), "\(job.qtype.rawValue) \(job.qname): cached \(describe(cached))", call: job.callID)
            handleAnswer(pbx: pi, job: id, cached)
            return
        }
        guard let server = dnsServer, let dnsConf = config.dns else {
            finishJob(pbx: pi, job: id, .failure("no DNS server configured"))
            return
        }
        step(.dnsQuery, actor(pi), "\(job.qtype.rawValue) \(job.qname) to \(server.hostIP) (try \(job.attempt))", call: job.callID)
        _ = sendDNS(.dnsQuery(DNSQuery(id: id, name: job.qname, type: job.qtype)), from: pbxs[pi].ip, srcPort: 53000 + pi,
                    to: server.hostIP, dstPort: 53)
        jobs[pi][id]?.timeout = sim.schedule(.dnsTimeout(pbx: pi, job: id, attempt: job.attempt), after: dnsConf.resolverTimeout)
    }

    func describe(_ r: DNSResponse) -> String {
        if r.rcode != .noError { return r.rcode.rawValue }
        switch r.type {
        case .srv:
            if r.srv.isEmpty { return "no SRV records" }
            return r.srv.map { "\($0.priority) \($0.weight) \($0.port) \($0.target)" }.joined(separator: ", ") + " (ttl \(r.ttl.durationString))"
        case .a, .aaaa:
            return r.a.isEmpty ? "no \(r.type.rawValue) records" : r.a.joined(separator: ", ") + " (ttl \(r.ttl.durationString))"
        }
    }

    func dnsTimeout(pbx pi: Int, job id: Int, attempt: Int) {
        guard let job = jobs[pi][id], job.attempt == attempt else { return }
        let attempts = config.dns?.resolverAttempts ?? 1
        step(.dnsFailure, actor(pi), "\(job.qtype.rawValue) \(job.qname): no answer within \(config.dns?.resolverTimeout.durationString ?? "?") (try \(attempt) of \(attempts))", call: job.callID)
        if attempt < attempts {
            jobs[pi][id]?.attempt += 1
            query(pbx: pi, job: id)
        } else {
            failStage(pbx: pi, job: id, "timeout")
        }
    }

    func dnsAnswer(pbx pi: Int, _ r: DNSResponse) {
        guard let job = jobs[pi][r.id], job.qname == r.name, job.qtype == r.type else { return }
        if let t = job.timeout { sim.cancel(t) }
        jobs[pi][r.id]?.timeout = nil
        step(.dnsAnswer, actor(pi), "\(r.type.rawValue) \(r.name): \(describe(r))", call: job.callID)
        pbxs[pi].resolver.store(r, now: sim.now)
        handleAnswer(pbx: pi, job: r.id, r)
    }

    /// A failed stage of the procedure (SERVFAIL, timeout, NXDOMAIN of the last query).
    func failStage(pbx pi: Int, job id: Int, _ why: String) {
        guard let job = jobs[pi][id] else { return }
        step(.dnsFailure, actor(pi), "resolution of \(job.name) failed: \(why)", call: job.callID)
        finishJob(pbx: pi, job: id, .failure(why))
    }

    func handleAnswer(pbx pi: Int, job id: Int, _ r: DNSResponse) {
        guard var job = jobs[pi][id] else { return }
        if r.rcode == .servfail { failStage(pbx: pi, job: id, "SERVFAIL for \(r.name)"); return }
        switch job.qtype {
        case .srv:
            if r.rcode == .nxdomain || r.srv.isEmpty {
                // No SRV: A records of the name itself at the default port (RFC 3263 §4.2).
                if r.rcode == .nxdomain && job.qname != job.name {
                    // NXDOMAIN for the service name still allows A for the host name.
                }
                job.qname = job.name
                job.qtype = .a
                job.attempt = 1
                jobs[pi][id] = job
                query(pbx: pi, job: id)
                return
            }
            let usable = r.srv.filter { $0.target != "." }
            if usable.isEmpty { failStage(pbx: pi, job: id, "SRV target \".\": service not available at \(job.name)"); return }
            job.srv = r.srv
            for rr in usable {
                if let ips = r.additional[rr.target] { job.srvAddresses[rr] = ips }
                else if let c = pbxs[pi].resolver.lookup(rr.target, .a, now: sim.now),
                        let c6 = pbxs[pi].resolver.lookup(rr.target, .aaaa, now: sim.now) { job.srvAddresses[rr] = c.a + c6.a }
                else { job.pendingTargets.append(rr) }
            }
            jobs[pi][id] = job
            continueTargets(pbx: pi, job: id)
        case .a, .aaaa:
            // RFC 3263: A and AAAA records, IPv4 first. An A answer is followed by an AAAA query.
            if !job.srv.isEmpty {
                // The addresses of one SRV target.
                if let rr = job.pendingTargets.first {
                    if r.rcode == .noError { job.srvAddresses[rr, default: []] += r.a }
                    if job.qtype == .a { requery(pbx: pi, job: id, job, as: .aaaa); return }
                    job.pendingTargets.removeFirst()
                }
                jobs[pi][id] = job
                continueTargets(pbx: pi, job: id)
                return
            }
            if r.rcode == .nxdomain { failStage(pbx: pi, job: id, "NXDOMAIN for \(r.name)"); return }
            job.collected += r.a
            if job.qtype == .a { requery(pbx: pi, job: id, job, as: .aaaa); return }
            if job.collected.isEmpty { failStage(pbx: pi, job: id, "no address for \(r.name)"); return }
            finishJob(pbx: pi, job: id, .addresses(job.collected, port: job.port ?? job.transport.defaultPort))
        }
    }

    /// Sends the job's next query (same name, another record type) with a fresh try count.
    private func requery(pbx pi: Int, job id: Int, _ job: ResolveJob, as type: DNSType) {
        var job = job
        job.qtype = type
        job.attempt = 1
        jobs[pi][id] = job
        query(pbx: pi, job: id)
    }

    private func continueTargets(pbx pi: Int, job id: Int) {
        guard var job = jobs[pi][id] else { return }
        if let next = job.pendingTargets.first {
            job.qname = next.target
            job.qtype = .a
            job.attempt = 1
            jobs[pi][id] = job
            query(pbx: pi, job: id)
            return
        }
        let list = job.srv.filter { $0.target != "." }.map { Resolution.ResolvedSRV(record: $0, addresses: job.srvAddresses[$0] ?? []) }
        finishJob(pbx: pi, job: id, .srv(list))
    }

    func finishJob(pbx pi: Int, job id: Int, _ result: Resolution) {
        guard let job = jobs[pi].removeValue(forKey: id) else { return }
        if let t = job.timeout { sim.cancel(t) }
        switch job.requester {
        case .call(let c):
            guard let call = calls[c], var router = call.router else { return }
            var rng = call.rng
            let actions = router.resolved(result, for: job.name, now: sim.now.ns, using: &rng, isBlocked: blockCheck(pi))
            call.rng = rng
            call.router = router
            if let list = router.sequence.resolvedTargets(job.name) {
                step(.targetsResolved, "\(pbxs[pi].name)/V-SIPGW", "\(job.name) -> \(list.map(\.hostPort).joined(separator: ", "))", call: c)
            }
            performRouter(call, actions)
        case .registration(let p):
            registrationResolved(pbx: p, result, for: job.name)
        }
    }
}
