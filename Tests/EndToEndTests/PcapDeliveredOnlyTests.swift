import Testing
import Foundation
@testable import Export
import Store

/// `export --format pcap --delivered-only` on a lossy run: exactly the delivered messages, each
/// with its full text, also a retransmission whose original (the row holding its text,
/// `raw_of`) was lost on the way.
@Suite struct PcapDeliveredOnlyTests {
    /// `--delivered-only` leaves out messages the network dropped, but a copy that got through
    /// still carries the text of an original that was lost (a lossy network).
    @Test func pcapDeliveredOnlyKeepsTheTextOfLostOriginals() throws {
        let db = tempPath("lossy.sqlite")
        let r = try runCLI(["run", scenarioPath("lossy-far-pbx.yaml"), "--db", db, "-q"])
        #expect(r.status == 0 || r.status == 1, "\(r.err)")
        let store = try SQLiteDatabase(path: db, readOnly: true)
        let lostOriginals = try store.scalarInt("""
            SELECT count(*) FROM sip_message c JOIN sip_message o ON o.run_id = c.run_id AND o.seq = c.raw_of
            WHERE c.delivered = 1 AND o.delivered = 0
            """) ?? 0
        #expect(lostOriginals > 0, "the scenario should deliver a copy of a message whose original was lost")
        func texts(_ condition: String) throws -> [[UInt8]] {
            try store.rows("SELECT run_id, \(TraceStore.rawSQL) FROM sip_message m WHERE \(condition) ORDER BY m.run_id, m.seq")
                .map { Exporter.runScopedCallIDBytes($0[1] ?? "", run: Int64($0[0]!)!) }
        }
        let delivered = try texts("m.delivered = 1"), all = try texts("1")
        #expect(delivered.count < all.count && delivered.allSatisfy { !$0.isEmpty })
        for deliveredOnly in [true, false] {
            let pcap = tempPath("lossy-\(deliveredOnly).pcap")
            let args = ["export", db, "--format", "pcap", "--out", pcap] + (deliveredOnly ? ["--delivered-only"] : [])
            let e = try runCLI(args)
            #expect(e.status == 0, "\(e.err)")
            let payloads = udpPayloads(try Data(contentsOf: URL(fileURLWithPath: pcap)))
            #expect(payloads == (deliveredOnly ? delivered : all))
        }
    }

    /// The UDP payloads of a pcap of raw IPv4 packets (LINKTYPE_RAW, as the exporter writes).
    func udpPayloads(_ d: Data) -> [[UInt8]] {
        let b = [UInt8](d)
        func le32(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24 }
        var out: [[UInt8]] = [], i = 24
        while i + 16 <= b.count {
            let len = le32(i + 8)
            let p = i + 16
            let ihl = Int(b[p] & 0x0f) * 4
            out.append(Array(b[(p + ihl + 8)..<(p + len)]))
            i = p + len
        }
        return out
    }
}
