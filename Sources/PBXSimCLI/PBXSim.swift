import ArgumentParser
import Trace
#if canImport(Glibc)
import Glibc
#endif

/// The `pbxsim` command line.
public struct PBXSim: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "pbxsim",
        abstract: "Simulate telephone calls through PBXs, a SIP trunk with server failover, and the public network.",
        version: version,
        subcommands: [Run.self, Check.self, Repl.self, LiveCommand.self, Flow.self, ExportCommand.self, ReportCommand.self, Generate.self, Merge.self, Prune.self]
    )

    public init() {}

    /// Entry point: exit status 0 success, 1 an expectation failed, 2 invalid input or usage.
    public static func entry() -> Never {
        do {
            var command = try parseAsRoot()
            try command.run()
            terminate(0)
        } catch let e as ExitStatus {
            terminate(e.code)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            printError(fullMessage(for: error))
            terminate(2)
        }
    }
}

/// Thrown by subcommands to end with a given status after printing their own messages.
struct ExitStatus: Error { var code: Int32 }

/// The trace database options shared by `run` and `live`: where the trace goes and how large the
/// file may grow.
struct TraceDatabaseOptions: ParsableArguments {
    @Option(help: "SQLite file to append the trace to.")
    var db: String = "pbxsim.sqlite"

    @Option(help: ArgumentHelp("Largest the database file may grow to (e.g. 500M, 20G; 0 for no limit). A run that would pass it stops with exit status 3; earlier runs stay intact.", valueName: "size"), transform: ByteSize.parse)
    var maxDbSize: ByteSize = defaultMaxDBSize
}

/// `--trace full|steps|calls`, checked by the argument parser (its error names the choices).
extension TraceLevel: ExpressibleByArgument {}
