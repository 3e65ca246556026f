import SwiftletABI
import SwiftletUser
import UserPlatform

/// The fuzzer's IPC partner: a thread of this task (priority 95, above the fuzzer, so it has always
/// taken a message and waits again before the fuzzer goes on) that records every message it receives
/// and answers calls with the reply the fuzzer scripted (words and typed items, hostile ones included).
/// It shares the task's capability space and address space with the fuzzer, so the items it receives
/// land where the fuzzer's model can check them.
struct PartnerScript {
    var isCall = false
    var replyTag: UInt64 = 0
    /// The reply's message registers MR0-MR15 (MR4 on go to the partner's UTCB).
    var reply = InlineArray<16, UInt64>(repeating: 0)
    // What the partner received last.
    var received: UInt64 = 0
    var error: UInt64 = 0
    var badge: UInt64 = 0
    var tag: UInt64 = 0
    var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
}

nonisolated(unsafe) var partnerScript = PartnerScript()

enum Partner {
    static let priority: UInt8 = 95
    /// Its endpoint (receive) in a protected slot; the fuzzer's copies are refreshed into slots 23-25.
    static let endpointSlot: UInt64 = 233
    /// The endpoint the fuzzer's own started threads wait on, and its template slot.
    static let workerSlot: UInt64 = 234
    static var utcb: UTCB { UTCB(address: FuzzLayout.partnerPages) }
}

func partnerMain(argument: UInt64, utcbAddress: UInt64) {
    let utcb = UTCB(address: utcbAddress)
    var message = SystemCall.wait(Partner.endpointSlot)
    while true {
        partnerScript.received &+= 1
        partnerScript.error = message.error.rawValue
        partnerScript.badge = message.badge
        partnerScript.tag = message.tag.raw
        partnerScript.words = message.words
        if message.succeeded && partnerScript.isCall {
            let tag = MessageTag(raw: partnerScript.replyTag)
            var index = MessageTag.registerWords
            while index < min(tag.words + 2 * tag.items, 16) {
                utcb[register: index] = partnerScript.reply[index]
                index += 1
            }
            let words = (partnerScript.reply[0], partnerScript.reply[1], partnerScript.reply[2], partnerScript.reply[3])
            message = SystemCall.replyWait(Partner.endpointSlot, tag, words)
        } else {
            message = SystemCall.wait(Partner.endpointSlot)
        }
    }
}

/// The body of the threads the fuzzer creates and starts: serve the endpoint in slot `argument` (the
/// workers endpoint or a protected copy of one the fuzzer made) with empty replies. Once that endpoint is
/// destroyed (`aborted` while waiting, or its slot empty after a stop and start), the workers endpoint.
func workerMain(argument: UInt64, utcbAddress: UInt64) {
    var endpoint = argument
    while true {
        let result = SystemCall.replyWait(endpoint, MessageTag(label: 0))
        if result.error == .aborted { workerAborts &+= 1 }
        if result.error == .aborted || result.error == .emptySlot { endpoint = Partner.workerSlot }
    }
}
