import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The signal that asked a batch command (`run`, `generate`, `export`, `merge`) to stop: 0 while
/// none has. The handler only stores the number; the command checks it between events, commits
/// what is done, marks its run `interrupted` and exits with 128 + the signal (130, 143, 129).
let stopSignal = Atomic<Int32>(0)

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP, and unblocks the three signals (a parent
/// process may have started us with them blocked, as Foundation's Process does on Linux).
func installStopHandlers() {
    var set = sigset_t()
    sigemptyset(&set)
    for s in [SIGINT, SIGTERM, SIGHUP] {
        signal(s) { sig in stopSignal.store(sig, ordering: .relaxed) }
        sigaddset(&set, s)
    }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// Whether a stop was asked for.
func stopRequested() -> Bool { stopSignal.load(ordering: .relaxed) != 0 }

/// The exit status for the signal that stopped the command, and its name.
func stopStatus() -> (code: Int32, name: String) {
    let s = stopSignal.load(ordering: .relaxed)
    let name = s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : s == SIGHUP ? "SIGHUP" : "signal \(s)"
    return (128 + s, name)
}
