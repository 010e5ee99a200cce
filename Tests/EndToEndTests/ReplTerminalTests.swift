import Testing
import Foundation

/// Drives `pbxsim repl` on a pseudo-terminal through tmux: line editing, tab completion and
/// history are libedit's, so they only exist on a terminal. `.ci/run` installs tmux.
@Suite(.serialized) struct ReplTerminalTests {
    let session = "pbxsim-test-\(getpid())"

    /// Runs tmux. Only `capture-pane` output is read: the tmux server that `new-session` starts
    /// would hold a pipe open forever, so other commands write to /dev/null.
    @discardableResult
    func tmux(_ args: String...) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["tmux"] + args
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        if args.first == "capture-pane" {
            let o = Pipe()
            p.standardOutput = o
            try p.run()
            let d = o.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: d, as: UTF8.self)
        }
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return ""
    }

    /// Polls the pane until `text` shows up (generous timeout; the assertion is about content,
    /// not speed).
    func waitFor(_ text: String, timeout: Double = 20) throws -> String {
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
        // Dialled at 0 s, before PBX-2 registered: the carrier answers 404 and the call fails.
        _ = try waitFor("call 1  PBX-1/1000 -> 012-345-1011  failed via sip")
        _ = try tmux("send-keys", "-t", session, "C-d")
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !FileManager.default.fileExists(atPath: history) { Thread.sleep(forTimeInterval: 0.1) }
        let saved = try String(contentsOfFile: history, encoding: .utf8)
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
}
