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

/// What tab completion offers; set by the session before each prompt.
nonisolated(unsafe) var completer = Completer(hosts: [], sipServers: [], extensions: [], dnsNames: [], calls: [])
nonisolated(unsafe) var completionMatches: [String] = []

/// File names in the directory of a partial path (for save, report, flow --svg).
func fileCompletions(_ prefix: String) -> [String] {
    let slash = prefix.lastIndex(of: "/")
    let dir = slash.map { String(prefix[...$0]) } ?? ""
    guard let d = opendir(dir.isEmpty ? "." : dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasPrefix(".") { continue }
        out.append(dir + name + (e.pointee.d_type == UInt8(DT_DIR) ? "/" : ""))
    }
    return out.sorted()
}

/// libedit's readline-compatible interface: line editing, persistent history, tab completion.
struct LibEditLineReader: LineReader {
    let historyPath: String

    init(historyPath: String) {
        self.historyPath = historyPath
        pbxsim_set_readline_name("pbxsim")
        using_history()
        pbxsim_stifle_history(1000)
        _ = read_history(historyPath)
        pbxsim_set_completion_function { text, start, _ in
            // The words before the one under the cursor decide what may come here.
            let prefix = text.map { String(cString: $0) } ?? ""
            let line = pbxsim_line_buffer().map { String(cString: $0) } ?? ""
            let head = String(line.utf8.prefix(Int(start))) ?? ""
            let before = head.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            completionMatches = completer.candidates(before: before, prefix: prefix)
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
