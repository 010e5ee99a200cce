import Testing
import Foundation
import Store
import TestSupport

/// Drives `pbxsim repl` on a pseudo-terminal through tmux: line editing, tab completion and
/// history are libedit's, so they only exist on a terminal. `.ci/run` installs tmux.
@Suite(.serialized) struct ReplTerminalTests {
    let session = "pbxsim-test-\(getpid())"

    /// Runs tmux on its own socket, started through `Spawn` and waited for with waitpid: its
    /// output goes to a file, so no other test's program can hold the end of a pipe open (a CI
    /// run lost 60 s on one `capture-pane` that way). Standard error is part of the output.
    @discardableResult
    func tmux(_ args: String...) throws -> String {
        guard let path = Spawn.tool("tmux") else { throw Spawn.Failure(description: "tmux is not installed (apt-get install tmux)") }
        // A tmux server of this test process alone (no other run's server, alive or exiting).
        return try Spawn.run(path, ["-L", "pbxsim-tests-\(getpid())"] + args, scratch: tempDirectory).output
    }

    /// Waits for `text` in the pane (generous timeout; the assertion is about content, not
    /// speed); a timeout is recorded with the pane and its processes.
    func waitFor(_ text: String, in target: String? = nil, timeout: Double = 120) throws -> String {
        let target = target ?? session
        let (found, pane) = try poll(text, in: target, timeout: timeout)
        if !found { Issue.record("timed out waiting for \(text.debugDescription); pane:\n\(pane)\n\(diagnostics(target))") }
        return pane
    }

    /// Whether `text` shows up in the pane within `timeout` (nothing recorded either way).
    func prompted(_ text: String, timeout: Double = 120) throws -> Bool { try poll(text, in: session, timeout: timeout).found }

    /// Polls the pane until `text` shows up or `timeout` passes; the pane is captured once more
    /// after the deadline, so a slow capture can never make a stale pane the verdict.
    func poll(_ text: String, in target: String, timeout: Double) throws -> (found: Bool, pane: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let late = Date() >= deadline
            let pane = try tmux("capture-pane", "-p", "-t", target)
            if pane.contains(text) { return (true, pane) }
            if late { return (false, pane) }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// What the pane's processes are doing (state, kernel wait channel, command), for a timeout's
    /// message: a test that fails here says why.
    func diagnostics(_ target: String) -> String {
        let pid = ((try? tmux("display-message", "-p", "-t", target, "#{pane_pid}")) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !pid.isEmpty, let ps = Spawn.tool("ps") else { return "no pane process (tmux: \(pid))" }
        let tree = (try? Spawn.run(ps, ["-e", "-o", "pid,ppid,pgid,stat,wchan:24,etime,args"], scratch: tempDirectory).output) ?? ""
        var wanted: Set<String> = [pid], lines: [String] = []
        for line in tree.split(separator: "\n").map(String.init) {
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if f.count > 2, wanted.contains(f[0]) || wanted.contains(f[1]) { wanted.insert(f[0]); lines.append(line) }
        }
        return "pane pid \(pid); its processes:\n" + lines.joined(separator: "\n")
    }

    @Test func historyRecallAndTabCompletion() throws {
        let history = tempPath("history.txt")
        let db = tempPath("pty.sqlite")
        let bin = packageRoot.appendingPathComponent(".build/debug/pbxsim").path
        _ = try tmux("kill-session", "-t", session)
        defer { _ = try? tmux("kill-session", "-t", session) }
        // The first prompt: in about one full-suite run in six on this machine (and once in CI) the
        // pane stayed blank for over 120 s, for a reason not found yet. One more start is allowed
        // then, with the pane's processes printed so that the cause shows in the log; a second
        // blank start fails the test.
        var started = false
        for attempt in 1...2 where !started {
            _ = try tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                         "env PBXSIM_HISTORY=\(history) NO_COLOR=1 \(bin) repl --db \(db)-\(attempt); sleep 30")
            started = try prompted("pbxsim 0.000s>")
            if !started {
                print("ReplTerminalTests: no REPL prompt after 120 s (attempt \(attempt)); \(diagnostics(session))")
                _ = try tmux("kill-session", "-t", session)
            }
        }
        guard started else {
            Issue.record("the REPL showed no prompt in two starts of 120 s")
            return
        }

        // Tab completes a command name, then a PBX/extension.
        _ = try tmux("send-keys", "-t", session, "dia", "Tab")
        _ = try waitFor("pbxsim 0.000s> dial")
        // The completion added a space after "dial": type the extension prefix right away.
        _ = try tmux("send-keys", "-t", session, "PBX-1/10", "Tab")
        _ = try waitFor("pbxsim 0.000s> dial PBX-1/1000")
        _ = try tmux("send-keys", "-t", session, "012-345-1011", "Enter")
        _ = try waitFor("call-placed       dials 012-345-1011")

        // Up arrow recalls the previous line; editing it and Enter runs the edited line.
        _ = try tmux("send-keys", "-t", session, "stat", "Tab", "Enter")
        _ = try waitFor("network: latency 10ms")
        _ = try tmux("send-keys", "-t", session, "Up", "Up")
        _ = try waitFor("> dial PBX-1/1000 012-345-1011")
        _ = try tmux("send-keys", "-t", session, "C-u", "run", "Enter")
        _ = try waitFor("quiet at")
        // Ctrl-C at the prompt does not end the session; Ctrl-D does, saving the history.
        _ = try tmux("send-keys", "-t", session, "C-c")
        _ = try tmux("send-keys", "-t", session, "calls", "Enter")
        // Dialled at 0 s: with the warm start PBX-2 is already registered, so the call is answered
        // over SIP (before issue 10 item 6 it met a 404 from the carrier).
        _ = try waitFor("call 1  PBX-1/1000 -> 012-345-1011  answered via sip")
        _ = try tmux("send-keys", "-t", session, "C-d")
        // Wait for the whole file: it can exist, still empty, while the REPL writes it.
        let deadline = Date().addingTimeInterval(120)
        var saved = ""
        while Date() < deadline {
            saved = (try? String(contentsOfFile: history, encoding: .utf8)) ?? ""
            if saved.contains("status") && saved.contains("run") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(saved.contains("status"))
        #expect(saved.contains("dial\\040PBX-1/1000\\040012-345-1011") || saved.contains("dial PBX-1/1000 012-345-1011"))

        // A new session reads the history back: Up shows the last line of the previous one. It
        // starts before the first one is killed, so the tmux server never runs out of sessions
        // (and exits) between the two.
        let second = session + "-2"
        _ = try tmux("new-session", "-d", "-s", second, "-x", "200", "-y", "50",
                     "env PBXSIM_HISTORY=\(history) NO_COLOR=1 \(bin) repl --db \(tempPath("pty2.sqlite")); sleep 30")
        defer { _ = try? tmux("kill-session", "-t", second) }
        _ = try tmux("kill-session", "-t", session)
        _ = try waitFor("pbxsim 0.000s>", in: second)
        _ = try tmux("send-keys", "-t", second, "Up")
        _ = try waitFor("pbxsim 0.000s> calls", in: second)
    }

    /// Ctrl-C stops a long `run` at the current simulated time and returns to the prompt; the
    /// session goes on and ends normally.
    @Test func ctrlCInterruptsARun() throws {
        let scenario = tempPath("long.yaml")
        let text = try String(contentsOfFile: scenarioPath("public-trunk-overflow.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "calls: 600", with: "calls: 10000000")
        try text.write(toFile: scenario, atomically: true, encoding: .utf8)
        let db = tempPath("long.sqlite")
        let bin = packageRoot.appendingPathComponent(".build/debug/pbxsim").path
        _ = try tmux("kill-session", "-t", session)
        _ = try tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                     "env PBXSIM_HISTORY=\(tempPath("h2.txt")) NO_COLOR=1 \(bin) repl \(scenario) --db \(db); sleep 30")
        defer { _ = try? tmux("kill-session", "-t", session) }
        _ = try waitFor("pbxsim 0.000s>")
        _ = try tmux("send-keys", "-t", session, "run", "Enter")
        _ = try waitFor("call-ended")
        _ = try tmux("send-keys", "-t", session, "C-c")
        let pane = try waitFor("interrupted at")
        #expect(pane.contains("interrupted at"))
        _ = try tmux("send-keys", "-t", session, "quit", "Enter")
        // The session ended normally: its run row is closed.
        let deadline = Date().addingTimeInterval(120)
        var status: String?
        while Date() < deadline {
            status = (try? SQLiteDatabase(path: db, readOnly: true).rows("SELECT status FROM run"))?.first?.first ?? nil
            if status == "completed" { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(status == "completed")
    }
}
