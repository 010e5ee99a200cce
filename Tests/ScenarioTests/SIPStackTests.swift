import Foundation
import Testing
import SimCore
import SIP
import Scenario
import Trace
@testable import Telephony

/// Each node has its own SIP transaction layer (issue 9 item 3): a response matches a client
/// transaction only in the stack of the node it reaches, and the ids of a stack's transactions
/// carry the stack.
@Suite struct SIPStackTests {
    func seedWorld() throws -> World {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scenarios/seed-example.yaml").path
        let s = try ScenarioLoader.load(path: path, text: try String(contentsOfFile: path, encoding: .utf8))
        return ScenarioRunner.makeWorld(s, sink: MemoryTraceSink())
    }

    @Test func idsCarryTheirStack() {
        let a = SIPStack(index: 0, host: nil), b = SIPStack(index: 3, host: nil)
        let ia = a.newID(), ib = b.newID(), ib2 = b.newID()
        #expect(SIPStack.stackIndex(of: ia) == 0 && SIPStack.stackIndex(of: ib) == 3 && SIPStack.stackIndex(of: ib2) == 3)
        #expect(ib != ib2)
    }

    @Test func aResponseMatchesOnlyInTheStackOfTheNodeItReaches() throws {
        let world = try seedWorld()
        let pbx1 = world.pbxs[0].ip, pbx2 = world.pbxs[1].ip
        let invite = SIPMessage.invite(requestURI: "sip:0123451011@itsp.example", from: "sip:0983451000@itsp.example", fromTag: "f",
                                       to: "sip:0123451011@itsp.example", callID: "t@pbx1", cseq: 1, transport: .udp,
                                       localHostPort: "\(pbx1):5060", localIP: pbx1, contactUser: "0983451000",
                                       branch: "z9hG4bK-stack-test", sessionID: 1)
        let id = world.startTransaction(invite, owner: .proxyCancel, from: pbx1, to: "192.0.2.10", port: 5060,
                                        transport: .udp, timers: .rfcDefault, call: nil, actor: "test")
        #expect(world.stack(at: pbx1).clients[id] != nil)
        #expect(world.stack(at: pbx2).clients[id] == nil)
        guard case .invite(let before)? = world.transactions[id]?.machine else { Issue.record("no INVITE transaction"); return }
        #expect(before.state == .calling)
        // A 180 with that branch delivered to PBX-2: not PBX-1's transaction, nothing changes.
        let ringing = invite.response(180, toTag: "x")
        world.deliver(Packet(srcIP: "192.0.2.10", srcPort: 5060, dstIP: pbx2, dstPort: 5060,
                             srcHost: world.network.index(of: "192.0.2.10")!, dstHost: world.network.index(of: pbx2)!, payload: .sip(ringing, transport: .udp)))
        guard case .invite(let unchanged)? = world.transactions[id]?.machine else { Issue.record("transaction gone"); return }
        #expect(unchanged.state == .calling)
        // The same 180 at PBX-1: its transaction proceeds.
        world.deliver(Packet(srcIP: "192.0.2.10", srcPort: 5060, dstIP: pbx1, dstPort: 5060,
                             srcHost: world.network.index(of: "192.0.2.10")!, dstHost: world.network.index(of: pbx1)!, payload: .sip(ringing, transport: .udp)))
        guard case .invite(let after)? = world.transactions[id]?.machine else { Issue.record("transaction gone"); return }
        #expect(after.state == .proceeding)
    }
}
