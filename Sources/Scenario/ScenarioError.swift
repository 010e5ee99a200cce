/// An invalid input, located precisely: file, line, column and the key path.
public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// Dotted key path, e.g. `pbxs[0].v_sipgw.invite_timeout`.
    public var key: String
    public var message: String

    public init(file: String, line: Int?, column: Int?, key: String, message: String) {
        self.file = file; self.line = line; self.column = column; self.key = key; self.message = message
    }

    public var description: String {
        var loc = file
        if let l = line { loc += ":\(l)" }
        if let c = column { loc += ":\(c)" }
        return key.isEmpty ? "\(loc): \(message)" : "\(loc): \(key): \(message)"
    }
}
