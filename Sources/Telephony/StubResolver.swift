import SimCore
import SIP
import Routing
import Trace

/// Who asked for a resolution.
public enum ResolveRequester: Sendable, Equatable { case call(Int), registration(pbx: Int) }

/// What a PBX's stub resolver may ask of whoever runs it (issue 9 item 2).
public protocol ResolverContext: AnyObject {
    var nowNs: Int64 { get }
    /// The DNS server's address (nil: the site has none).
    var serverAddress: String? { get }
    /// Per-query timeout and number of tries.
    var timeoutNs: Int64 { get }
    var tries: Int { get }
    /// Puts a query on the network; its answer comes back through `StubResolver.answer`.
    func send(_ query: DNSQuery)
    func scheduleTimeout(job: Int, attempt: Int, at ns: Int64) -> EventID
    func cancel(_ id: EventID)
    /// The detail and fields are built only when the trace level records steps.
    func record(_ kind: StepKind, _ detail: @autoclosure () -> String, call: Int?, _ fields: @autoclosure () -> [StepField])
    /// A resolution is over: hand it to whoever asked.
    func finished(_ requester: ResolveRequester, name: String, result: Resolution)
}

/// A PBX's stub resolver (a node): the RFC 3263 procedure per job (`ResolutionProcedure`), the
/// TTL cache (`ResolverCache`), the per-query timeout and tries. It owns its jobs and cache and
/// reaches the network, the clock and the trace only through its context.
public final class StubResolver {
    /// A resolution under way. A reference: each step reads a few of its fields, and a copy out
    /// of the table retained its procedure's names and lists (issue 11's profile).
    final class Job {
        let requester: ResolveRequester
        var procedure: ResolutionProcedure
        var attempt = 1
        var timeout: EventID?
        let callID: Int?
        init(requester: ResolveRequester, procedure: ResolutionProcedure, callID: Int?) {
            self.requester = requester; self.procedure = procedure; self.callID = callID
        }
        var name: String { procedure.name }
        var qname: String { procedure.qname }
        var qtype: DNSType { procedure.qtype }
    }

    public private(set) var cache = ResolverCache()
    private var jobs = IntMap<Job>()
    private var counter = 0
    public init() {}

    /// Starts the RFC 3263 resolution of `name`: SRV `_sip._udp.NAME` (`_sip._tcp`, `_sips._tcp`)
    /// unless a port is given, then A/AAAA; the cache answers first.
    public func resolve(name: String, port: Int?, transport: Transport, for requester: ResolveRequester, call: Int?, _ ctx: ResolverContext) {
        counter += 1
        jobs[counter] = Job(requester: requester, procedure: ResolutionProcedure(name: name, port: port, transport: transport), callID: call)
        query(counter, ctx)
    }

    /// Sends the job's current query, or answers it from the cache.
    private func query(_ id: Int, _ ctx: ResolverContext) {
        guard let job = jobs[id] else { return }
        if let cached = cache.lookup(job.qname, job.qtype, now: SimTime(ns: ctx.nowNs)) {
            ctx.record(.dnsCacheHit, "\(job.qtype.rawValue) \(job.qname): cached \(cached.summary)", call: job.callID,
                       [StepField("qname", job.qname), StepField("qtype", job.qtype.rawValue), StepField("rcode", cached.rcode.rawValue)] + cached.recordFields)
            handleAnswer(id, cached, ctx)
            return
        }
        guard let server = ctx.serverAddress else {
            finish(id, .failure("no DNS server configured"), ctx)
            return
        }
        ctx.record(.dnsQuery, "\(job.qtype.rawValue) \(job.qname) to \(server) (try \(job.attempt))", call: job.callID,
                   [StepField("qname", job.qname), StepField("qtype", job.qtype.rawValue), StepField("server", server), StepField("try", job.attempt)])
        ctx.send(DNSQuery(id: id, name: job.qname, type: job.qtype))
        jobs[id]?.timeout = ctx.scheduleTimeout(job: id, attempt: job.attempt, at: ctx.nowNs + ctx.timeoutNs)
    }

    /// The query timer of `job`'s try `attempt` fired.
    public func timeout(job id: Int, attempt: Int, _ ctx: ResolverContext) {
        guard let job = jobs[id], job.attempt == attempt else { return }
        let tries = ctx.tries
        ctx.record(.dnsFailure, "\(job.qtype.rawValue) \(job.qname): no answer within \(SimTime(ns: ctx.timeoutNs).durationString) (try \(attempt) of \(tries))", call: job.callID,
                   [StepField("qname", job.qname), StepField("qtype", job.qtype.rawValue), StepField("cause", "timeout"), StepField("try", attempt)])
        if attempt < tries {
            jobs[id]?.attempt += 1
            query(id, ctx)
        } else {
            failStage(id, "timeout", ctx)
        }
    }

    /// An answer from the network.
    public func answer(_ r: DNSResponse, _ ctx: ResolverContext) {
        guard let job = jobs[r.id], job.qname == r.name, job.qtype == r.type else { return }
        if let t = job.timeout { ctx.cancel(t) }
        jobs[r.id]?.timeout = nil
        ctx.record(.dnsAnswer, "\(r.type.rawValue) \(r.name): \(r.summary)", call: job.callID,
                   [StepField("qname", r.name), StepField("qtype", r.type.rawValue), StepField("rcode", r.rcode.rawValue), StepField("ttl_ns", r.ttl.ns)] + r.recordFields)
        cache.store(r, now: SimTime(ns: ctx.nowNs))
        handleAnswer(r.id, r, ctx)
    }

    /// A failed stage of the procedure (SERVFAIL, timeout, NXDOMAIN of the last query).
    private func failStage(_ id: Int, _ why: String, _ ctx: ResolverContext) {
        guard let job = jobs[id] else { return }
        ctx.record(.dnsFailure, "resolution of \(job.name) failed: \(why)", call: job.callID,
                   [StepField("name", job.name), StepField("cause", "stage-failed"), StepField("reason", why)])
        finish(id, .failure(why), ctx)
    }

    /// Hands an answer (from the network or the cache) to the job's procedure and does what it
    /// says: the next query (a fresh try count), the result, or the stage's failure.
    private func handleAnswer(_ id: Int, _ r: DNSResponse, _ ctx: ResolverContext) {
        guard let job = jobs[id] else { return }
        let c = cache, now = SimTime(ns: ctx.nowNs)
        let next = job.procedure.answer(r.answer) { target in
            guard let a = c.lookup(target, .a, now: now), let aaaa = c.lookup(target, .aaaa, now: now) else { return nil }
            return a.a + aaaa.a
        }
        switch next {
        case .query:
            job.attempt = 1
            query(id, ctx)
        case .done(let result):
            finish(id, result, ctx)
        case .failed(let why):
            failStage(id, why, ctx)
        }
    }

    private func finish(_ id: Int, _ result: Resolution, _ ctx: ResolverContext) {
        guard let job = jobs.removeValue(forKey: id) else { return }
        if let t = job.timeout { ctx.cancel(t) }
        ctx.finished(job.requester, name: job.name, result: result)
    }
}
