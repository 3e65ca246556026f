import Dispatch
import Foundation
import SwiftletTools

/// Turns Ctrl-C (and SIGTERM/SIGHUP) into a stop request, so a run stops its emulator and reports,
/// instead of dying and leaving the emulator behind.
final class Interruption {
    let request = StopRequest()
    private var sources: [DispatchSourceSignal] = []

    init() {
        // A closed stdout (e.g. `swiftlet run | head`) must not kill us with the emulator still running;
        // the console sink sees the write fail instead and asks for a stop.
        signal(SIGPIPE, SIG_IGN)
        for number in [SIGINT, SIGTERM, SIGHUP] {
            // The default action would kill us before the handler runs; children get it back at spawn.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [request] in request.raise() }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
    }
}
