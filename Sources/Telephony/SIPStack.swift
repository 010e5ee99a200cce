import SimCore
import SIP

/// One node's SIP transaction layer (issue 9 item 3): the client transactions it started, matched
/// by top Via branch and CSeq method (RFC 3261 §17.1.3), and the server transactions its requests
/// opened, matched by branch and method, an ACK by its INVITE's (§17.2.3). Each PBX and each
/// carrier server has its own; nothing is matched across nodes. A transaction's id carries its
/// stack (`id >> 32`), so that the engine's timer events and the nodes' records stay plain
/// integers. The RFC 3261 state machines themselves are the sans-I/O cores of `SIP`.
final class SIPStack {
    /// Its index in `World.stacks`.
    let index: Int
    /// The network's index of the address it serves (nil for an address no host has): what a
    /// transaction it starts sends from, looked up once, not per transaction.
    let host: Int?
    private var counter = 0
    var clients = IntMap<Txn>()
    var clientByKey: [StringKey: Int] = [:]
    var servers: [Int: ServerTxnRecord] = [:]
    var serverByKey: [ServerKey: Int] = [:]

    init(index: Int, host: Int?) { self.index = index; self.host = host }

    /// A new transaction id of this stack.
    func newID() -> Int {
        counter += 1
        return index << 32 | counter
    }

    /// The stack a transaction id belongs to.
    static func stackIndex(of id: Int) -> Int { id >> 32 }
}

extension World {
    /// The SIP stack of the node at an address (a PBX or a carrier server; another address gets
    /// its own stack on first use).
    func stack(at ip: String) -> SIPStack {
        if let i = stackIndex[StringKey(ip)] { return stacks[i] }
        let host = network.index(of: ip)
        let s = SIPStack(index: stacks.count, host: host)
        stacks.append(s)
        stackIndex[StringKey(ip)] = s.index
        if let h = host, atHost[h].stack == nil, network.hosts[h].ip == ip { atHost[h].stack = s.index }
        return s
    }

    /// Client transactions by id, in the stacks of their nodes.
    var transactions: ClientTransactions { ClientTransactions(world: self) }
    /// Server transactions by id, in the stacks of their nodes.
    var serverTransactions: ServerTransactions { ServerTransactions(world: self) }

    struct ClientTransactions {
        unowned(unsafe) let world: World
        subscript(id: Int) -> Txn? {
            get { world.stacks[SIPStack.stackIndex(of: id)].clients[id] }
            nonmutating set { world.stacks[SIPStack.stackIndex(of: id)].clients[id] = newValue }
        }
    }

    struct ServerTransactions {
        unowned(unsafe) let world: World
        subscript(id: Int) -> ServerTxnRecord? {
            get { world.stacks[SIPStack.stackIndex(of: id)].servers[id] }
            nonmutating set { world.stacks[SIPStack.stackIndex(of: id)].servers[id] = newValue }
        }
        @discardableResult
        func removeValue(forKey id: Int) -> ServerTxnRecord? {
            world.stacks[SIPStack.stackIndex(of: id)].servers.removeValue(forKey: id)
        }
    }
}
