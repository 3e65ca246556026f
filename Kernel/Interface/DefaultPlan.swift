/// What the root task starts without a configuration module (`swiftlet run --task NAME ...`, or an image
/// with only extra `--module`s): every boot module as a task, with the defaults below — the rights
/// Guests/system.dts spells out for the same tasks, so a task behaves alike in both.
///
/// Why the root task has this plan rather than the image builder generating a configuration for
/// `--task` runs: an image without a configuration must start something honest anyway (modules added
/// by hand, test images), and this way the defaults are written down once, in the interface both sides
/// share and the host tests check, instead of in the host tool and again in the root task's fallback.
extension SystemConfiguration {
    /// The default plan's endpoints: 0 = ping-pong (pong's first server), 1 = ping-pong-low (its second).
    public static let defaultEndpointCount = 2

    /// The task the default plan makes of the boot module `name`.
    public static func defaultTask(module name: ByteString) -> Task {
        var task = Task(node: name, module: name)
        func hold(_ endpoint: Int, at slot: UInt64, _ rights: Rights) {
            task.endpoints[task.endpointCount] = EndpointGrant(endpoint: endpoint, slot: slot, rights: rights)
            task.endpointCount += 1
        }
        if name.equals("serial") {
            task.consoleServer = true
            task.ports[0] = (0x3F8, 8)
            task.portRanges = 1
            task.interrupts[0] = 4
            task.interruptCount = 1
        } else if name.equals("vmm") {
            task.guestMemory = true
            task.memoryPages = 1024           // its guests' RAM
        } else if name.equals("pong") {
            hold(0, at: 5, .receive)
            hold(1, at: 6, .receive)
        } else if name.equals("ping") {
            hold(0, at: 5, .send)
            hold(1, at: 6, .send)
        } else if name.equals("heartbeat") {
            task.daemon = true                // it beats until the root task stops it
            task.periodMilliseconds = 2000
        } else if name.equals("destroytest") {
            task.machineView = true           // it compares the kernel's free frames before and after
            task.guestMemory = true           // pages paged in are executable: one of its VMs runs guest code
            task.interrupts[0] = 3            // COM2's line, bound to endpoints it destroys (never fires)
            task.interruptCount = 1
            task.ports[0] = (0x2F8, 8)        // COM2's ports, to give a task it destroys
            task.portRanges = 1
        } else if name.equals("porttest") || name.equals("rightstest") {
            hold(0, at: 5, .send)             // an endpoint to check rights against, nothing more
        }
        return task
    }
}
