import Scenario

/// Tab completion by position, from the command grammar: commands only in first position; after
/// a command, what its usage says comes next (hosts, PBX/ext, status codes, call numbers, DNS
/// names and faults, file names). Pure, so it is tested without a terminal.
struct Completer {
    var hosts: [String]
    var sipServers: [String]
    var extensions: [String]
    var dnsNames: [String]
    var calls: [Int]
    var files: (String) -> [String] = { _ in [] }

    /// Every command of the session, once, sorted.
    static var commands: [String] {
        Array(Set(CommandParser.commandNames + ReplSession.sessionCommands.map(\.name))).sorted()
    }

    /// The candidates for the word `prefix` preceded by `before` (the words already typed).
    func candidates(before: [String], prefix: String) -> [String] {
        let list: [String]
        if before.isEmpty {
            list = Completer.commands
        } else {
            let cmd = before[0].lowercased(), n = before.count // n = index of the word being completed
            switch cmd {
            case "down", "up", "refuse": list = hosts
            case "partition": list = hosts.filter { !before.contains($0) } + (n > 1 && !before.contains("|") ? ["|"] : [])
            case "respond": list = n == 1 ? sipServers : n == 2 ? ["100", "404", "408", "480", "486", "500", "503", "603", "normal"] : n == 3 ? ["retry-after"] : []
            case "dns": list = n == 1 ? dnsNames : n == 2 ? ["servfail", "nxdomain", "timeout", "normal"] : []
            case "latency", "loss": list = n == 2 ? hosts : []
            case "dial": list = n == 1 ? extensions : n == 3 ? ["hold"] : []
            case "busy", "idle", "unanswered", "absent": list = n == 1 ? extensions : []
            case "hangup": list = n == 1 ? calls.map(String.init) + ["callee"] : n == 2 ? ["callee", "caller"] : []
            case "trace": list = n == 1 ? calls.map(String.init) : []
            case "flow": list = n == 1 ? calls.map(String.init) : n == 2 ? ["--svg"] : n == 3 ? files(prefix) : []
            case "save", "report": list = n == 1 ? files(prefix) : []
            case "verbose": list = n == 1 ? ["on", "off"] : []
            case "run": list = n == 1 ? ["until"] : []
            case "help": list = n == 1 ? Completer.commands : []
            default: list = []
            }
        }
        var seen = Set<String>()
        return list.filter { $0.hasPrefix(prefix) && seen.insert($0).inserted }
    }
}
