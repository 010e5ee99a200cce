import Testing
import Foundation
import Store

/// Drives `pbxsim repl` on a pseudo-terminal through tmux: line editing, tab completion and
/// history are libedit's, so they only exist on a terminal. `.ci/run` installs tmux.
@Suite(.serialized) struct ReplTerminalTests {
    let session = "pbxsim-test-\(getpid())"

    /// Runs tmux on its own socket through popen/pclose, which wait for the command with waitpid
    /// (Foundation's Process can miss the exit of a command as short-lived as a tmux client).
    /// Standard input and error go to /dev/null; the output is returned.
    @discardableResult
    func tmux(_ args: String...) throws -> String {
        let quoted = (["tmux", "-L", "pbxsim-tests"] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        guard let f = popen(quoted.joined(separator: " ") + " </dev/null 2>/dev/null", "r") else { return "" }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { out.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        pclose(f)
        return String(decoding: out, as: UTF8.self)
    }

    /// Polls the pane until `text` shows up (generous timeout; the assertion is about content,
    /// not speed).
    func waitFor(_ text: String, timeout: Double = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var pane = ""
        while Date() < deadline {
            pane = try tmux("capture-pane", "-p", "-t", session)
            if pane.contains(text) { return pane }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("timed out waiting for \(text.debugDescription); pane:\n\(pane)")
        return pane
    }

    @Test func historyRecallAndTabCompletion() throws {
        let history = tempPath("history.txt")
        let db = tempPath("pty.sqlite")
        let bin = packageRoot.appendingPathComponent(".build/debug/pbxsim").path
        _ = try tmux("kill-session", "-t", session)
        _ = try tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                     "env PBXSIM_HISTORY=\(history) NO_COLOR=1 \(bin) repl --db \(db); sleep 30")
        defer { _ = try? tmux("kill-session", "-t", session) }
        _ = try waitFor("pbxsim 0.000s>")

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
        let deadline = Date().addingTimeInterval(20)
        var saved = ""
        while Date() < deadline {
            saved = (try? String(contentsOfFile: history, encoding: .utf8)) ?? ""
            if saved.contains("status") && saved.contains("run") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(saved.contains("status"))
        #expect(saved.contains("dial\\040PBX-1/1000\\040012-345-1011") || saved.contains("dial PBX-1/1000 012-345-1011"))

        // A new session reads the history back: Up shows the last line of the previous one.
        _ = try tmux("kill-session", "-t", session)
        _ = try tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                     "env PBXSIM_HISTORY=\(history) NO_COLOR=1 \(bin) repl --db \(db); sleep 30")
        _ = try waitFor("pbxsim 0.000s>")
        _ = try tmux("send-keys", "-t", session, "Up")
        _ = try waitFor("pbxsim 0.000s> calls")
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
        let deadline = Date().addingTimeInterval(20)
        var status: String?
        while Date() < deadline {
            status = (try? SQLiteDatabase(path: db, readOnly: true).rows("SELECT status FROM run"))?.first?.first ?? nil
            if status == "completed" { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(status == "completed")
    }
}
