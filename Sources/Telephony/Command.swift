import SimCore

/// An extension on a PBX: `PBX-1/1000`, or `1000` when the number is unique.
public struct ExtensionRef: Sendable, Hashable, CustomStringConvertible {
    public var pbx: String?
    public var number: String
    public init(pbx: String?, number: String) { self.pbx = pbx; self.number = number }
    public var description: String { pbx.map { "\($0)/\(number)" } ?? number }
}

/// How an extension behaves when called.
public enum PhoneMode: String, Sendable { case normal, busy, unanswered, absent }

/// The command language shared by scenario timelines and the REPL. `Scenario.CommandParser`
/// turns text into these; the world executes them.
public enum Command: Sendable, Equatable {
    case dial(caller: ExtensionRef, number: String, hold: SimTime?)
    case down([String])
    case up([String])
    case refuse([String])
    /// Two groups of hosts that stay up but cannot reach each other (packets between the sides
    /// are dropped silently, in both directions).
    case partition([String], [String])
    /// Every partition is removed.
    case heal
    /// nil code = `normal` (answer as usual).
    case respond(host: String, code: Int?, retryAfter: SimTime?)
    case dns(name: String, fault: DNSFault)
    case latency(SimTime, host: String?)
    case loss(Double, host: String?)
    case phone(ExtensionRef, PhoneMode)
    /// nil = every call in progress. `callee`: the called side hangs up an answered call (its BYE).
    case hangup(call: Int?, callee: Bool = false)
}
