import SwiftletABI
import SwiftletUser

/// sigma0: owns the RAM the kernel handed over and the device memory, and gives each frame out once.
/// It takes frames into its own address space (identity: virtual = physical) and maps them on: naturally
/// aligned runs on request, a page for a page fault, device pages by address. What it has given stays its
/// in the mapping database, so it could revoke it; it never gives the same frame to a second client.
struct RAM {
    var next: UInt64
    let end: UInt64

    /// A naturally aligned run of `pages` frames not given out before, taken into sigma0's space.
    mutating func take(pages: UInt64) -> (UInt64, SyscallError) {
        let size = pages * 4096
        var candidate = (next + size - 1) & ~(size - 1)
        while candidate + size <= end {
            let error = SystemCall.takeMemory(at: candidate, pages: pages, device: false)
            if error == .ok {
                next = candidate + size
                return (candidate, .ok)
            }
            candidate += size            // a hole (a frame the kernel kept): try the next run
        }
        return (0, .quotaExceeded)
    }
}

@_cdecl("task_main")
func sigma0Main(bootInformation: UInt64, utcb: UInt64) {
    let info = UnsafePointer<UInt64>(bitPattern: UInt(bootInformation))!
    var ram = RAM(next: info[Sigma0.Word.ramStart], end: info[Sigma0.Word.ramEnd])
    log("sigma0: serving \(info[Sigma0.Word.ramFrames]) frames of RAM from \(hex: info[Sigma0.Word.ramStart])")
    var message = SystemCall.wait(Sigma0.endpointSlot)
    while true {
        var tag = MessageTag(label: Sigma0.refused, words: 1)
        var words: (UInt64, UInt64, UInt64, UInt64) = (SyscallError.invalidArgument.rawValue, 0, 0, 0)
        switch message.tag.label {
        case Sigma0.allocate:
            let pages = message.words.0
            if pages > 0, pages <= 512, pages & (pages - 1) == 0 {
                let (base, error) = ram.take(pages: pages)
                if error == .ok {
                    let order = 12 + pages.trailingZeroBitCount
                    (words.0, words.1) = TypedItem.map(Flexpage(base: base, order: order, rights: .all))
                    tag = MessageTag(label: Sigma0.allocate, items: 1)
                } else {
                    words.0 = error.rawValue
                }
            }
        case Sigma0.device:
            let (address, pages) = (message.words.0, message.words.1)
            if pages > 0, pages <= 512, pages & (pages - 1) == 0, address & (pages * 4096 - 1) == 0 {
                let error = SystemCall.takeMemory(at: address, pages: pages, device: true)
                if error == .ok {
                    let order = 12 + pages.trailingZeroBitCount
                    (words.0, words.1) = TypedItem.map(Flexpage(base: address, order: order, rights: [.read, .write]))
                    tag = MessageTag(label: Sigma0.device, items: 1)
                } else {
                    words.0 = error.rawValue
                }
            }
        case KernelMessageLabel.pageFault:
            // A fresh zeroed page where the client faulted (the fault address decides where it lands).
            let (base, error) = ram.take(pages: 1)
            if error == .ok {
                (words.0, words.1) = TypedItem.map(Flexpage(base: base, order: 12, rights: .all))
                tag = MessageTag(label: 0, items: 1)
            }
        default:
            break
        }
        message = SystemCall.replyWait(Sigma0.endpointSlot, tag, words)
    }
}
