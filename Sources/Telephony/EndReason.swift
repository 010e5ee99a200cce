import SIP
import Trace

/// Why a call that was not answered ended: the typed `cause` of its `call-ended` step (with the
/// outcome; docs/trace-schema.md) and the prose its `detail` gives. The prose is rendered from the
/// value, only when the step is recorded.
public enum EndReason: Sendable, Equatable {
    /// Every incoming channel of the called PBX's public trunk group is in use.
    case farEndTrunkBusy
    /// The called PBX has no DID entry for the number the public network delivered.
    case noDIDEntry(pbx: String, number: String)
    /// No such extension (`PBX/number`).
    case noExtension(String)
    /// The called extension is absent (`PBX/number`).
    case extensionAbsent(String)
    /// The called extension is in a call (`PBX/number`).
    case extensionBusy(String)
    /// The called subscriber line is in a call (`TELCO/number`).
    case subscriberBusy(String)
    /// The caller's no-answer timer expired: the caller gives up.
    case notAnswered
    /// The public network's ring timer expired.
    case ringTimeout
    /// The caller's PBX has no public trunk to reroute or dial out on.
    case noPublicTrunk(pbx: String)
    /// The caller's class of service forbids the call.
    case tollRestriction
    /// The caller's PBX is connected to no telephone company.
    case noTelephoneCompany(pbx: String)
    /// Every trunk group of every carrier the route allows is busy.
    case allTrunksBusy
    /// The caller (`PBX/number`) is already in a call.
    case callerInCall(String)
    /// No telephone company owns the number, or it is not in service.
    case unallocatedNumber
    /// The caller hung up before the call was answered.
    case callerHungUp
    /// A final SIP response the reroute policy does not reroute on.
    case sipFinal(code: Int, policy: String)
    /// Live mode's reroute: it dials no public trunk, so the call ends there (outcome `rerouted`).
    case rerouteNotDialled

    /// Every cause a call can end with, one of each reason's. Scenario expectations (`end_cause`)
    /// are checked against it.
    public static let allCauses: [String] = [
        EndReason.farEndTrunkBusy, .noDIDEntry(pbx: "", number: ""), .noExtension(""), .extensionAbsent(""), .extensionBusy(""),
        .subscriberBusy(""), .notAnswered, .ringTimeout, .noPublicTrunk(pbx: ""), .tollRestriction, .noTelephoneCompany(pbx: ""),
        .allTrunksBusy, .callerInCall(""), .unallocatedNumber, .callerHungUp, .sipFinal(code: 0, policy: ""), .rerouteNotDialled,
    ].map(\.cause)

    /// The category, as the trace's typed `cause` field says it.
    public var cause: String {
        switch self {
        case .farEndTrunkBusy: return "far-end-trunk-busy"
        case .noDIDEntry: return "no-did-entry"
        case .noExtension: return "no-extension"
        case .extensionAbsent: return "extension-absent"
        case .extensionBusy: return "extension-busy"
        case .subscriberBusy: return "subscriber-busy"
        case .notAnswered: return "no-answer-timeout"
        case .ringTimeout: return "ring-timeout"
        case .noPublicTrunk: return "no-public-trunk"
        case .tollRestriction: return "toll-restriction"
        case .noTelephoneCompany: return "no-telephone-company"
        case .allTrunksBusy: return "all-trunks-busy"
        case .callerInCall: return "caller-in-call"
        case .unallocatedNumber: return "unallocated-number"
        case .callerHungUp: return "caller-hangup"
        case .sipFinal: return "sip-final"
        case .rerouteNotDialled: return "reroute-not-dialled"
        }
    }

    /// The prose, as the step's `detail` gives it after the outcome.
    public var detail: String {
        switch self {
        case .farEndTrunkBusy: return "far-end trunk busy"
        case .noDIDEntry(let pbx, let number): return "\(pbx) has no DID entry for \(number)"
        case .noExtension(let who): return "no extension \(who)"
        case .extensionAbsent(let who): return "\(who) absent"
        case .extensionBusy(let who), .subscriberBusy(let who): return concat(who, " busy (busy tone)")
        case .notAnswered: return "not answered"
        case .ringTimeout: return "ring timeout"
        case .noPublicTrunk(let pbx): return "\(pbx) has no public trunk"
        case .tollRestriction: return "toll restriction"
        case .noTelephoneCompany(let pbx): return "\(pbx) has no telephone company"
        case .allTrunksBusy: return "every trunk group of every carrier busy (busy tone)"
        case .callerInCall(let who): return "caller \(who) is already in a call"
        case .unallocatedNumber: return "unallocated number"
        case .callerHungUp: return "caller hung up before answer"
        case .sipFinal(let code, let policy): return "\(ReasonPhrase.status(code)) over SIP, no reroute (policy \(policy))"
        case .rerouteNotDialled: return "rerouted to the public trunk"
        }
    }

    /// The typed fields of a `call-ended` step after its `outcome`: the `cause`, and `extraFields`.
    public var fields: [StepField] { [StepField("cause", cause)] + extraFields }

    /// The typed fields beyond `outcome` and `cause`, as the prose names them: the `party` (a
    /// called extension or subscriber line, or the caller already in a call), the `pbx` and the
    /// `number` it has no DID entry for, the SIP `code` and reroute `policy` of `sip-final`.
    public var extraFields: [StepField] {
        switch self {
        case .noExtension(let who), .extensionAbsent(let who), .extensionBusy(let who), .subscriberBusy(let who), .callerInCall(let who):
            return [StepField("party", who)]
        case .noDIDEntry(let pbx, let number): return [StepField("pbx", pbx), StepField("number", number)]
        case .noPublicTrunk(let pbx), .noTelephoneCompany(let pbx): return [StepField("pbx", pbx)]
        case .sipFinal(let code, let policy): return [StepField("code", code), StepField("policy", policy)]
        case .farEndTrunkBusy, .notAnswered, .ringTimeout, .tollRestriction, .allTrunksBusy, .unallocatedNumber, .callerHungUp, .rerouteNotDialled: return []
        }
    }
}
