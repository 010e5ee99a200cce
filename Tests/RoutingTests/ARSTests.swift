import Testing
@testable import Routing
import SIP

/// Domain reference §6 items 17-22: ARS, digit modification, TRS, Quick Dial, hunting.
@Suite struct ARSTests {
    let carriers: [String: ARSConfig.Carrier] = [
        "KDDI": .init(name: "KDDI", trunkGroups: [9, 3, 1, 7, 5, 11], accessCode: "0077", remove: 6, modify: "CH#12"),
        "NTT": .init(name: "NTT", trunkGroups: [2], accessCode: "0033", remove: 0, modify: "H"),
        "C3": .init(name: "C3", trunkGroups: [4]),
    ]

    /// Item 19: the lowest table position wins, not the longest match.
    @Test func lowestLocationWins() {
        let cfg = ARSConfig(leading: [.init(digits: "039", plan: 1), .init(digits: "03", plan: 4)], exceptions: ["033555"],
                            plans: [1: .init(blocks: [.init(startMinute: 0, carriers: ["KDDI"])]),
                                    4: .init(blocks: [.init(startMinute: 0, carriers: ["NTT"])])], carriers: carriers)
        #expect(ARS.select("0398765432", config: cfg, weekday: 1, minuteOfDay: 600) == .carriers(plan: 1, tablePosition: 1, carriers: [carriers["KDDI"]!]))
        #expect(ARS.select("0381234567", config: cfg, weekday: 1, minuteOfDay: 600) == .carriers(plan: 4, tablePosition: 2, carriers: [carriers["NTT"]!]))
        // Exception-table numbers bypass ARS.
        #expect(ARS.select("0335551234", config: cfg, weekday: 1, minuteOfDay: 600) == .bypass(exception: "033555"))
        #expect(ARS.select("0611112222", config: cfg, weekday: 1, minuteOfDay: 600) == .noMatch)
        // A wildcard matches any digit; an earlier wildcard entry beats a later exact one.
        let w = ARSConfig(leading: [.init(digits: "0X9", plan: 1), .init(digits: "039", plan: 4)], plans: cfg.plans, carriers: carriers)
        #expect(ARS.select("0398765432", config: w, weekday: 1, minuteOfDay: 600) == .carriers(plan: 1, tablePosition: 1, carriers: [carriers["KDDI"]!]))
    }

    /// Item 20: `0123456789`, remove 6, `CH#12`, carrier `0077` -> `00776789#12`; US example too.
    @Test func carrierModification() {
        #expect(ARS.modify("0123456789", carrier: carriers["KDDI"]!) == "00776789#12")
        // The access code 9 only selects the trunk: ARS sees 1-212-555-5555.
        #expect(ARS.modify("12125555555", carrier: .init(name: "x", trunkGroups: [1], accessCode: "0880", remove: 1, modify: "CH")) == "08802125555555")
        #expect(ARS.modify("0123451011", carrier: carriers["NTT"]!) == "0123451011")
    }

    /// Item 22: Time-A 09:00 carrier 1, Time-D 21:00 carrier 3: 21:30 uses carrier 3, 09:05 carrier 1;
    /// before the first block of the day, the previous day's last block still applies.
    @Test func timeBlocks() {
        let plan = ARSConfig.Plan(blocks: [.init(startMinute: 9 * 60, carriers: ["KDDI"]), .init(startMinute: 21 * 60, carriers: ["C3"])])
        #expect(ARS.activeBlock(plan, weekday: 1, minuteOfDay: 21 * 60 + 30)?.carriers == ["C3"])
        #expect(ARS.activeBlock(plan, weekday: 1, minuteOfDay: 9 * 60 + 5)?.carriers == ["KDDI"])
        #expect(ARS.activeBlock(plan, weekday: 2, minuteOfDay: 3 * 60)?.carriers == ["C3"])
        var weekend = plan
        weekend.days[0] = [.init(startMinute: 0, carriers: ["NTT"])]
        #expect(ARS.activeBlock(weekend, weekday: 0, minuteOfDay: 10 * 60)?.carriers == ["NTT"])
        #expect(ARS.activeBlock(weekend, weekday: 1, minuteOfDay: 8 * 60)?.carriers == ["NTT"]) // Sunday's last block until Monday 09:00
    }

    /// Item 17: TRS checks the digits the user dialled (levels 1 all, 7 none, 2-6 denied then exceptions).
    @Test func tollRestriction() {
        let trs = TRSConfig(levels: [3: .init(denied: ["0990", "010"], exceptions: ["0102"])])
        #expect(trs.allows("0990123456", level: 1))
        #expect(!trs.allows("0990123456", level: 3))
        #expect(!trs.allows("010441234", level: 3))
        #expect(trs.allows("0102555", level: 3))
        #expect(trs.allows("0123451011", level: 3))
        #expect(!trs.allows("0123451011", level: 7))
    }

    /// Item 18: Quick Dial `720` -> `91333123` re-dials `7201011` as `9` + `13331231011`.
    @Test func quickDial() {
        #expect(QuickDial.reroute("7201011", map: ["720": "91333123"]) == "913331231011")
        #expect(QuickDial.reroute("7301011", map: ["720": "91333123"]) == nil)
        #expect(QuickDial.reroute("72051", map: ["7": "9", "720": "91333123"]) == "9133312351")
    }

    /// Item 21: the carrier's groups are tried in its order (9, 3, 1, 7, 5, 11); within a group the
    /// channel per the hunt order.
    @Test func hunting() {
        #expect(carriers["KDDI"]!.trunkGroups == [9, 3, 1, 7, 5, 11])
        #expect(Hunt.channel(busy: [true, false, false, true], order: .lowest, last: nil) == 1)
        #expect(Hunt.channel(busy: [true, false, false, true], order: .highest, last: nil) == 2)
        #expect(Hunt.channel(busy: [false, false, false, false], order: .rotation, last: 1) == 2)
        #expect(Hunt.channel(busy: [false, true, true, true], order: .rotation, last: 3) == 0)
        #expect(Hunt.channel(busy: [true, true], order: .lowest, last: nil) == nil)
    }
}

/// Checklist item 21 as the carrier table states it (domain §1.4.6).
@Suite struct CarrierHuntOrderTests {
    /// TRG priorities (9, 3, 1, 7) with groups {5, 7, 9, 11} enabled: 9, 3, 1, 7, 5, 11.
    @Test func prioritiesThenRemainingEnabledAscending() {
        #expect(ARS.huntOrder(priority: [9, 3, 1, 7], enabled: [5, 7, 9, 11]) == [9, 3, 1, 7, 5, 11])
        // The enabled list is searched ascending whatever order it is written in.
        #expect(ARS.huntOrder(priority: [9, 3, 1, 7], enabled: [11, 9, 7, 5]) == [9, 3, 1, 7, 5, 11])
        #expect(ARS.huntOrder(priority: [], enabled: [11, 2, 5]) == [2, 5, 11])
        #expect(ARS.huntOrder(priority: [4, 2], enabled: []) == [4, 2])
    }
}

/// Checklist item 11, TLS: the default port and the SRV service of each transport (RFC 3263 §4.2).
@Suite struct TransportDefaultsTests {
    @Test func tlsUses5061AndSipsService() {
        #expect(Transport.udp.defaultPort == 5060 && Transport.tcp.defaultPort == 5060 && Transport.tls.defaultPort == 5061)
        #expect(Transport.udp.srvPrefix == "_sip._udp." && Transport.tcp.srvPrefix == "_sip._tcp." && Transport.tls.srvPrefix == "_sips._tcp.")
        #expect(Transport.tls.isReliable && Transport.tcp.isReliable && !Transport.udp.isReliable)
    }

    /// An IP literal without a port means 5061 over TLS, 5060 otherwise; an explicit port wins.
    @Test func configuredAddressGetsTheTransportsDefaultPort() {
        func first(_ t: Transport, port: Int?) -> RouteTarget? {
            var seq = FailoverSequence(stages: [.address("192.0.2.10", port: port, origin: .configured)], transport: t)
            if case .target(let x) = seq.next(isBlocked: { _ in false }) { return x }
            return nil
        }
        #expect(first(.tls, port: nil)?.port == 5061)
        #expect(first(.udp, port: nil)?.port == 5060)
        #expect(first(.tls, port: 5070)?.port == 5070)
        #expect(first(.tls, port: nil)?.transport == .tls)
    }
}
