import ArgumentParser
import CLibEdit
import Live
import Routing
import Scenario
import SIP
import Store
import Telephony
import SimCore
import Trace
#if canImport(Glibc)
import Glibc
#endif

extension PBXSim {
    struct LiveCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "live",
            abstract: "Drive one PBX's V-SIPGW card against real SIP servers over UDP or TCP, with the simulation's own cores.",
            discussion: """
            Registers with the scenario's registrar, places the timeline's dial commands as real INVITEs \
            with the same timers, failover order, Retry-After blocklist and reroute decision as the \
            simulation, and records everything in the same tables (run.tool = 'live'). No PSTN is dialled: \
            a reroute is recorded as a decision. Sends only to the addresses the scenario names; needs \
            --yes for any that is neither loopback nor private. Ctrl-C hangs up, unregisters (Expires: 0) \
            and exits with 130. See docs/live.md.
            Exit status: 0 done (with --compare: prediction and measurement agree), 1 they differ, \
            2 invalid input or a scenario live mode cannot drive, 3 the trace could not be written, 130 Ctrl-C.
            """)

        @Argument(help: "The scenario file (YAML).")
        var scenario: String

        @OptionGroup(title: "Trace database")
        var database: TraceDatabaseOptions
        var db: String { database.db }

        @Option(help: "The PBX whose card is driven (default: the first PBX with a v_sipgw card).")
        var pbx: String?

        @Option(help: "Local address IP:PORT of the card's socket (default: the PBX's host address when this machine has it, else 127.0.0.1, port 5060).")
        var local: String?

        @Flag(help: "Resolve names with the system resolver (/etc/resolv.conf) instead of the scenario's dns: records.")
        var systemDns = false

        @Option(help: "With --system-dns: ask this DNS server (IPv4 IP[:PORT], default port 53) instead of /etc/resolv.conf's.")
        var dnsServer: String?

        @Flag(help: "Allow addresses that are neither loopback nor private.")
        var yes = false

        @Flag(help: "Also run the simulation of the scenario and print, per call, the predicted and measured instant of each attempt, failover and reroute.")
        var compare = false

        @Option(help: "With --compare: largest difference that still agrees, in milliseconds.")
        var toleranceMs: Int = 250

        @Option(help: "Stop after this long (wall time, e.g. 2m) even with work pending.")
        var maxDuration: String?

        @Flag(name: .shortAndLong, help: "Print only the call summary lines, not their steps.")
        var quiet = false

        func run() throws {
            pbxsim_line_buffer_stdout()
            let s: Scenario
            do { s = try loadScenario(scenario) } catch let e as ScenarioError { printError("error: \(e)"); throw ExitStatus(code: 2) }
            let card: (pbx: PBXConfig, card: CardConfig)
            do { card = try LiveCard.validate(s, pbxName: pbx) } catch let e as LiveError { printError("error: \(e)"); throw ExitStatus(code: 2) }
            var maxNs: Int64?
            if let m = maxDuration {
                guard let d = SimTime.parseDuration(m) else { printError("error: --max-duration: expected a duration like 90s or 2m, got '\(m)'"); throw ExitStatus(code: 2) }
                maxNs = d.ns
            }
            let localEP = try localEndpoint(s, card.pbx)
            let store = try openTraceStore(db, maxSize: database.maxDbSize)
            let memory = MemoryTraceSink()
            let console = ConsoleTraceSink(style: .detect(), quiet: quiet, verbose: !quiet)
            var resolver: LiveResolver = ScenarioResolver(config: s.world)
            if let d = dnsServer {
                let (ip, port) = splitHostPort(d)
                guard ServerAddress.isIPv4(ip), !d.hasPrefix("[") else {
                    printError("error: --dns-server: expected an IPv4 address with an optional port (e.g. 127.0.0.53:5353), got '\(d)'"); throw ExitStatus(code: 2)
                }
                guard systemDns else { printError("error: --dns-server needs --system-dns (the scenario's records are answered in memory)"); throw ExitStatus(code: 2) }
                guard AddressScope.of(ip).isLocal || yes else {
                    printError("error: --dns-server \(ip) is neither loopback nor private; start with --yes if you mean it"); throw ExitStatus(code: 2)
                }
                resolver = SystemResolver(server: (ip, d.contains(":") ? port : 53))
            } else if systemDns {
                resolver = SystemResolver()
            }
            let options = LiveCard.Options(local: localEP, resolver: resolver,
                                           maxDurationNs: maxNs, allowPublic: yes)
            // The card is made (and its safety checks run) before the run row exists.
            let runID: Int64
            let live: LiveCard
            let sqlSink: SQLiteTraceSink
            do {
                let pending = FanOutTraceSink([])
                live = try LiveCard(scenario: s, pbxName: card.pbx.name, options: options, sink: pending)
                runID = try store.beginRun(.init(scenario: s.name, seed: s.seed, startedAt: startedAtTimestamp(), scenarioFile: s.file,
                                                 scenarioHash: s.sourceHash ?? contentHash(s.source), version: PBXSim.version, tool: "live"))
                var hosts = ScenarioRunner.hostRoles(s.world)
                if !hosts.contains(where: { $0.ip == live.localEndpoint.ip }) { hosts.append(("\(card.pbx.name) (live)", live.localEndpoint.ip, "pbx")) }
                try store.recordHosts(runID, hosts)
                try store.recordProvenance(runID, params: s.runParams + [("trace_level", "full"), ("live_local", live.localEndpoint.description),
                                                                         ("live_resolver", options.resolver.label), ("live_pbx", card.pbx.name)],
                                           pbxConfigs: ScenarioRunner.pbxConfigJSON(s.world))
                sqlSink = try store.makeSink(runID: runID)
                pending.sinks = [sqlSink, console, memory]
            } catch let e as LiveError {
                printError("error: \(e)"); throw ExitStatus(code: 2)
            } catch let e as SocketTransport.SocketError {
                printError("error: \(e)"); throw ExitStatus(code: 2)
            }
            print(console.style.bold("== live: \(s.name) (\(s.file)), \(card.pbx.name)'s V-SIPGW at \(live.localEndpoint), run \(runID) in \(db)"))
            installStopHandlers()
            live.run(shouldStop: stopRequested)
            let interrupted = stopRequested()
            let endUs = (memory.events.map { e -> Int64 in
                switch e { case .step(let x): return x.atNs; case .sipMessage(let x): return x.atNs; case .callEnded(let x): return x.endedAtNs ?? x.placedAtNs }
            }.max() ?? 0) / 1000
            do { try sqlSink.flush() } catch {
                printError("error: " + writeFailure(error, store: store, db: db, maxDbSize: database.maxDbSize) + "; the trace of live run \(runID) is incomplete")
                try? store.finishRun(runID, status: "trace-error", endedAtUs: endUs, calls: live.finished.count)
                throw ExitStatus(code: 3)
            }
            for w in live.warnings { print("warning: \(w)") }
            let outcomes = Dictionary(grouping: live.finished, by: { $0.outcome.rawValue }).map { "\($0.key) \($0.value.count)" }.sorted()
            print("\(live.finished.count) call(s): \(outcomes.isEmpty ? "none" : outcomes.joined(separator: ", ")); trace in \(db), run \(runID) (tool live)")
            var status: Int32 = 0
            if compare && !interrupted {
                let sim = MemoryTraceSink()
                _ = ScenarioRunner.run(s, sink: sim)
                let cmp = Comparison(predicted: sim.steps, predictedCalls: sim.calls.filter { $0.pbx == card.pbx.name },
                                     measured: memory.steps, measuredCalls: memory.calls)
                print("prediction (simulation of the same scenario) against measurement (live):")
                print(cmp.render())
                if !cmp.agrees(toleranceNs: Int64(toleranceMs) * 1_000_000) {
                    print("prediction and measurement differ by more than \(toleranceMs) ms or in outcome")
                    status = 1
                }
            }
            try store.finishRun(runID, status: interrupted ? "interrupted" : "completed", endedAtUs: endUs, calls: live.finished.count)
            if interrupted {
                printError("stopped by \(stopStatus().name): calls hung up, the card unregistered; the run is marked interrupted in \(db)")
                throw ExitStatus(code: stopStatus().code)
            }
            if status != 0 { throw ExitStatus(code: status) }
        }

        /// `--local`, else the PBX's own address when a socket can be bound to it, else 127.0.0.1.
        func localEndpoint(_ s: Scenario, _ p: PBXConfig) throws -> Endpoint {
            if let l = local {
                let (ip, port) = splitHostPort(l)
                guard ServerAddress.isIP(ip), l.contains(":") || ServerAddress.isIPv4(l) else {
                    printError("error: --local: expected IP:PORT (e.g. 127.0.0.1:5070), got '\(l)'"); throw ExitStatus(code: 2)
                }
                return Endpoint(ip: ip, port: port)
            }
            let hostIP = s.world.hosts.first { $0.name == p.host }?.ip ?? p.host
            if ServerAddress.isIP(hostIP), (try? SocketTransport(local: Endpoint(ip: hostIP, port: 0))) != nil {
                return Endpoint(ip: hostIP, port: 5060)
            }
            return Endpoint(ip: "127.0.0.1", port: 5060)
        }
    }
}
