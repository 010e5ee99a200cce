import SimCore
import SIP
import Trace

extension World {
    /// Executes one command of the shared command language.
    public func execute(_ c: Command) {
        switch c {
        case .dial(let ref, let number, let hold):
            dial(ref, number: number, hold: hold)
        case .down(let hosts):
            for h in hosts { setHost(h, "down", change: "down") { $0.up = false; $0.refusesSIP = false } }
            network.dropConnections(of: hosts)
            for (i, p) in pbxs.enumerated() where hosts.contains(where: { network.index(of: $0) == network.index(of: p.ip) }) {
                setCardState(pbx: i, .fault, reason: "own network unreachable")
            }
        case .up(let hosts):
            for h in hosts { setHost(h, "up", change: "up") { $0.up = true; $0.refusesSIP = false } }
            for (i, p) in pbxs.enumerated() where hosts.contains(where: { network.index(of: $0) == network.index(of: p.ip) }) {
                if p.card?.state == .fault {
                    setCardState(pbx: i, .ins, reason: "network reachable again")
                    if p.card?.registration.active == false, p.card?.config.registrar != nil {
                        scheduleRegistration(pbx: i)
                    }
                }
            }
        case .refuse(let hosts):
            for h in hosts { setHost(h, "up, SIP port closed (refuses)", change: "refuse") { $0.up = true; $0.refusesSIP = true } }
            network.dropConnections(of: hosts)
        case .partition(let a, let b):
            network.partition(a, b)
            func names(_ hs: [String]) -> String { hs.map { network.host($0)?.name ?? $0 }.joined(separator: ", ") }
            step(.hostState, "network", "partition: \(names(a)) | \(names(b)) (both sides up, nothing passes between them)",
                 fields: [StepField("subject", "network"), StepField("change", "partition"), StepField("side_a", names(a)), StepField("side_b", names(b))])
        case .heal:
            network.heal()
            step(.hostState, "network", "heal: every partition removed", fields: [StepField("subject", "network"), StepField("change", "heal")])
        case .respond(let host, let code, let retryAfter):
            guard let ip = network.ip(of: host), let s = sipServers.first(where: { $0.ip == ip }) else {
                commandErrors.append("respond: \(host) is not a SIP server"); return
            }
            s.respond = code.map { RespondMode(code: $0, retryAfter: retryAfter) }
            let what = code.map { c in c == RespondMode.silentCode ? "reads new requests and stays silent" : "answers new requests with \(c)" + (retryAfter.map { " Retry-After \($0.durationString)" } ?? "") } ?? "answers normally"
            var fields = [StepField("subject", network.name(ofIP: ip)), StepField("change", "respond")]
            if let c = code { fields.append(StepField("code", c)) }
            if let ra = retryAfter { fields.append(StepField("retry_after_ns", ra.ns)) }
            step(.hostState, network.name(ofIP: ip), what, fields: fields)
        case .dns(let name, let fault):
            guard dnsServer != nil else { commandErrors.append("dns: no DNS server"); return }
            dnsServer!.faults[name] = fault == .normal ? nil : fault
            step(.hostState, "dns", "\(name): \(fault.rawValue)",
                 fields: [StepField("subject", "dns"), StepField("change", "dns"), StepField("name", name), StepField("fault", fault.rawValue)])
        case .latency(let d, let host):
            if let h = host {
                setHost(h, "one-way latency \(d.durationString)", change: "latency", extra: [StepField("latency_ns", d.ns)]) { $0.latency = d }
            } else {
                network.latency = d
                step(.hostState, "network", "one-way latency \(d.durationString)",
                     fields: [StepField("subject", "network"), StepField("change", "latency"), StepField("latency_ns", d.ns)])
            }
        case .loss(let pct, let host):
            if let h = host {
                setHost(h, "loss \(pct)%", change: "loss", extra: [StepField("loss_pct", pct)]) { $0.loss = pct / 100 }
            } else {
                network.loss = pct / 100
                step(.hostState, "network", "loss \(pct)%", fields: [StepField("subject", "network"), StepField("change", "loss"), StepField("loss_pct", pct)])
            }
        case .phone(let ref, let mode):
            guard let (pi, e) = findExtension(ref) else { commandErrors.append("no extension \(ref)"); return }
            e.mode = mode
            step(.hostState, "\(pbxs[pi].name)/\(e.number)", "phone \(mode.rawValue == "normal" ? "idle (normal)" : mode.rawValue)",
                 fields: [StepField("subject", "\(pbxs[pi].name)/\(e.number)"), StepField("change", "phone"), StepField("mode", mode.rawValue)])
        case .hangup(let id, true):
            let ids = id.map { [$0] } ?? callIndex.keys.sorted()
            for i in ids {
                guard let call = call(i), !call.recorded else { continue }
                guard call.answeredAt != nil else {
                    if id != nil { commandErrors.append("hangup \(i) callee: call \(i) is not answered; only its caller can give it up") }
                    continue
                }
                calleeHangsUp(call)
            }
        case .hangup(let id, false):
            let ids = id.map { [$0] } ?? callIndex.keys.sorted()
            for i in ids {
                withCall(i) { p, call, ctx in
                    guard !call.recorded else { return }
                    if call.answeredAt != nil { p.hangup(call, ctx) } else {
                        // Before a final response: CANCEL (now, or at the first provisional), and
                        // any failover in progress stops.
                        p.cancelPendingInvite(call, ctx)
                        p.end(call, outcome: .abandoned, reason: .callerHungUp, ctx)
                    }
                }
            }
        }
    }

    /// The called side of an answered call hangs up. Over SIP, the far PBX sends BYE (a non-INVITE
    /// client transaction) to the caller's Contact, and the caller's PBX ends the call when it
    /// arrives; on the public network (and at a carrier's gateway), the release reaches the
    /// caller's PBX at once.
    func calleeHangsUp(_ call: Call) {
        if call.route == .sip, publicNetwork.origin(of: call.id) == nil,
           pbxs.indices.contains(where: { pbxs[$0].uas.hangUp(call: call.id, uasContext($0)) }) {
            return
        }
        step(.callEnded, answeredParty[call.id] ?? "far end", "the called side hangs up (public network release)", call: call.id,
             fields: [StepField("side", "callee"), StepField("event", "hangup")])
        pbxs[call.pbx].farEndReleased(call, callerContexts[call.pbx])
    }

    private func setHost(_ h: String, _ what: String, change kind: String, extra: [StepField] = [], _ change: (inout Host) -> Void) {
        if network.update(h, change) {
            let name = network.host(h)!.name
            step(.hostState, name, what, fields: [StepField("subject", name), StepField("change", kind)] + extra)
        } else {
            commandErrors.append("no host \(h)")
        }
    }
}
