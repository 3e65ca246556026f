/// Endpoints in the system configuration: the root task creates each endpoint of `/endpoints`, and a
/// task holds one only if its node says so — in which slot and with which rights:
///
///     endpoints { ping-pong { }; };
///     tasks {
///         pong { module = "pong"; endpoints { ping-pong { slot = <5>; rights = "receive"; }; }; };
///         ping { module = "ping"; endpoints { ping-pong { slot = <5>; rights = "send"; }; }; };
///     };
///
/// Rights are `send` (send and call), `receive` (wait, reply-wait), `grant` (capabilities may travel)
/// and `control`. A task's copy carries its task number as badge, which it cannot change (a badged
/// capability takes no other badge: Capability.copied), so a server knows which task calls.
extension SystemConfiguration {
    public static let maximumEndpoints = 8
    /// The slots configured endpoints go into: 1-4 and 7-15 are the root task's (task, thread, factory,
    /// report, console, interrupts, a daemon's stop endpoint), and tasks use 16 and up for their own objects.
    public static let endpointSlots: ClosedRange<UInt64> = 5...6

    /// One endpoint a task holds: which (an index into the configuration's endpoints), where, what rights.
    public struct EndpointGrant {
        public var endpoint: Int
        public var slot: UInt64
        public var rights: Rights

        public init(endpoint: Int, slot: UInt64, rights: Rights) {
            self.endpoint = endpoint
            self.slot = slot
            self.rights = rights
        }
    }

    /// The names in `/endpoints` (none without that node), in order.
    static func endpointNames(_ tree: DeviceTree) -> Result<(InlineArray<8, ByteString>, Int), Failure> {
        var names = InlineArray<8, ByteString>(repeating: ByteString(UnsafeRawBufferPointer(start: nil, count: 0)))
        var count = 0
        guard let list = tree.child("endpoints", of: tree.root) else { return .success((names, 0)) }
        var failure: Failure?
        tree.forEach(in: list, property: { _, _ in
            if failure == nil { failure = Failure(path: "/endpoints", reason: "unknown property") }
        }, child: { node in
            guard failure == nil else { return }
            let name = tree.name(of: node)
            let path: LogLine = "/endpoints/\(name)"
            var empty = true
            tree.forEach(in: node, property: { _, _ in empty = false }, child: { _ in empty = false })
            if !empty {
                failure = Failure(path: path, reason: "an endpoint node has no properties or children")
            } else if count == SystemConfiguration.maximumEndpoints {
                failure = Failure(path: path, reason: "more than 8 endpoints")
            } else if SystemConfiguration.index(of: name, in: names, count: count) != nil {
                failure = Failure(path: path, reason: "declared twice")
            } else {
                names[count] = name
                count += 1
            }
        })
        if let failure { return .failure(failure) }
        return .success((names, count))
    }

    static func index(of name: ByteString, in names: InlineArray<8, ByteString>, count: Int) -> Int? {
        for index in 0..<count where names[index].equals(name) { return index }
        return nil
    }

    /// Reads a task's `endpoints` node into `task`; a failure names the endpoint's node in `child`.
    static func endpointGrants(_ tree: DeviceTree, _ node: DeviceTree.Node, into task: inout Task,
                               names: InlineArray<8, ByteString>, count: Int) -> StaticFailure? {
        var failure: StaticFailure?
        tree.forEach(in: node, property: { _, _ in
            if failure == nil { failure = StaticFailure("unknown property or child node") }
        }, child: { child in
            guard failure == nil else { return }
            let name = tree.name(of: child)
            switch grant(tree, child, name: name, names: names, count: count) {
            case .success(let grant):
                for index in 0..<task.endpointCount where task.endpoints[index].slot == grant.slot {
                    failure = StaticFailure("two endpoints in one slot", child: name)
                    return
                }
                task.endpoints[task.endpointCount] = grant    // at most one per slot: there is room
                task.endpointCount += 1
            case .failure(let problem):
                failure = StaticFailure(problem.reason, child: name)
            }
        })
        return failure
    }

    private static func grant(_ tree: DeviceTree, _ node: DeviceTree.Node, name: ByteString,
                              names: InlineArray<8, ByteString>, count: Int) -> Result<EndpointGrant, StaticFailure> {
        guard let endpoint = index(of: name, in: names, count: count) else {
            return .failure(StaticFailure("not an endpoint declared in /endpoints"))
        }
        var slot: UInt64?
        var rights: Rights?
        var bad: StaticString?
        tree.forEach(in: node, property: { key, value in
            if key.equals("slot") {
                guard value.count == 4, let cell = DeviceTree.cell(value, 0), endpointSlots.contains(UInt64(cell)) else {
                    bad = "slot must be one cell, 5 or 6"
                    return
                }
                slot = UInt64(cell)
            } else if key.equals("rights") {
                rights = parseRights(value)
                if rights == nil { bad = "rights must be one or more of \"send\", \"receive\", \"grant\", \"control\"" }
            } else {
                bad = "unknown property or child node"
            }
        }, child: { _ in bad = "unknown property or child node" })
        if let bad { return .failure(StaticFailure(bad)) }
        guard let slot else { return .failure(StaticFailure("no slot property")) }
        guard let rights else { return .failure(StaticFailure("no rights property")) }
        return .success(EndpointGrant(endpoint: endpoint, slot: slot, rights: rights))
    }

    /// A string list ("send", "receive", ...) as rights; nil if it is empty, unterminated or names another.
    static func parseRights(_ value: UnsafeRawBufferPointer) -> Rights? {
        guard value.count > 0, value[value.count - 1] == 0 else { return nil }
        var rights: Rights = []
        var start = 0
        for end in 0..<value.count where value[end] == 0 {
            let word = ByteString(UnsafeRawBufferPointer(rebasing: value[start..<end]))
            start = end + 1
            if word.equals("send") { rights.insert(.send) }
            else if word.equals("receive") { rights.insert(.receive) }
            else if word.equals("grant") { rights.insert(.grant) }
            else if word.equals("control") { rights.insert(.control) }
            else { return nil }
        }
        return rights
    }
}
