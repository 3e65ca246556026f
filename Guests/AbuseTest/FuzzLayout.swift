import SwiftletABI
import UserPlatform

/// Where the fuzzer's world lives: which slots hold what it aims at, which memory it may map, unmap and
/// pass on, and where its threads' stacks are. Everything here is the fuzzer's alone, so the model of it
/// (`FuzzWorld`) can say what every call must do.
enum FuzzLayout {
    /// The heap (mapped read-write by the root task): pages 0-63 hold thread stacks and the partner's
    /// UTCB, pages 64-95 are a reserve of pages the fuzzer passes on but never gives away, pages 96-127
    /// hold the model's tables, pages 128-255 and the 8 pages above the heap (never mapped at start) are
    /// the playground.
    static let heap = TaskLayout.heap
    static let stacks = heap
    static let reserve = heap + 64 * 4096
    static let reservePages = 32
    /// The model's tables (kept off the stack: Embedded Swift copies inline arrays it reads).
    static let modelTables = heap + 96 * 4096
    /// The workers' count of `aborted` receives, in the last page of the model's.
    static let workerAborts = heap + 127 * 4096
    static let playground = heap + 128 * 4096
    /// 128 pages mapped at start, 8 above the heap unmapped.
    static let playgroundPages = 136
    static let playgroundMapped = 128
    /// Where the fuzzer maps pages in the tasks it creates (one 2 MiB page table's worth).
    static let childRegion: UInt64 = 0x4000_0000
    static let childPages = 128
    /// The task's image (text, rodata, data: what is mapped there is read at the start) and the main
    /// thread's UTCB: passed on, never unmapped with `unmapOwn` (the UTCB: that would stop the main
    /// thread, whose UTCB it is).
    static let textPage: UInt64 = 0x40_0000
    static let imagePages = 64
    static let mainUTCB = TaskLayout.utcb

    /// The partner thread (spawned by the main thread): UTCB at heap page 0, stack pages 1-3.
    static let partnerPages = stacks
    /// Stacks of the threads the fuzzer creates and runs itself: 3 pages each from heap page 4 on.
    static let createdStacks = stacks + 4 * 4096
    static let maximumRunningThreads = 8
    /// The fuzzer thread: UTCB at heap page 32, stack pages 33-63.
    static let fuzzerPages = stacks + 32 * 4096

    /// Capability slots the refresh fills (besides 1-9): copies of the partner's endpoint and of the
    /// endpoint the fuzzer's own running threads serve.
    static let partnerAll: UInt64 = 23
    static let partnerSendBadged: UInt64 = 24
    static let partnerNoGrant: UInt64 = 25
    static let workers: UInt64 = 26
    /// A task the fuzzer maps into and unmaps from all the time, made from a factory of `childFrames`
    /// frames: its page tables and the mapping nodes of at most its 128 pages fit, so a quota error there
    /// means a charge that was never given back.
    static let child: UInt64 = 41
    static let childFrames: UInt64 = 10              // the task 4, its tables 3, nodes for 128 pages 3
    /// Its factory, in a protected slot.
    static let childFactory: UInt64 = 237
    static let partnerBadge: UInt64 = 0x0B0B

    /// Does a valid `window` overlap the image (text, data, the spawned threads' pages in .bss), the heap
    /// below the playground (stacks, UTCBs, reserve, model) or the main thread's stack?
    static func reachesWhatItRunsOn(_ window: Flexpage) -> Bool {
        guard window.isValid, window.base < userSpaceEnd else { return false }
        let end = window.size > userSpaceEnd - window.base ? userSpaceEnd : window.base + window.size
        func overlaps(_ start: UInt64, _ limit: UInt64) -> Bool { window.base < limit && start < end }
        return overlaps(textPage, textPage + UInt64(imagePages) * 4096) || overlaps(heap, playground)
            || overlaps(TaskLayout.stackTop - TaskLayout.stackPages * 4096, TaskLayout.stackTop)
    }
}

/// Page numbers of the model: own pages (playground, reserve, text, main UTCB), then each child task's region.
enum PageIndex {
    static let playground = 0
    static let reserve = FuzzLayout.playgroundPages                       // 136
    static let text = reserve + FuzzLayout.reservePages                   // 168
    static let mainUTCB = text + FuzzLayout.imagePages                    // 232
    static let ownCount = mainUTCB + 1                                    // 233
    static let children = 4
    static let count = ownCount + children * FuzzLayout.childPages        // 745

    /// The model's page for an address in the fuzzer's own space, or nil if the model does not track it.
    static func own(_ address: UInt64) -> Int? {
        let page = address & ~0xFFF
        if page >= FuzzLayout.playground, page < FuzzLayout.playground + UInt64(FuzzLayout.playgroundPages) * 4096 {
            return playground + Int((page - FuzzLayout.playground) / 4096)
        }
        if page >= FuzzLayout.reserve, page < FuzzLayout.reserve + UInt64(FuzzLayout.reservePages) * 4096 {
            return reserve + Int((page - FuzzLayout.reserve) / 4096)
        }
        if page >= FuzzLayout.textPage, page < FuzzLayout.textPage + UInt64(FuzzLayout.imagePages) * 4096 {
            return text + Int((page - FuzzLayout.textPage) / 4096)
        }
        if page == FuzzLayout.mainUTCB { return mainUTCB }
        return nil
    }

    /// Never mapped in the fuzzer's space: above the stack top, short of the pages at 0x7FFF_FFFF_0000 raw
    /// calls aim at, and the top page of user space, which no user mapping reaches.
    static func knownUnmapped(_ address: UInt64) -> Bool {
        let page = address & ~0xFFF
        return (page >= TaskLayout.stackTop && page < 0x7FFF_FFFF_0000) || page == userSpaceEnd - 4096
    }

    static func child(_ child: Int, _ address: UInt64) -> Int? {
        let page = address & ~0xFFF
        guard page >= FuzzLayout.childRegion, page < FuzzLayout.childRegion + UInt64(FuzzLayout.childPages) * 4096 else { return nil }
        return ownCount + child * FuzzLayout.childPages + Int((page - FuzzLayout.childRegion) / 4096)
    }

    static func ownAddress(_ index: Int) -> UInt64 {
        if index < reserve { return FuzzLayout.playground + UInt64(index - playground) * 4096 }
        if index < text { return FuzzLayout.reserve + UInt64(index - reserve) * 4096 }
        return index < mainUTCB ? FuzzLayout.textPage + UInt64(index - text) * 4096 : FuzzLayout.mainUTCB
    }
}
