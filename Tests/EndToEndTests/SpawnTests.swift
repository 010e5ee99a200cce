import Testing
import Foundation
import TestSupport

/// The helper that starts tmux, SIPp and Kamailio in tests: a started program inherits no
/// descriptor of the test process (a pipe another test holds open must not be kept open by it).
@Suite struct SpawnTests {
    @Test func childrenInheritOnlyTheStandardDescriptors() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)  // plain pipe(): no close-on-exec, as Foundation's Pipe makes them
        defer { close(fds[0]); close(fds[1]) }
        let r = try Spawn.run("/bin/sh", ["-c", "ls /proc/$$/fd"], scratch: tempDirectory)
        #expect(r.status == 0)
        let open = r.output.split(separator: "\n").compactMap { Int32($0) }.sorted()
        #expect(open == [0, 1, 2], "the child had \(open) open; the test process's pipe is \(fds)")
    }

    @Test func statusAndOutput() throws {
        let r = try Spawn.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], scratch: tempDirectory)
        #expect(r.status == 3)
        #expect(r.output == "out\nerr\n")
        let killed = try Spawn.run("/bin/sh", ["-c", "kill -TERM $$"], scratch: tempDirectory)
        #expect(killed.status == 128 + SIGTERM)
    }
}
