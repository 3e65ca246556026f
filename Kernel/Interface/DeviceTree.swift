/// A flattened device tree (the DTB format dtc writes and libfdt reads; big-endian), checked once on
/// construction so that walking it afterwards never reads outside the blob. The system configuration
/// (which tasks start, with which rights) is one.
public struct DeviceTree {
    static let magic: UInt32 = 0xD00D_FEED
    static let beginNode: UInt32 = 1, endNode: UInt32 = 2, property: UInt32 = 3, nop: UInt32 = 4, end: UInt32 = 9

    let bytes: UnsafeRawBufferPointer
    let structureStart: Int
    let structureEnd: Int
    let stringsStart: Int
    let stringsEnd: Int

    public enum Failure: Error, Equatable {
        case badHeader, badStructure, badPropertyName, unbalancedNodes

        public var description: StaticString {
            switch self {
            case .badHeader: return "not a flattened device tree (bad magic, version or sizes)"
            case .badStructure: return "a token or value runs past the structure block"
            case .badPropertyName: return "a property name lies outside the strings block"
            case .unbalancedNodes: return "nodes are not properly nested"
            }
        }
    }

    /// Validates the blob. On a structural error, `path` names the node being read.
    public init(validating bytes: UnsafeRawBufferPointer, path: inout LogLine) throws(Failure) {
        self.bytes = bytes
        func be32(_ offset: Int) -> UInt32? { DeviceTree.be32(bytes, offset) }
        guard let magic = be32(0), magic == DeviceTree.magic, let total = be32(4), Int(total) <= bytes.count,
              let structure = be32(8), let strings = be32(12), let version = be32(20), version >= 16,
              let stringsSize = be32(32), let structureSize = be32(36),
              Int(structure) + Int(structureSize) <= Int(total), Int(strings) + Int(stringsSize) <= Int(total) else {
            throw .badHeader
        }
        structureStart = Int(structure)
        structureEnd = Int(structure) + Int(structureSize)
        stringsStart = Int(strings)
        stringsEnd = Int(strings) + Int(stringsSize)

        // One pass over every token: names terminated, values and property names in bounds, nesting right.
        var offset = structureStart
        var depth = 0
        var ended = false
        var pathLengths = InlineArray<32, Int>(repeating: 0)     // the path's length before each open node
        while !ended {
            guard let token = be32(offset), offset + 4 <= structureEnd else { throw .badStructure }
            switch token {
            case DeviceTree.beginNode:
                guard let (name, next) = nodeName(at: offset), depth < 32 else { throw .badStructure }
                pathLengths[depth] = path.count
                if depth > 1 { path.append("/") }
                if depth == 0 { path.append("/") } else { path.append(ByteString(name)) }
                depth += 1
                offset = next
            case DeviceTree.endNode:
                guard depth > 0 else { throw .unbalancedNodes }
                depth -= 1
                path.truncate(to: pathLengths[depth])
                offset += 4
            case DeviceTree.property:
                guard let length = be32(offset + 4), let nameOffset = be32(offset + 8) else { throw .badStructure }
                let valueEnd = offset + 12 + Int(length)
                guard valueEnd <= structureEnd else { throw .badStructure }
                guard stringsStart + Int(nameOffset) < stringsEnd, string(at: stringsStart + Int(nameOffset)) != nil else {
                    throw .badPropertyName
                }
                offset = (valueEnd + 3) & ~3
            case DeviceTree.nop:
                offset += 4
            case DeviceTree.end:
                guard depth == 0 else { throw .unbalancedNodes }
                ended = true
            default:
                throw .badStructure
            }
        }
        path = LogLine()
    }

    static func be32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= bytes.count else { return nil }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The name after a BEGIN_NODE token and the offset of the token after it.
    func nodeName(at offset: Int) -> (UnsafeRawBufferPointer, Int)? {
        var end = offset + 4
        while end < structureEnd && bytes[end] != 0 { end += 1 }
        guard end < structureEnd else { return nil }
        return (UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<end]), (end + 1 + 3) & ~3)
    }

    func string(at offset: Int) -> UnsafeRawBufferPointer? {
        var end = offset
        while end < stringsEnd && bytes[end] != 0 { end += 1 }
        guard end < stringsEnd else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
    }

    /// A node: where its BEGIN_NODE token is.
    public struct Node {
        public let offset: Int
    }

    public var root: Node { Node(offset: firstToken(from: structureStart)) }

    private func firstToken(from offset: Int) -> Int {
        var cursor = offset
        while DeviceTree.be32(bytes, cursor) == DeviceTree.nop { cursor += 4 }
        return cursor
    }

    public func name(of node: Node) -> ByteString {
        ByteString(nodeName(at: node.offset)?.0 ?? UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Calls `body` with each property of `node` (name, value) and each child node, in order.
    public func forEach(in node: Node, property: (ByteString, UnsafeRawBufferPointer) -> Void, child: (Node) -> Void) {
        guard let (_, start) = nodeName(at: node.offset) else { return }
        var offset = start
        var depth = 0
        while let token = DeviceTree.be32(bytes, offset) {
            switch token {
            case DeviceTree.beginNode:
                if depth == 0 { child(Node(offset: offset)) }
                depth += 1
                offset = nodeName(at: offset)!.1
            case DeviceTree.endNode:
                if depth == 0 { return }
                depth -= 1
                offset += 4
            case DeviceTree.property:
                let length = Int(DeviceTree.be32(bytes, offset + 4)!)
                if depth == 0 {
                    let name = string(at: stringsStart + Int(DeviceTree.be32(bytes, offset + 8)!))!
                    property(ByteString(name), UnsafeRawBufferPointer(rebasing: bytes[(offset + 12)..<(offset + 12 + length)]))
                }
                offset = (offset + 12 + length + 3) & ~3
            case DeviceTree.nop:
                offset += 4
            default:
                return
            }
        }
    }

    public func property(_ name: StaticString, of node: Node) -> UnsafeRawBufferPointer? {
        var found: UnsafeRawBufferPointer?
        forEach(in: node, property: { if $0.equals(name) { found = $1 } }, child: { _ in })
        return found
    }

    public func child(_ name: StaticString, of node: Node) -> Node? {
        var found: Node?
        forEach(in: node, property: { _, _ in }, child: { if self.name(of: $0).equals(name) { found = $0 } })
        return found
    }

    /// The `index`th 32-bit cell of a property value.
    public static func cell(_ value: UnsafeRawBufferPointer, _ index: Int) -> UInt32? {
        be32(value, index * 4)
    }

    /// A string property's text without its terminating NUL.
    public static func text(_ value: UnsafeRawBufferPointer) -> ByteString {
        var end = 0
        while end < value.count && value[end] != 0 { end += 1 }
        return ByteString(UnsafeRawBufferPointer(rebasing: value[0..<end]))
    }
}
