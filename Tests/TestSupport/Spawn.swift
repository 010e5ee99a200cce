import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Starting helper programs from tests without the traps of `Process` and `popen`.
///
/// Tests run in parallel in one process, so every pipe one test opens is inherited by every
/// program another test starts at that moment (and by what that program starts: a tmux server,
/// Kamailio's children). A reader waiting for the end of such a pipe then waits for an unrelated
/// program to exit; a CI run saw a REPL test time out that way while a live test's peers ran.
/// Programs started here get no descriptor but 0, 1 and 2 (`closefrom` before `exec`), no blocked
/// signal and the default action for the signals tests send, their own process group, and their
/// output in a file rather than a pipe: waiting for them is `waitpid`, never the end of a pipe.
public enum Spawn {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not export; nil on an older C library.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let sym = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `path` with `args`: stdin from /dev/null, stdout and stderr appended to `output`.
    public static func start(_ path: String, _ args: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let addCloseFrom { _ = addCloseFrom(&actions, 3) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var dflt = sigset_t()
        sigemptyset(&dflt)
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&dflt, sig) }
        posix_spawnattr_setsigdefault(&attr, &dflt)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        guard rc == 0 else { throw Failure(description: "cannot start \(path): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits for a started program's exit; its status (128 + signal when killed).
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7F == 0 { return (status >> 8) & 0xFF }
        return 128 + (status & 0x7F)
    }

    /// Runs a program to its end; its status and what it printed (stdout and stderr together).
    /// `scratch` is a directory for the output file.
    public static func run(_ path: String, _ args: [String], scratch: String) throws -> (status: Int32, output: String) {
        let file = scratch + "/spawn-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue).out"
        defer { unlink(file) }
        let status = wait(try start(path, args, output: file))
        return (status, readFile(file))
    }

    static func readFile(_ path: String) -> String {
        guard let f = fopen(path, "r") else { return "" }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n > 0 { out.append(contentsOf: buf[0..<n]) }
            if n < buf.count { break }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Where a program is on the usual paths, or nil.
    public static func tool(_ name: String) -> String? {
        for d in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin"] where access("\(d)/\(name)", X_OK) == 0 {
            return "\(d)/\(name)"
        }
        return nil
    }

    private static let counter = Atomic<Int>(0)
}
