/// The runner's own keys among those a person types for the guest, as QEMU's: Ctrl-A x quits the run,
/// Ctrl-A Ctrl-A types one Ctrl-A, and Ctrl-A before any other key types both. Every other byte — Ctrl-C,
/// Ctrl-D, Ctrl-Z, CR, escape sequences — reaches the guest unchanged.
struct EscapeKeys {
    static let prefix: UInt8 = 0x01
    static let quit = UInt8(ascii: "x")

    /// A Ctrl-A came last; what it means depends on the next key (which may come in a later read).
    private var afterPrefix = false

    /// The keys to type into the guest, and whether the person asked to quit (keys after that are dropped).
    mutating func filter(_ keys: [UInt8]) -> (keys: [UInt8], quit: Bool) {
        var forward: [UInt8] = []
        forward.reserveCapacity(keys.count)
        for key in keys {
            if afterPrefix {
                afterPrefix = false
                if key == Self.quit { return (forward, true) }
                if key != Self.prefix { forward.append(Self.prefix) }
                forward.append(key)
            } else if key == Self.prefix {
                afterPrefix = true
            } else {
                forward.append(key)
            }
        }
        return (forward, false)
    }
}
