import SimCore
import SIP
import Routing
import Trace

extension World {
    /// How long before time zero a warm start boots the site.
    public static let warmUp = SimTime.seconds(60)

    /// Starts every card's registration. Warm start (the default): the cards boot in an untraced
    /// warm-up from −60 s, with every host up and no fault, so that at time zero each card is
    /// registered (its DNS lookups cached, its refresh timer running) as on a site that has run
    /// for hours; one `registration` step per card at time zero says where. Cold start
    /// (`cold_start: true`): the registrations start at time zero, in the trace.
    public func start() {
        let cards = pbxs.indices.filter { pbxs[$0].card?.config.registrar != nil }
        if config.coldStart || cards.isEmpty || sim.executed > 0 {
            for i in cards { scheduleRegistration(pbx: i) }
        } else {
            let zero = sim.now
            sim.rewindClock(to: zero - World.warmUp)
            warmingUp = true
            for i in cards { scheduleRegistration(pbx: i) }
            run(until: zero)
            warmingUp = false
            lastEventTime = nil
            lastModelEventTime = nil
            for i in cards {
                guard let card = pbxs[i].card else { continue }
                let actor = pbxs[i].cardActor
                if let t = card.registration.registeredWith {
                    let until = card.registration.registeredUntil
                    step(.registration, actor, "warm start: registered at \(t.hostPort) until \(until) (as on a running site; cold_start: true to watch the boot)",
                         fields: [StepField("event", "warm-start"), StepField("registered_at", t.hostPort), StepField("until_ns", until.ns)])
                } else {
                    step(.registration, actor, "warm start: not registered (card \(card.state.rawValue)); the registration goes on",
                         fields: [StepField("event", "warm-start"), StepField("card_state", card.state.rawValue)])
                }
            }
        }
        startTraffic()
    }
}
