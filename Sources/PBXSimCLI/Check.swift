import ArgumentParser
import CLibEdit
import Scenario

extension PBXSim {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate scenario and sweep files without running them: every error of each file at once.",
            discussion: """
                Each error names file, line, column and key path, says what was expected, and suggests the \
                closest valid key for a misspelt one. References to hosts, PBXs, extensions, trunk groups and \
                telephone companies that are not declared are errors. Nothing is run and no database is \
                touched. Exit status: 0 every file is valid, 2 at least one is not.
                """)

        @Argument(help: "Scenario or sweep files (YAML) or directories (every *.yaml below them, sorted).")
        var paths: [String]

        @Flag(name: .shortAndLong, help: "Print only the errors and the tally, not a line per valid file.")
        var quiet = false

        func run() throws {
            pbxsim_line_buffer_stdout()
            var bad = 0, total = 0, errorCount = 0
            for path in expandScenarioPaths(paths) {
                total += 1
                let errors = Self.errors(of: path)
                if errors.isEmpty {
                    if !quiet { print("ok    \(path)") }
                    continue
                }
                bad += 1
                errorCount += errors.count
                print("FAIL  \(path): \(errors.count) error\(errors.count == 1 ? "" : "s")")
                for e in errors { print("  \(e)") }
            }
            if total == 0 {
                printError("error: no scenario files (*.yaml) in \(paths.joined(separator: ", "))")
                throw ExitStatus(code: 2)
            }
            print(bad == 0 ? "\(total) file\(total == 1 ? "" : "s") checked: all valid"
                           : "\(total) file\(total == 1 ? "" : "s") checked: \(total - bad) valid, \(bad) with \(errorCount) error\(errorCount == 1 ? "" : "s")")
            if bad > 0 { throw ExitStatus(code: 2) }
        }

        /// Every error of one file: reading (missing, directory, not UTF-8, a database), YAML syntax,
        /// and the scenario's (or the sweep's) own rules.
        static func errors(of path: String) -> [ScenarioError] {
            let file: (text: String, hash: String)
            do { file = try readTextFile(path, what: "a scenario or sweep file (YAML)") } catch let e as ScenarioError { return [e] } catch {
                return [ScenarioError(file: path, line: nil, column: nil, key: "", message: "\(error)")]
            }
            if SweepLoader.looksLikeSweep(file.text) {
                do {
                    _ = try SweepLoader.load(path: path, text: file.text, readFile: { try? readTextFile($0, what: "a scenario file (YAML)").text })
                    return []
                } catch let e as ScenarioError { return [e] } catch {
                    return [ScenarioError(file: path, line: nil, column: nil, key: "", message: "\(error)")]
                }
            }
            return ScenarioLoader.check(path: path, text: file.text)
        }
    }
}
