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
        jobs[pi][id] = ResolveJob(requester: requester, procedure: ResolutionProcedure(name: name, port: port, transport: transport), callID: call)
        query(pbx: pi, job: id)
    }

    private func actor(_ pi: Int) -> String { "\(pbxs[pi].name)/resolver" }

    /// Sends the job's current query, or answers it from the cache.
    func query(pbx pi: Int, job id: Int) {
        guard let job = jobs[pi][id] else { return }
        if let cached = pbxs[pi].resolver.lookup(job.qname, job.qtype, now: sim.now) {
            step(.dnsCacheHit, actor(pi), "\(job.qtype.rawValue) \(job.qname): cached \(describe(cached))", call: job.callID,
                 fields: [StepField("qname", job.qname), StepField("qtype", job.qtype.rawValue), StepField("rcode", cached.rcode.rawValue)])
            handleAnswer(pbx: pi, job: id, cached)
            return
        }
        guard let server = dnsServer, let dnsConf = config.dns else {
            finishJob(pbx: pi, job: id, .failure("no DNS server configured"))
            return
        }
        step(.dnsQuery, actor(pi), "\(job.qtype.rawValue) \(job.qname) to \(server.hostIP) (try \(job.attempt))", call: job.callID,
             fields: [StepField("qname", job.qname), StepField("qtype", job.qtype.rawValue), StepField("server", server.hostIP), StepField("try", job.attempt)])
        _ = sendDNS(.dnsQuery(DNSQuery(id: id, name: job.qname, type: job.qtype)), from: pbxs[pi].ip, srcPort: 53000 + pi,
                    to: server.hostIP, dstPort: 53)
        jobs[pi][id]?.timeout = sim.schedule(.dnsTimeout(pbx: pi, job: id, attempt: job.attempt), after: dnsConf.resolverTimeout)
    }

    func describe(_ r: DNSResponse) -> String { r.summary }

    func dnsTimeout(pbx pi: Int, job id: Int, attempt: Int) {
        guard let job = jobs[pi][id], job.attempt == attempt else { return }
        let attempts = config.dns?.resolverAttempts ?? 1
        step(.dnsFailure, actor(pi), "\(job.qtype.rawValue) \(job.qname): no answer within \(config.dns?.resolverTimeout.durationString ?? "?") (try \(attempt) of \(attempts))", call: job.callID,
             fields: [StepField("qname", job.qname), StepField("qtype", job.qtype.rawValue), StepField("cause", "timeout"), StepField("try", attempt)])
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
        step(.dnsAnswer, actor(pi), "\(r.type.rawValue) \(r.name): \(describe(r))", call: job.callID,
             fields: [StepField("qname", r.name), StepField("qtype", r.type.rawValue), StepField("rcode", r.rcode.rawValue), StepField("ttl_ns", r.ttl.ns)])
        pbxs[pi].resolver.store(r, now: sim.now)
        handleAnswer(pbx: pi, job: r.id, r)
    }

    /// A failed stage of the procedure (SERVFAIL, timeout, NXDOMAIN of the last query).
    func failStage(pbx pi: Int, job id: Int, _ why: String) {
        guard let job = jobs[pi][id] else { return }
        step(.dnsFailure, actor(pi), "resolution of \(job.name) failed: \(why)", call: job.callID,
             fields: [StepField("name", job.name), StepField("cause", "stage-failed"), StepField("reason", why)])
        finishJob(pbx: pi, job: id, .failure(why))
    }

    /// Hands an answer (from the network or the cache) to the job's RFC 3263 procedure and does
    /// what it says: the next query (a fresh try count), the result, or the stage's failure.
    func handleAnswer(pbx pi: Int, job id: Int, _ r: DNSResponse) {
        guard var job = jobs[pi][id] else { return }
        let resolver = pbxs[pi].resolver, now = sim.now
        let next = job.procedure.answer(r.answer) { target in
            guard let a = resolver.lookup(target, .a, now: now), let aaaa = resolver.lookup(target, .aaaa, now: now) else { return nil }
            return a.a + aaaa.a
        }
        switch next {
        case .query:
            job.attempt = 1
            jobs[pi][id] = job
            query(pbx: pi, job: id)
        case .done(let result):
            jobs[pi][id] = job
            finishJob(pbx: pi, job: id, result)
        case .failed(let why):
            jobs[pi][id] = job
            failStage(pbx: pi, job: id, why)
        }
    }

    func finishJob(pbx pi: Int, job id: Int, _ result: Resolution) {
        guard let job = jobs[pi].removeValue(forKey: id) else { return }
        if let t = job.timeout { sim.cancel(t) }
        switch job.requester {
        case .call(let c):
            guard let call = calls[c], let trunk = call.trunk else { return }
            trunk.resolved(result, for: job.name, trunkContext)
        case .registration(let p):
            pbxs[p].card?.registration.resolved(result, for: job.name, registrationContext(p))
        }
    }
}
