import Testing
import Foundation
import Scenario

/// `pbxsim check` (issue 12 item 4) and `scenarios/schema.json` (item 5).
@Suite struct CheckAndSchemaTests {
    static let broken = """
        name: broken
        network:
          hosts:
            pbx1: 192.0.2.1
            sip1: 192.0.2.10
        sip_servers:
          - host: sip1
            domian: itsp.example
        pbxs:
          - name: PBX-1
            host: pbx1
            extensions:
              - number: "1000"
            v_sipgw:
              sip_server: 192.0.2.10
              invite_timout: 4s
              t1: 500
        timeline:
          - at: 2x
            do: dial 1000 0123451011
          - at: 3s
            do: down sip9
        expect:
          - call: 1
            outcome: answerd

        """

    @Test func everyErrorOfAFileAtOnceWithLineColumnKeyAndSuggestion() throws {
        let errors = ScenarioLoader.check(path: "broken.yaml", text: Self.broken)
        let lines = errors.map(\.description)
        #expect(lines.contains("broken.yaml:8:5: sip_servers[0].domian: unknown key 'domian'; did you mean domain? (expected one of: domain, host, pstn_gateway, respond, retry_after)"))
        #expect(lines.contains { $0.hasPrefix("broken.yaml:16:7: pbxs[0].v_sipgw.invite_timout: unknown key 'invite_timout'; did you mean invite_timeout?") })
        #expect(lines.contains("broken.yaml:17:11: pbxs[0].v_sipgw.t1: expected a duration such as 500ms, 4s or 2m, got '500'"))
        #expect(lines.contains("broken.yaml:19:9: timeline[0].at: expected a duration such as 500ms, 4s or 2m, got '2x'"))
        #expect(lines.contains("broken.yaml:22:9: timeline[1].do: unknown host 'sip9'"))
        #expect(lines.contains { $0.hasPrefix("broken.yaml:25:14: expect[0].outcome: unknown outcome 'answerd'") })
        // In file order.
        let ls = errors.compactMap(\.line)
        #expect(ls == ls.sorted())
        // A normal load stops at the first error, as `run` always did.
        #expect(throws: ScenarioError.self) { try ScenarioLoader.load(path: "broken.yaml", text: Self.broken) }
    }

    /// One parser for the card parameters (issue 9 item 7): a sweep's `vary` value and a
    /// scenario's `v_sipgw` value are refused with the same words.
    @Test func sweepsAndScenariosJudgeCardValuesAlike() throws {
        let dir = tempPath("card-params")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (key, value, words) in [("t1", "500", "expected a duration such as 500ms, 4s or 2m, got '500'"),
                                    ("failback", "sometimes", "failback must be new-requests, registration, dns-ttl or 'duration DURATION', got 'sometimes'"),
                                    ("invite_timeout", "0s", "must be positive (or rfc)")] {
            let seed = try String(contentsOfFile: scenarioPath("seed-example.yaml"), encoding: .utf8)
            let scenario = seed.replacingOccurrences(of: "      invite_timeout: 4s\n", with: "      invite_timeout: 4s\n      \(key == "invite_timeout" ? "failover_timer_register" : key): \(value)\n")
                .replacingOccurrences(of: "failover_timer_register: 0s\n      failover_timer_register: 4s", with: "failover_timer_register: 0s")
            try scenario.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
            let sweep = "name: s\nbase: \(scenarioPath("seed-example.yaml"))\nvary:\n  \(key): {choice: [\"\(value)\"]}\n"
            try sweep.write(toFile: dir + "/sw.yaml", atomically: true, encoding: .utf8)
            let a = try runCLI(["check", dir + "/s.yaml"])
            let b = try runCLI(["generate", dir + "/sw.yaml", "--runs", "1", "--db", dir + "/sw.sqlite"])
            #expect(a.status == 2 && b.status == 2)
            if key != "invite_timeout" { #expect(a.out.contains(words), "\(a.out)") }
            #expect(b.err.contains(words), "\(b.err)")
        }
    }

    @Test func bundledScenariosAreValid() throws {
        for f in try bundledScenarioFiles() {
            let text = try String(contentsOfFile: scenarioPath(f), encoding: .utf8)
            #expect(ScenarioLoader.check(path: f, text: text).isEmpty, "\(f)")
        }
    }

    @Test func checkCommandTalliesAndExits() throws {
        let dir = tempPath("check")
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try Self.broken.write(toFile: dir + "/sub/broken.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: scenarioPath("seed-example.yaml"), toPath: dir + "/seed.yaml")
        try Data([0x6E, 0x61, 0x6D, 0x65, 0x3A, 0x20, 0xFF, 0x0A]).write(to: URL(fileURLWithPath: dir + "/latin1.yaml"))
        try "name: x\nnetwork: [\n".write(toFile: dir + "/syntax.yaml", atomically: true, encoding: .utf8)
        let r = try runCLI(["check", dir, dir + "/missing.yaml"])
        #expect(r.status == 2)
        #expect(r.out.contains("ok    \(dir)/seed.yaml"))
        #expect(r.out.contains("FAIL  \(dir)/sub/broken.yaml: 7 errors"), "\(r.out)")
        #expect(r.out.contains("\(dir)/latin1.yaml: not UTF-8 text: invalid byte 0xFF at byte offset 6"))
        #expect(r.out.contains("\(dir)/syntax.yaml:3:1: not valid YAML: a value is missing here: a [list] or {mapping} that is never closed"), "\(r.out)")
        #expect(r.out.contains("\(dir)/missing.yaml: no such file"))
        #expect(r.out.contains("5 files checked: 1 valid, 4 with 10 errors"), "\(r.out)")
        // A valid directory passes with 0, sweeps included; nothing is written anywhere.
        let ok = try runCLI(["check", packageRoot.appendingPathComponent("scenarios").path, packageRoot.appendingPathComponent("sweeps").path], cwd: dir)
        #expect(ok.status == 0, "\(ok.out)")
        #expect(ok.out.contains("all valid"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/pbxsim.sqlite"))
    }

    /// The keys of every mapping the loader reads equal the schema's properties at that place, so
    /// every key the loader rejects is absent from the schema and every key it accepts is present.
    @Test func schemaAndLoaderAgreeOnEveryKey() throws {
        let schemaData = try Data(contentsOf: packageRoot.appendingPathComponent("scenarios/schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: schemaData) as? [String: Any])
        var mappings: [String: Set<String>] = [:]
        for f in try bundledScenarioFiles() {
            let text = try String(contentsOfFile: scenarioPath(f), encoding: .utf8)
            let (errors, m) = ScenarioLoader.checkCollecting(path: f, text: text)
            #expect(errors.isEmpty)
            mappings.merge(m) { $0.union($1) }
        }
        // The one expectation form no bundled scenario uses (pinning would tie them to every fix).
        let pinned = "network: {hosts: {p: 192.0.2.1}}\npbxs: [{name: P, host: p}]\nexpect:\n  - fingerprint: fp64:0123456789abcdef\n"
        let (pe, pm) = ScenarioLoader.checkCollecting(path: "pinned.yaml", text: pinned)
        #expect(pe.isEmpty)
        mappings.merge(pm) { $0.union($1) }
        #expect(mappings.count >= 30, "the bundled scenarios exercise most sections (\(mappings.count))")
        var visited = Set<String>()
        for (path, allowed) in mappings.sorted(by: { $0.key < $1.key }) {
            let segments = path.isEmpty ? [] : Self.segments(path)
            let found = Self.resolve(schema, segments, root: schema, trail: "#", visited: &visited)
            let props = try #require(found, "schema has no object at \(path)")
            #expect(props == allowed, "at '\(path)': schema \(props.subtracting(allowed).sorted()) extra, \(allowed.subtracting(props).sorted()) missing")
        }
        // And no object of the schema goes unchecked: each was reached from a loader path.
        // (An object identical to a reached one, such as the seven weekday lists of a plan, counts.)
        var all: [String: String] = [:]
        Self.objects(schema, trail: "#", root: schema, into: &all)
        let reachedShapes = Set(visited.compactMap { all[$0] })
        let unreached = all.filter { !visited.contains($0.key) && !reachedShapes.contains($0.value) }.keys.sorted()
        #expect(unreached.isEmpty, "schema objects no loader path reached: \(unreached)")
    }

    @Test func everyBundledScenarioValidatesWithJSONSchemaValidator() throws {
        guard pythonHas("jsonschema, yaml") else { return }
        let script = """
            import json, sys, yaml, jsonschema
            def keys(x):
                if isinstance(x, dict): return {str(k): keys(v) for k, v in x.items()}
                if isinstance(x, list): return [keys(v) for v in x]
                return x
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            v = jsonschema.Draft202012Validator(schema)
            bad = 0
            for f in sys.argv[2:]:
                for e in v.iter_errors(keys(yaml.safe_load(open(f)))):
                    print(f, list(e.path), e.message); bad += 1
            print("checked", len(sys.argv) - 2, "errors", bad)
            """
        let files = try bundledScenarioFiles().map(scenarioPath)
        let r = try runProgram("/usr/bin/env", ["python3", "-c", script, packageRoot.appendingPathComponent("scenarios/schema.json").path] + files)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("checked \(files.count) errors 0"), "\(r.out)")
        // And the validator is not a rubber stamp: a misspelt key is caught.
        let dir = tempPath("schema-neg")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.broken.write(toFile: dir + "/b.yaml", atomically: true, encoding: .utf8)
        let n = try runProgram("/usr/bin/env", ["python3", "-c", script, packageRoot.appendingPathComponent("scenarios/schema.json").path, dir + "/b.yaml"])
        #expect(n.out.contains("'domian' was unexpected"), "\(n.out)")
        #expect(n.out.contains("'invite_timout' was unexpected"))
    }

    // MARK: helpers

    func bundledScenarioFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("scenarios").path).filter { $0.hasSuffix(".yaml") }.sorted()
    }

    func pythonHas(_ modules: String) -> Bool {
        let ok = (try? runProgram("/usr/bin/env", ["python3", "-c", "import \(modules)"]).status) == 0
        if !ok {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("CI is set but python3 lacks \(modules) (.ci/run installs them)") }
            else { print("skipping the JSON Schema validation: pip install jsonschema pyyaml") }
        }
        return ok
    }

    /// `pbxs[].v_sipgw` -> ["pbxs", "[]", "v_sipgw"]; names with dots stay split (resolve joins them back).
    static func segments(_ path: String) -> [String] {
        var out: [String] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var p = String(part)
            var n = 0
            while p.hasSuffix("[]") { p.removeLast(2); n += 1 }
            out.append(p)
            out += Array(repeating: "[]", count: n)
        }
        return out
    }

    /// The set of property names of the schema object at a loader path (the union over anyOf
    /// branches), following $ref, items, properties, patternProperties and additionalProperties.
    static func resolve(_ node: [String: Any], _ segs: ArraySlice<String>, root: [String: Any], trail: String, visited: inout Set<String>) -> Set<String>? {
        let node = deref(node, root: root)
        if let any = node["anyOf"] as? [[String: Any]] {
            var acc: Set<String>?
            for (i, b) in any.enumerated() {
                if let s = resolve(b, segs, root: root, trail: trail + "/anyOf/\(i)", visited: &visited) { acc = (acc ?? []).union(s) }
            }
            return acc
        }
        guard let first = segs.first else {
            guard node["type"] as? String == "object", let props = node["properties"] as? [String: Any] else { return nil }
            #expect(node["additionalProperties"] as? Bool == false, "\(trail) must reject unknown keys")
            visited.insert(trail)
            return Set(props.keys)
        }
        if first == "[]" {
            guard let items = node["items"] as? [String: Any] else { return nil }
            return resolve(items, segs.dropFirst(), root: root, trail: trail + "/items", visited: &visited)
        }
        if let props = node["properties"] as? [String: Any], let p = props[first] as? [String: Any] {
            return resolve(p, segs.dropFirst(), root: root, trail: trail + "/" + first, visited: &visited)
        }
        // A map with names of its own (hosts, records, carriers, plans): the name may hold dots.
        for n in 1...segs.count {
            let name = segs.prefix(n).joined(separator: ".")
            var sub: [String: Any]?
            if let pats = node["patternProperties"] as? [String: Any] {
                for (pat, v) in pats where name.range(of: pat, options: .regularExpression) != nil { sub = v as? [String: Any] }
            }
            if sub == nil { sub = node["additionalProperties"] as? [String: Any] }
            if let sub, let r = resolve(sub, segs.dropFirst(n), root: root, trail: trail + "/*", visited: &visited) { return r }
        }
        return nil
    }

    /// The node a `$ref` points at (within the schema), or the node itself.
    static func deref(_ node: [String: Any], root: [String: Any]) -> [String: Any] {
        guard let ref = node["$ref"] as? String, ref.hasPrefix("#/") else { return node }
        var n: Any = root
        for k in ref.dropFirst(2).split(separator: "/") { n = (n as? [String: Any])?[String(k)] as Any }
        return n as? [String: Any] ?? [:]
    }

    /// Every object with properties in the schema, named as `resolve` names them.
    static func objects(_ node: [String: Any], trail: String, root: [String: Any], into out: inout [String: String]) {
        let node = deref(node, root: root)
        if let any = node["anyOf"] as? [[String: Any]] {
            for (i, b) in any.enumerated() { objects(b, trail: trail + "/anyOf/\(i)", root: root, into: &out) }
            return
        }
        if let items = node["items"] as? [String: Any] { objects(items, trail: trail + "/items", root: root, into: &out) }
        if let props = node["properties"] as? [String: Any] {
            if node["type"] as? String == "object", node["additionalProperties"] as? Bool == false,
               let shape = try? JSONSerialization.data(withJSONObject: node, options: [.sortedKeys]) {
                out[trail] = String(decoding: shape, as: UTF8.self)
            }
            for (k, v) in props { if let v = v as? [String: Any] { objects(v, trail: trail + "/" + k, root: root, into: &out) } }
        }
        for case let (_, v as [String: Any]) in (node["patternProperties"] as? [String: Any]) ?? [:] { objects(v, trail: trail + "/*", root: root, into: &out) }
        if let v = node["additionalProperties"] as? [String: Any] { objects(v, trail: trail + "/*", root: root, into: &out) }
    }

    static func resolve(_ node: [String: Any], _ segs: [String], root: [String: Any], trail: String, visited: inout Set<String>) -> Set<String>? {
        resolve(node, segs[...], root: root, trail: trail, visited: &visited)
    }
}
