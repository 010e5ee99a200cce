import CLibEdit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where REPL lines come from.
protocol LineReader {
    /// The next line, or nil at end of input (Ctrl-D).
    mutating func readLine(prompt: String) -> String?
    mutating func addHistory(_ line: String)
    func saveHistory()
}

/// Plain line reading for pipes and files: no prompt, no editing.
struct PlainLineReader: LineReader {
    mutating func readLine(prompt: String) -> String? { Swift.readLine(strippingNewline: true) }
    mutating func addHistory(_ line: String) {}
    func saveHistory() {}
}

/// Words offered by tab completion; set by the session before each prompt.
nonisolated(unsafe) var completionWords: [String] = []
nonisolated(unsafe) var completionMatches: [String] = []

/// libedit's readline-compatible interface: line editing, persistent history, tab completion.
struct LibEditLineReader: LineReader {
    let historyPath: String

    init(historyPath: String) {
        self.historyPath = historyPath
        pbxsim_set_readline_name("pbxsim")
        using_history()
        pbxsim_stifle_history(1000)
        _ = read_history(historyPath)
        pbxsim_set_completion_function { text, _, _ in
            // Match the word under the cursor against the session's words.
            let prefix = text.map { String(cString: $0) } ?? ""
            completionMatches = completionWords.filter { $0.hasPrefix(prefix) }
            if completionMatches.isEmpty { return nil }
            return rl_completion_matches(text) { _, state in
                let i = Int(state)
                guard i < completionMatches.count else { return nil }
                return strdup(completionMatches[i])
            }
        }
    }

    mutating func readLine(prompt: String) -> String? {
        guard let p = CLibEdit.readline(prompt) else {
            // libedit gives up the line on SIGINT: Ctrl-C at the prompt clears the line, it does
            // not end the session (only Ctrl-D does).
            if interruptFlag.load(ordering: .relaxed) {
                interruptFlag.store(false, ordering: .relaxed)
                print("")
                return ""
            }
            return nil
        }
        defer { free(p) }
        return String(cString: p)
    }

    mutating func addHistory(_ line: String) {
        add_history(line)
    }

    func saveHistory() { _ = write_history(historyPath) }
}
