/// What the driver's resolver found for a name, handed to the routing core. The resolver runs
/// the RFC 3263 procedure over the (simulated) network; the core orders the result.
public enum Resolution: Sendable, Equatable {
    /// SRV records, each with the addresses of its target (from the additional section or an A
    /// query; empty when the target has no address).
    case srv([ResolvedSRV])
    /// No SRV: the name's A records, in the order the answer gave, at `port`.
    case addresses([String], port: Int)
    /// The stage failed: timeout, SERVFAIL, NXDOMAIN, or SRV target "." only.
    case failure(String)

    public struct ResolvedSRV: Sendable, Equatable {
        public var record: SRVRecord
        public var addresses: [String]
        public init(record: SRVRecord, addresses: [String]) { self.record = record; self.addresses = addresses }
    }
}
