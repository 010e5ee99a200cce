import Testing
import Routing

/// The public-trunk route plan of a PBX, without the engine (domain §1.1, §1.4.7): toll
/// restriction on the dialled digits, Quick Dial for private numbers, ARS carriers with digit
/// modification, else the default trunk groups.
@Suite struct PublicRouteTests {
    let ars = ARSConfig(leading: [ARSConfig.LeadingEntry(digits: "012", plan: 1)], exceptions: ["0120"],
                        plans: [1: ARSConfig.Plan(blocks: [ARSConfig.TimeBlock(startMinute: 0, carriers: ["A", "B"])])],
                        carriers: ["A": ARSConfig.Carrier(name: "A", trunkGroups: [2, 3], accessCode: "0077", remove: 0, modify: "CH"),
                                   "B": ARSConfig.Carrier(name: "B", trunkGroups: [1])])

    func plan(_ digits: String, trs: TRSConfig? = nil, level: Int = 1, quickDial: [String: String] = [:], ars: ARSConfig? = nil) -> PublicRoute.Plan {
        PublicRoute.plan(digits, trs: trs, trsLevel: level, quickDial: quickDial, accessCode: "9", ars: ars,
                         weekday: 2, minuteOfDay: 600, defaultGroups: [1, 2])
    }

    @Test func withoutARSTheDefaultGroupsInOrder() {
        #expect(plan("0123451011") == .route(decisions: [], candidates: [.init(carrier: nil, group: 1, digits: "0123451011"),
                                                                         .init(carrier: nil, group: 2, digits: "0123451011")]))
    }

    @Test func tollRestrictionChecksWhatWasDialled() {
        let trs = TRSConfig(levels: [3: .init(denied: ["0"], exceptions: ["0120"])])
        #expect(plan("0123451011", trs: trs, level: 3) == .denied(level: 3, digits: "0123451011"))
        if case .route = plan("0120123456", trs: trs, level: 3) {} else { Issue.record("an exception must pass") }
        if case .route = plan("0123451011", trs: trs, level: 1) {} else { Issue.record("level 1 allows everything") }
        #expect(plan("0123451011", trs: trs, level: 7) == .denied(level: 7, digits: "0123451011"))
    }

    @Test func quickDialMapsAPrivateNumberAndDropsTheAccessCode() {
        let p = plan("7201011", quickDial: ["720": "90123451"])
        #expect(p == .route(decisions: [.quickDial(digits: "7201011", mapped: "901234511011", sent: "01234511011")],
                            candidates: [.init(carrier: nil, group: 1, digits: "01234511011"), .init(carrier: nil, group: 2, digits: "01234511011")]))
        // A number with the trunk prefix is not a Quick Dial number.
        #expect(plan("0201011", quickDial: ["020": "90123451"]) == plan("0201011"))
    }

    @Test func arsCarriersWithModifiedDigitsThenExceptionsAndDefaults() {
        #expect(plan("0123451011", ars: ars) == .route(
            decisions: [.ars(entry: 1, plan: 1, carriers: ["A", "B"])],
            candidates: [.init(carrier: "A", group: 2, digits: "00770123451011"), .init(carrier: "A", group: 3, digits: "00770123451011"),
                         .init(carrier: "B", group: 1, digits: "0123451011")]))
        #expect(plan("0120000000", ars: ars) == .route(decisions: [.arsException("0120", groups: [1, 2])],
                                                       candidates: [.init(carrier: nil, group: 1, digits: "0120000000"), .init(carrier: nil, group: 2, digits: "0120000000")]))
        #expect(plan("0553451011", ars: ars) == .route(decisions: [.arsDefault(digits: "0553451011", groups: [1, 2])],
                                                       candidates: [.init(carrier: nil, group: 1, digits: "0553451011"), .init(carrier: nil, group: 2, digits: "0553451011")]))
    }
}
