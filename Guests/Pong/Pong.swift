import SwiftletABI
import SwiftletUser

/// The server half of the IPC benchmark: echoes calls on the shared endpoint (same priority as ping)
/// and, from a second thread at a lower priority, on the second shared endpoint.
@_cdecl("task_main")
func pongMain(tscKHz: UInt64, utcb: UInt64) {
    var spawner = ThreadSpawner()
    let lowPriorityThread: UInt64 = 16
    let error = spawner.spawn(lowPriorityServer, argument: Report.secondSharedSlot, priority: PingPong.lowPriority,
                              slot: lowPriorityThread)
    if error != .ok { log("pong: cannot start the low-priority server: \(error.name)") }
    serve(Report.sharedSlot)
    _ = SystemCall.send(Report.reportSlot, MessageTag(label: Report.done, words: 1), (error == .ok ? 0 : 1, 0, 0, 0))
}

func lowPriorityServer(endpoint: UInt64, utcb: UInt64) {
    serve(endpoint)
}

/// Reply-and-wait loop: the reply to one call and the wait for the next are one system call.
func serve(_ endpoint: UInt64) {
    var message = SystemCall.wait(endpoint)
    while true {
        if !message.succeeded {
            message = SystemCall.wait(endpoint)
            continue
        }
        if message.tag.label == PingPong.quit { return }
        let (w0, w1, w2, w3) = message.words
        message = SystemCall.replyWait(endpoint, MessageTag(label: message.tag.label, words: message.tag.words),
                                       (w0 &+ 1, w1, w2, w3))
    }
}
