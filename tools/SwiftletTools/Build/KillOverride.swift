import Foundation

/// `swiftlet run --kill-every NODE=MS`: the root task kills the task of node NODE on purpose every MS
/// milliseconds, for one run (a test of supervision by hand: the node must have restart-on-failure, or
/// the root task refuses the configuration, naming the node). A device-tree overlay that includes the
/// configuration and sets `kill-every-ms` in the task's node, so the root task checks it like any other.
public struct KillOverride: Sendable, Hashable {
    public var node: String
    public var milliseconds: Int

    public init(node: String, milliseconds: Int) {
        self.node = node
        self.milliseconds = milliseconds
    }

    /// Parses NODE=MS; a node name as device trees spell them, a period the configuration accepts.
    public init(argument: String) throws {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-")
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 31, parts[0].allSatisfy(allowed.contains),
              let milliseconds = Int(parts[1]) else {
            throw SwiftletError.invalidArgument("--kill-every \(argument): expected NODE=MS, a task node's name and a period in milliseconds")
        }
        guard (10...3_600_000).contains(milliseconds) else {
            throw SwiftletError.invalidArgument("--kill-every \(argument): the period must be 10 to 3600000 ms")
        }
        self.init(node: parts[0], milliseconds: milliseconds)
    }

    /// The overlay's device-tree source: `base` (an absolute path) included, then each kill's node changed.
    public static func overlay(including base: String, kills: [KillOverride]) -> String {
        let nodes = kills.map { "        \($0.node) {\n            kill-every-ms = <\($0.milliseconds)>;\n        };" }
        return """
            /* Written by swiftlet: the configuration with tasks killed on purpose for one run. */
            /include/ \(VirtualMachineOverride.quoted(base))

            / {
                tasks {
            \(nodes.joined(separator: "\n"))
                };
            };

            """
    }
}
