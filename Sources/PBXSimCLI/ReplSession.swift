import Synchronization
import Scenario
import Store
import Export
import Telephony
import Trace
import SimCore
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT: stops a running `run`/`advance` at the current simulated time. An atomic, so
/// the loop that polls it really reloads it and the signal handler may store to it.
let interruptFlag = Atomic<Bool>(false)

var interruptRequested: Bool {
    get { interruptFlag.load(ordering: .relaxed) }
    set { interruptFlag.store(newValue, ordering: .relaxed) }
}

/// An interactive session on one world: the shared command language plus session commands.
final class ReplSession {
    let scenario: Scenario
    let world: World
    let store: TraceStore
    let sink: SQLiteTraceSink
    let live: LiveTraceSink
    let runID: Int64
    let dbPath: String
    let style: TextStyle
    /// Commands typed in this session, with the simulated time they ran at (for `save`).
    var typed: [(at: SimTime, text: String)] = []
    /// Whether a command failed (the exit status when input is not a terminal).
    var failed = false
    var finished = false

    static let sessionCommands: [(name: String, usage: String, help: String)] = [
        ("advance", "advance DURATION", "let simulated time pass, printing steps as they happen"),
        ("run", "run [until TIME]", "run to the next quiet point (no call in progress, nothing pending), or to TIME"),
        ("step", "step [N]", "execute the next N events (default 1)"),
        ("status", "status", "cards (INS/OUS/Fault), registrations, trunks, extensions, hosts"),
        ("calls", "calls", "every call so far with its state or outcome"),
        ("trace", "trace CALL", "every step and SIP message of a call"),
        ("flow", "flow CALL [--svg FILE]", "the call as a ladder diagram (or written as SVG)"),
        ("dns", "dns NAME", "what the PBX resolvers have cached for NAME (with two words: the DNS fault command)"),
        ("verbose", "verbose on|off", "show every step (transaction states, retransmission timers) or the essential ones"),
        ("save", "save FILE", "write the session as a scenario file that pbxsim run replays to the same result"),
        ("report", "report FILE.html", "write an HTML report of the session so far (charts, summary, call flows)"),
        ("help", "help [COMMAND]", "list commands, or explain one"),
        ("quit", "quit", "end the session (Ctrl-D too)"),
    ]

    init(scenario: Scenario, seed: UInt64?, dbPath: String, style: TextStyle) throws {
        self.scenario = scenario
        self.style = style
        self.dbPath = dbPath
        store = try TraceStore(path: dbPath)
        let useSeed = seed ?? scenario.seed
        runID = try store.beginRun(.init(scenario: scenario.name, seed: useSeed, startedAt: startedAtTimestamp(),
                                         scenarioFile: scenario.file, scenarioHash: scenario.sourceHash ?? contentHash(scenario.source),
                                         version: PBXSim.version, tool: "repl"))
        try store.recordHosts(runID, ScenarioRunner.hostRoles(scenario.world))
        try store.recordProvenance(runID, params: scenario.runParams, pbxConfigs: ScenarioRunner.pbxConfigJSON(scenario.world))
        sink = try store.makeSink(runID: runID)
        live = LiveTraceSink(style: style)
        world = ScenarioRunner.makeWorld(scenario, seed: useSeed, sink: FanOutTraceSink([sink, live]))
    }

    var prompt: String { "pbxsim \(world.now.formatSeconds(precision: 3))> " }

    /// Words for tab completion at this point of the session.
    var completer: Completer {
        var c = Completer(hosts: world.network.hosts.map(\.name),
                          sipServers: world.sipServers.map { world.network.name(ofIP: $0.ip) },
                          extensions: world.pbxs.flatMap { p in p.extensions.keys.sorted().map { "\(p.name)/\($0)" } },
                          dnsNames: world.config.dns.map { $0.records.keys.sorted() } ?? [],
                          calls: world.callIDs.map(\.id))
        c.files = fileCompletions
        return c
    }

    func say(_ s: String) { print(s); flushOutput() }
    func fail(_ s: String, hint: String? = nil) {
        failed = true
        printError(style.red("error: ") + s + (hint.map { "\n" + style.dim("hint: " + $0) } ?? ""))
    }

    /// Makes the current instant a clean boundary before a command runs: if events already ran
    /// at this instant, finish the instant and move one nanosecond on, so the command lands after
    /// them here and in a replay of the saved scenario alike.
    func prepareForCommand() {
        if world.lastModelEventTime == world.now { world.run(until: world.now + .nanoseconds(1)) }
    }

    func commit() {
        do { try sink.flush() } catch { fail("writing the trace to \(dbPath) failed: \(error)") }
    }

    /// Handles one input line; returns false when the session should end.
    func handle(_ line: String) -> Bool {
        let text = line.trimming(" \t\r")
        if text.isEmpty || text.hasPrefix("#") { return true }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let name = words[0].lowercased()
        defer { commit() }
        switch name {
        case "quit", "exit":
            guard words.count == 1 else { fail("quit takes no argument", hint: "quit"); return true }
            return false
        case "help":
            guard words.count <= 2 else { fail("usage: help [COMMAND]", hint: "help dial"); return true }
            help(words.count > 1 ? words[1].lowercased() : nil)
        case "advance":
            guard words.count == 2, let d = SimTime.parseDuration(words[1]) else {
                let why = words.count == 2 ? SimTime.durationProblem(words[1]) : ""
                fail(why.hasPrefix("'") ? why : "advance needs one duration", hint: "advance 5s"); return true
            }
            // The session ends at the longest simulated time a run lasts.
            guard d <= SimTime.maxDuration - world.now else { fail("that goes past \(SimTime.maxDuration.durationString) (366 days), the end of simulated time"); return true }
            advance(to: world.now + d)
        case "run":
            if words.count == 1 {
                runToQuiet()
            } else if words.count == 3, words[1].lowercased() == "until", let t = SimTime.parseDuration(words[2]), t <= SimTime.maxDuration {
                guard t >= world.now else { fail("time \(t) is in the past (now \(world.now))"); return true }
                advance(to: t)
            } else {
                fail("usage: run [until TIME] (TIME at most \(SimTime.maxDuration.durationString))", hint: "run until 30s")
            }
        case "step":
            guard words.count <= 2, let n = words.count > 1 ? Int(words[1]) : 1, n > 0 else {
                fail("usage: step [N] with N a positive count", hint: "step 5"); return true
            }
            interruptRequested = false
            var done = 0
            while done < n, !interruptRequested, world.step(until: SimTime.maxDuration) { done += 1 }
            if interruptRequested { say(style.yellow("interrupted after \(done) event(s) at \(world.now)")); interruptRequested = false }
            if done == 0 { say(style.dim("no event pending")) }
        case "status":
            guard words.count == 1 else { fail("status takes no argument", hint: "status"); return true }
            for l in world.statusLines() { say(l) }
        case "calls":
            guard words.count == 1 else { fail("calls takes no argument", hint: "calls"); return true }
            listCalls()
        case "trace":
            guard words.count == 2, let id = Int(words[1]) else { fail("usage: trace CALL", hint: "trace 1"); return true }
            trace(id)
        case "flow":
            flow(words)
        case "verbose":
            guard words.count == 2, ["on", "off"].contains(words[1].lowercased()) else { fail("usage: verbose on|off"); return true }
            live.verbose = words[1].lowercased() == "on"
        case "report":
            guard words.count == 2 else { fail("usage: report FILE.html", hint: "report session.html"); return true }
            report(words[1])
        case "save":
            guard words.count == 2 else { fail("usage: save FILE", hint: "save my-session.yaml"); return true }
            save(words[1])
        case "dns" where words.count == 2:
            for l in world.dnsCacheLines(words[1]) { say(l) }
        default:
            do {
                let cmd = try CommandParser.parse(text)
                if let problem = validate(cmd) { fail(problem, hint: CommandParser.usage.first { $0.name == name }?.usage); return true }
                prepareForCommand()
                typed.append((world.now, CommandParser.format(cmd)))
                let errors = world.commandErrors.count
                world.executeNow(cmd)
                if world.commandErrors.count > errors { fail(world.commandErrors.last!) }
            } catch let e as CommandParser.ParseError {
                let known = (CommandParser.commandNames + ReplSession.sessionCommands.map(\.name)).contains(name)
                fail(e.message, hint: known ? e.hint : "type help for the list of commands")
            } catch {
                fail("\(error)")
            }
        }
        return true
    }

    /// Checks names against the topology before running a command: the same check as a
    /// scenario file's timeline.
    func validate(_ c: Command) -> String? { ScenarioLoader.problem(with: c, in: scenario.world) }

    func advance(to t: SimTime) {
        interruptRequested = false
        world.run(until: t) { interruptRequested }
        if interruptRequested { say(style.yellow("interrupted at \(world.now)")); interruptRequested = false }
    }

    func runToQuiet() {
        interruptRequested = false
        if world.isQuiet { say(style.dim("quiet: no call in progress and nothing pending")); return }
        world.runUntilQuiet(limit: SimTime.maxDuration) { interruptRequested }
        if interruptRequested {
            say(style.yellow("interrupted at \(world.now)"))
            interruptRequested = false
        } else if world.isQuiet {
            // Finish the instant so that the next command comes after everything that ran.
            world.run(until: world.now + .nanoseconds(1))
            say(style.dim("quiet at \(world.now)"))
        } else {
            say(style.dim("no more events at \(world.now)"))
        }
    }

    func listCalls() {
        let reader = TraceReader(db: store.db)
        let ended = (try? reader.calls(runID: runID)) ?? []
        let endedIDs = Set(ended.map(\.callID))
        if world.callCount == 0 { say(style.dim("no calls yet")); return }
        for id in 1...world.callCount {
            if let c = ended.first(where: { $0.callID == id }) {
                var s = "call \(id)  \(c.caller) -> \(c.dialed)  \(c.outcome)"
                if let cause = c.endCause { s += " (\(cause))" }
                if let r = c.route { s += " via \(r)" }
                if let a = c.answeredBy { s += " by \(a)" }
                if let d = c.setupDelayUs { s += "  setup \(SimTime.microseconds(d).formatSeconds(precision: 3))" }
                let targets = c.sipTargets.filter { $0 != "[" && $0 != "]" && $0 != "\"" }.replacingOccurrences(of: ",", with: ", ")
                if !targets.isEmpty { s += "  SIP targets \(targets)" }
                if c.rerouted { s += "  (rerouted)" }
                say(s)
            } else if !endedIDs.contains(id), let d = world.describeCall(id) {
                say(d + style.yellow("  in progress"))
            }
        }
    }

    func trace(_ id: Int) {
        guard id >= 1, id <= world.callCount else { fail("no call \(id)", hint: "calls lists them"); return }
        let reader = TraceReader(db: store.db)
        do {
            for r in try reader.rows(runID: runID, callID: id) {
                switch r {
                case .step(_, let t, let actor, let kind, let detail, _):
                    say("  \(ConsoleTraceSink.time(t))  \(ConsoleTraceSink.pad(actor, 22)) \(ConsoleTraceSink.pad(kind, 17)) \(detail)")
                case .message(_, let t, let src, let dst, let method, let status, _, let delivered, let re, _):
                    say("  \(ConsoleTraceSink.time(t))  \(ConsoleTraceSink.pad("network", 22)) \(ConsoleTraceSink.pad("sip", 17)) \(src) -> \(dst) \(method ?? String(status ?? 0))\(re ? " (retransmission)" : "")\(delivered ? "" : " [dropped]")")
                }
            }
        } catch { fail("reading the trace: \(error)") }
    }

    func flow(_ words: [String]) {
        guard words.count == 2 || (words.count == 4 && words[2] == "--svg"), let id = Int(words[1]) else {
            fail("usage: flow CALL [--svg FILE]", hint: "flow 1 --svg call1.svg"); return
        }
        let reader = TraceReader(db: store.db)
        do {
            guard let call = try reader.call(runID: runID, callID: id) ?? inProgressRow(id) else {
                fail("no call \(id)", hint: "calls lists them"); return
            }
            let ladder = Ladder.build(call: call, rows: try reader.rows(runID: runID, callID: id), hosts: try reader.hosts(runID: runID))
            if words.count == 4 {
                guard writeFile(words[3], ladder.renderSVG()) else { fail("cannot write \(words[3])"); return }
                say("wrote \(words[3])")
            } else {
                let width = terminalColumns()
                print(ladder.renderText(color: style.color, width: width), terminator: "")
                if !ladder.fits(width: width) { say(style.dim("(the diagram needs more than \(width) columns: flow \(id) --svg FILE draws it whole)")) }
                flushOutput()
            }
        } catch { fail("reading the trace: \(error)") }
    }

    /// A provisional call row for a call still in progress, so `flow` can draw it too.
    func inProgressRow(_ id: Int) -> TraceReader.CallRow? {
        guard let c = world.call(id) else { return nil }
        return TraceReader.CallRow(callID: id, caller: "\(world.pbxs[c.pbx].name)/\(c.callerExt)", dialed: c.dialed,
                                   placedAtUs: c.placedAt.microseconds, endedAtUs: nil, outcome: CallOutcome.inProgress.rawValue, route: c.route?.rawValue,
                                   answeredBy: c.answeredAt != nil ? world.answeredParty(of: id) : nil, setupDelayUs: nil, pbx: world.pbxs[c.pbx].name, sipAttempts: c.sipAttempts,
                                   sipTargets: "", rerouted: c.rerouted, finalCode: nil, cardState: nil)
    }

    /// The HTML report of this session's run so far: the trace is committed and the summary as
    /// of now stored first (calls still in progress are not in it yet).
    func report(_ path: String) {
        commit()
        do {
            try store.recordSummary(runID, world.summaries().flatMap { sm in sm.values.map { (sm.pbx, $0.0, $0.1) } })
            var r = try Report(db: store.db, runs: [runID])
            r.endUs = world.now.microseconds
            r.note = "The session so far, at simulated time \(world.now)" + (world.callsInProgress == 0 ? "." : "; \(world.callsInProgress) call(s) still in progress are not counted yet.")
            guard writeFile(path, try r.html()) else { fail("cannot write \(path)"); return }
            say("wrote \(path)")
        } catch { fail("cannot write the report: \(error)") }
    }

    func save(_ path: String) {
        var entries: [(at: SimTime, text: String)] = scenario.timeline.map { ($0.at, $0.text) }
        entries += typed
        // Stable by time: at one instant, the file's own commands first, then the typed ones, as
        // they were scheduled in the session.
        let ordered = entries.enumerated().sorted { a, b in a.element.at < b.element.at || (a.element.at == b.element.at && a.offset < b.offset) }.map(\.element)
        let until = world.lastEventTime == world.now ? world.now + .nanoseconds(1) : world.now
        do {
            let text = try ScenarioWriter.write(source: scenario.source, name: scenario.name + "-session", timeline: ordered, until: until)
            let header = "# Saved by pbxsim repl at simulated time \(world.now) (run \(runID) in \(dbPath)).\n# Replay: pbxsim run \(path)\n"
            guard writeFile(path, header + text) else { fail("cannot write \(path)"); return }
            say("saved \(ordered.count) command(s) and until: \(until.durationString) to \(path)")
        } catch { fail("cannot write the scenario: \(error)") }
    }

    func help(_ topic: String?) {
        let all = CommandParser.usage + ReplSession.sessionCommands
        if let t = topic {
            guard let c = all.first(where: { $0.name == t }) else { fail("no command '\(t)'", hint: "help lists them"); return }
            say("\(c.usage)\n  \(c.help)")
            return
        }
        // Usage and explanation side by side when they fit, else the explanation under the usage.
        let width = terminalColumns()
        func entry(_ usage: String, _ help: String) {
            if width >= 100 {
                say(wrapWords("  \(ConsoleTraceSink.pad(usage, 48)) \(help)", width: width, firstUsed: 0, indent: 51).joined(separator: "\n"))
            } else {
                say("  " + usage)
                say(wrapWords("      " + help, width: width, firstUsed: 0, indent: 6).joined(separator: "\n"))
            }
        }
        say("Commands that change the world (the same as in a scenario timeline):")
        for c in CommandParser.usage { entry(c.usage, c.help) }
        say("Session commands:")
        for c in ReplSession.sessionCommands { entry(c.usage, c.help) }
        say(wrapWords("Durations: 500ms, 4s, 2m. Tab completes commands, hosts, PBX/extensions and call numbers.", width: width, firstUsed: 0, indent: 0).joined(separator: "\n"))
    }

    /// Ends the session: commits the trace and closes the run row.
    func finish() {
        guard !finished else { return }
        finished = true
        // Calls still in progress get a row with what is known so far.
        world.recordCallsInProgress()
        commit()
        try? store.finishRun(runID, status: failed ? "failed" : "completed", endedAtUs: world.now.microseconds, calls: world.callCount)
    }
}

func writeFile(_ path: String, _ text: String) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    return fwrite(bytes, 1, bytes.count, f) == bytes.count
}
