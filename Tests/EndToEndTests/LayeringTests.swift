import Testing
import Foundation

/// Layering you can see (issue 9 item 7): every target of Package.swift lists exactly the modules
/// of this package (and the products) its sources import, so the dependency graph in the manifest
/// and in docs/architecture.md is the real one.
@Suite struct LayeringTests {
    /// Modules that come with the toolchain or the system, never listed.
    static let system: Set<String> = ["Foundation", "FoundationXML", "FoundationEssentials", "Glibc", "Darwin", "Dispatch", "Synchronization", "Testing", "XCTest"]

    struct Target { var name: String; var path: String; var dependencies: Set<String> }

    /// The targets of the manifest, read from its text (`.target(name:dependencies:path:)` and kin).
    static func targets() throws -> [Target] {
        let text = try String(contentsOfFile: packageRoot.appendingPathComponent("Package.swift").path, encoding: .utf8)
        let decl = try Regex(#"\.(target|testTarget|executableTarget)\(name: "([^"]+)"(.*?)\)\s*,\s*$"#).anchorsMatchLineEndings()
        var out: [Target] = []
        // One declaration may span lines: join each declaration onto one line first.
        let joined = text.replacingOccurrences(of: ",\n            ", with: ", ").replacingOccurrences(of: "[\n            ", with: "[")
            .replacingOccurrences(of: ",\n        ]", with: "]")
        for m in joined.matches(of: decl) {
            let kind = String(m.output[1].substring ?? ""), name = String(m.output[2].substring ?? ""), rest = String(m.output[3].substring ?? "")
            var deps = Set<String>()
            for d in rest.matches(of: #/"([A-Za-z]+)"/#) { deps.insert(String(d.output.1)) }
            for p in rest.matches(of: #/\.product\(name: "([A-Za-z]+)"/#) { deps.insert(String(p.output.1)) }
            var path = kind == "testTarget" ? "Tests/\(name)" : "Sources/\(name)"
            if let p = rest.firstMatch(of: #/path: "([^"]+)"/#) { path = String(p.output.1); deps.remove(path.split(separator: "/").last.map(String.init) ?? "") }
            deps.remove(name)
            deps = deps.filter { !$0.contains("/") && $0 != "swift" }
            out.append(Target(name: name, path: path, dependencies: deps))
        }
        return out
    }

    static func imports(under dir: String) throws -> Set<String> {
        var found = Set<String>()
        let root = packageRoot.appendingPathComponent(dir)
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return found }
        for case let url as URL in e where url.pathExtension == "swift" {
            for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
            where line.hasPrefix("import ") || line.hasPrefix("@testable") {
                if let m = line.firstMatch(of: #/^(?:@testable\s+)?import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z_]+)/#) {
                    found.insert(String(m.output.1))
                }
            }
        }
        return found.subtracting(system)
    }

    @Test func everyTargetListsExactlyWhatItImports() throws {
        let targets = try LayeringTests.targets()
        #expect(Set(targets.map(\.name)).isSuperset(of: ["SimCore", "SIP", "Telephony", "PBXSimCLI", "pbxsim", "EndToEndTests", "LiveTests", "TestSupport"]), "read \(targets.map(\.name)) from Package.swift")
        for t in targets {
            let imported = try LayeringTests.imports(under: t.path)
            if imported.isEmpty && FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent(t.path + "/module.modulemap").path) { continue }
            #expect(imported == t.dependencies, "\(t.name): imports \(imported.sorted()), lists \(t.dependencies.sorted())")
        }
    }
}
