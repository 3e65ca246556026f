import SwiftletABI

/// The IPC side of destroying an endpoint or a thread: afterwards nothing in the IPC state (queues,
/// timeouts, caller and callee links, the scheduler) points to it. Pure state changes, host-tested.
extension IPC {
    /// Every thread queued on `endpoint` (senders, callers, faulted threads, receivers) leaves it: a
    /// thread in a system call gets `aborted`, a faulted one resumes and faults again (its handler
    /// capability, if it named this endpoint, is empty by then).
    public static func abortAll(on endpoint: EndpointPointer, scheduler: inout Scheduler) {
        while let thread = endpoint.pointee.senders.head {
            scheduler.timeouts.remove(thread)
            cancel(thread, with: .aborted, scheduler: &scheduler)
        }
        while let thread = endpoint.pointee.receivers.head {
            scheduler.timeouts.remove(thread)
            cancel(thread, with: .aborted, scheduler: &scheduler)
        }
    }

    /// Takes `thread` out of everything for good: its queues and timeout, its call relations (a caller
    /// waiting for its reply, current or saved, gets `aborted`; the thread it called forgets it, so that
    /// server's reply answers `noCaller`), the ready queue, and the CPU if it is the current thread (the best ready
    /// thread runs next). It is left `.inactive` and never scheduled again.
    public static func remove(_ thread: ThreadPointer, scheduler: inout Scheduler) {
        detach(thread, scheduler: &scheduler)
        // Callers whose reply it saved wait for it too: they get `aborted` (stopping a server keeps them,
        // as it may be started again and answer; a destroyed one never will).
        while let caller = thread.pointee.savedCallers {
            forgetCallee(caller)
            cancel(caller, with: .aborted, scheduler: &scheduler)
        }
        switch thread.pointee.state {
        case .ready: scheduler.ready.remove(thread)
        case .running: if scheduler.current == thread { scheduler.currentBlocked() }
        default: break
        }
        thread.pointee.state = .inactive
    }
}
