import Yams
import SimCore

/// Writes a scenario back out: the original topology with a new timeline (and `until`), as the
/// REPL's `save` needs. Comments of the original are not kept; everything else is.
public enum ScenarioWriter {
    public static func write(source: String, name: String?, timeline: [(at: SimTime, text: String)], until: SimTime?) throws -> String {
        guard case .mapping(let original)? = try Yams.compose(yaml: source) else {
            throw ScenarioError(file: "", line: nil, column: nil, key: "", message: "the scenario is not a mapping")
        }
        var pairs: [(Node, Node)] = []
        for (k, v) in original {
            let key = k.string ?? ""
            if ["timeline", "expect", "until"].contains(key) { continue }
            if key == "name", let name { pairs.append((k, Node(name))); continue }
            pairs.append((k, v))
        }
        var m = Node.Mapping(pairs)
        var entries: [Node] = []
        for t in timeline {
            var e = Node.Mapping([(Node("at"), Node(t.at.durationString)), (Node("do"), Node(t.text, Tag(.str), .doubleQuoted))])
            e.style = .flow
            entries.append(.mapping(e))
        }
        m[Node("timeline")] = .sequence(Node.Sequence(entries))
        if let until { m[Node("until")] = Node(until.durationString) }
        return try Yams.serialize(node: .mapping(m), width: 100)
    }
}
