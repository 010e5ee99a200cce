import SimCore
import SIP
import Routing
import Trace

extension World {
    /// The typed cause of a failover: `cause` (no-response, timeout, transport-error, 503) and its numbers.
    public static func causeFields(_ r: FailoverReason) -> [StepField] {
        switch r {
        case .noResponse(let t): return [StepField("cause", "no-response"), StepField("timeout_ns", t)]
        case .transactionTimeout: return [StepField("cause", "timeout"), StepField("code", 408)]
        case .transportError: return [StepField("cause", "transport-error"), StepField("code", 503)]
        case .serviceUnavailable(let ra): return [StepField("cause", "503"), StepField("code", 503)] + (ra.map { [StepField("retry_after_s", $0)] } ?? [])
        }
    }

    /// The typed fields of a `target-skipped` step: the candidate, why in prose and as a category.
    public static func skipFields(_ target: String, _ r: FailoverSequence.SkipReason) -> [StepField] {
        [StepField("target", target), StepField("reason", r.description), StepField("cause", r.cause)]
    }

    /// The typed fields of a SIP target (attempt-started steps): where and how, and where it came from.
    public static func targetFields(_ t: RouteTarget) -> [StepField] {
        var f = [StepField("target", t.hostPort), StepField("ip", t.ip), StepField("port", t.port), StepField("transport", t.transport.rawValue)]
        switch t.origin {
        case .configured: f.append(StepField("origin", "configured"))
        case .failover: f.append(StepField("origin", "failover"))
        case .preferred: f.append(StepField("origin", "preferred"))
        case .dns(let name, let host): f += [StepField("origin", "dns"), StepField("dns_name", name), StepField("dns_host", host)]
        }
        return f
    }

    /// Records a `call` row for every call still in progress, with what is known so far: at the
    /// end of a run that stops at `until` or at the time limit, when it is interrupted, and at the
    /// REPL's `quit`. An answered call is `answered` with its route; any other is `in-progress`;
    /// `ended_at` is NULL. The run summary counts only calls that ended.
    public func recordCallsInProgress() {
        for id in callIndex.keys.sorted() {
            guard let pi = callIndex[id], let call = pbxs[pi].calls[id] else { continue }
            pbxs[pi].recordInProgress(call, callerContexts[pi])
        }
    }
}
