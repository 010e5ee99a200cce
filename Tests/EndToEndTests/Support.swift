import Foundation
import Synchronization
import Scenario
import Store
import Trace

/// The package root, found from this file's path.
let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func scenarioPath(_ name: String) -> String { packageRoot.appendingPathComponent("scenarios/\(name)").path }

func loadBundled(_ name: String) throws -> Scenario {
    let path = scenarioPath(name)
    return try ScenarioLoader.load(path: path, text: try String(contentsOfFile: path, encoding: .utf8))
}

/// Runs a scenario into an in-memory sink.
func runMemory(_ s: Scenario, seed: UInt64? = nil) -> (RunResult, MemoryTraceSink) {
    let sink = MemoryTraceSink()
    let r = ScenarioRunner.run(s, seed: seed, sink: sink, keepAll: true)
    return (r, sink)
}

/// This test process's scratch directory.
let tempDirectory: String = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pbxsim-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.path
}()

private let tempCounter = Atomic<Int>(0)

/// A fresh path ending in `name` that no other call returns: tests run in parallel, and two of
/// them asking for "f.sqlite" must not share (or delete) one file.
func tempPath(_ name: String) -> String {
    let dir = tempDirectory + "/\(tempCounter.add(1, ordering: .relaxed).newValue)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir + "/" + name
}

/// Runs the built `pbxsim` binary.
func runCLI(_ args: [String], cwd: String? = nil, env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = packageRoot.appendingPathComponent(".build/debug/pbxsim")
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    var e = ProcessInfo.processInfo.environment
    e["NO_COLOR"] = "1"
    // Content assertions read whole lines; width tests set COLUMNS themselves.
    e["COLUMNS"] = "1000"
    for (k, v) in env { e[k] = v }
    p.environment = e
    let o = Pipe(), r = Pipe()
    p.standardOutput = o
    p.standardError = r
    try p.run()
    let od = o.fileHandleForReading.readDataToEndOfFile()
    let ed = r.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
}

/// Runs a program (not pbxsim) with arguments, optionally in a directory; returns its status and output.
func runProgram(_ path: String, _ args: [String], cwd: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let o = Pipe(), e = Pipe()
    p.standardOutput = o
    p.standardError = e
    try p.run()
    let od = o.fileHandleForReading.readDataToEndOfFile(), ed = e.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
}
