import SwiftletABI
import SwiftletUser
import UserPlatform

/// Messages to the partner: what it must receive (badge, tag with the kernel's transfer-failed flag,
/// MR0-MR3), what its typed items must do to the capability space and the pages, and what the fuzzer
/// must get back from a call (the scripted reply, its map and grant items into the fuzzer's window).
extension FuzzWorld {
    mutating func partnerExchange(_ c: RawCall, capability: SlotModel, isCall: Bool,
                                  _ context: inout FuzzContext) -> (result: UInt64, allowed: Allowed) {
        let tag = MessageTag(raw: c.rsi)
        partnerScript.isCall = isCall
        let before = partnerScript.received
        let partner = Partner.utcb
        let canGrant = Rights(rawValue: capability.rights).contains(.grant)
        var certain = true
        var failed = false
        for item in 0..<tag.items {
            let kind = context.messageRegister(c, tag.words + 2 * item)
            let value = context.messageRegister(c, tag.words + 2 * item + 1)
            let outcome = transferItem(kind: kind, value: value, window: partner.receiveWindow, receiveSlot: partner.receiveSlot,
                                       canGrant: canGrant, afterUnpredicted: !certain)
            if outcome == nil { certain = false } else if outcome == false { failed = true }
        }
        let replyTag = MessageTag(raw: partnerScript.replyTag)
        var replyFailed = false
        if isCall {
            let window = context.utcb.receiveWindow
            for item in 0..<replyTag.items {
                let kind = partnerScript.reply[replyTag.words + 2 * item]
                let value = partnerScript.reply[replyTag.words + 2 * item + 1]
                // A reply carries no grant right: capability items in it always fail.
                let outcome = transferItem(kind: kind, value: value, window: window, receiveSlot: context.utcb.receiveSlot, canGrant: false,
                                           afterUnpredicted: !certain)
                if outcome == nil { certain = false } else if outcome == false { replyFailed = true }
            }
        }
        lastMessage = LastMessage(partnerWindow: partner.receiveWindow.raw, partnerSlot: partner.receiveSlot,
                                  ownWindow: context.utcb.receiveWindow.raw, replyTag: partnerScript.replyTag)
        for item in 0..<min(tag.items, 3) {
            lastMessage.items[2 * item] = context.messageRegister(c, tag.words + 2 * item)
            lastMessage.items[2 * item + 1] = context.messageRegister(c, tag.words + 2 * item + 1)
        }
        for item in 0..<(isCall ? min(replyTag.items, 2) : 0) {
            lastMessage.replyItems[2 * item] = partnerScript.reply[replyTag.words + 2 * item]
            lastMessage.replyItems[2 * item + 1] = partnerScript.reply[replyTag.words + 2 * item + 1]
        }
        if !certain { context.resyncs += 1 }
        let registers = perform(c)
        if registers.rax == 0 {
            let flag: UInt64 = 1 << 13
            let expectedTag = (c.rsi & ~flag) | (failed ? flag : 0)
            if partnerScript.received != before &+ 1 {
                context.mismatch(Mismatch(what: "partner: messages received", expected: before &+ 1, got: partnerScript.received))
            } else if partnerScript.badge != capability.badge {
                context.mismatch(Mismatch(what: "partner: badge", expected: capability.badge, got: partnerScript.badge))
            } else if certain && partnerScript.tag != expectedTag {
                context.mismatch(Mismatch(what: "partner: tag (bit 13 = transfer failed)", expected: expectedTag, got: partnerScript.tag))
            } else if partnerScript.words.0 != c.rdx || partnerScript.words.1 != c.r10 || partnerScript.words.2 != c.r8
                        || partnerScript.words.3 != c.r9 {
                context.mismatch(Mismatch(what: "partner: MR0", expected: c.rdx, got: partnerScript.words.0))
            }
            if isCall {
                let expectedReply = (partnerScript.replyTag & ~flag) | (replyFailed ? flag : 0)
                if certain && registers.rsi != expectedReply {
                    context.mismatch(Mismatch(what: "call: reply tag (bit 13 = transfer failed)", expected: expectedReply, got: registers.rsi))
                } else if registers.rdx != partnerScript.reply[0] || registers.r9 != partnerScript.reply[3] {
                    context.mismatch(Mismatch(what: "call: reply MR0", expected: partnerScript.reply[0], got: registers.rdx))
                }
            }
        }
        // The pages any item may have touched, compared with what the kernel says is mapped there.
        if !certain {
            context.resync(&self)
        } else {
            if tag.items > 0 { context.checkWindow(&self, partner.receiveWindow) }
            if isCall && replyTag.items > 0 { context.checkWindow(&self, context.utcb.receiveWindow) }
        }
        // A destination replaced in the fuzzer's space takes what derives from it, floating pages too.
        if tag.items > 0 || (isCall && replyTag.items > 0) { context.refloatChildren(&self) }
        return (registers.rax, .only(.ok))
    }

    /// One typed item from the fuzzer's own space into a window of its own space (the partner shares it).
    /// True: it must succeed; false: it must fail; nil: the model cannot say (it then re-reads the pages).
    /// After an item the model could not predict (`afterUnpredicted`), the pages a memory item reads may
    /// not be what the model says until the re-read, so its destination floats too (seed 0xaf0a33d8dd927bff:
    /// a grant from a floating page filled page 8 unseen, the next item mapped page 8 onto page 14, and the
    /// model kept page 14's old lineage; a later replacement of page 8 took page 14 with it).
    mutating func transferItem(kind: UInt64, value: UInt64, window: Flexpage, receiveSlot: UInt64, canGrant: Bool,
                               afterUnpredicted: Bool = false) -> Bool? {
        switch kind & 0xFF {
        case TypedItem.capabilityKind:
            guard canGrant, case .success(let source) = slot(value), canInsert(receiveSlot) == .ok else { return false }
            var copy = source
            copy.rights &= UInt8(truncatingIfNeeded: kind >> 8)
            slots[Int(receiveSlot)] = copy
            return true
        case TypedItem.mapKind, TypedItem.grantKind:
            let page = Flexpage(raw: value)
            guard window.raw != 0, let placement = MemoryPlacement(send: page, window: window, hotSpot: kind) else { return false }
            // Both flexpages lie in user space (MemoryPlacement), and the destination range must also stay off
            // the top page, which no user mapping reaches (UserMemory.transfer): else the item fails whole.
            let end = userSpaceEnd - 4096
            guard placement.destination < end, placement.pages <= (end - placement.destination) / 4096 else { return false }
            let outcome = afterUnpredicted ? nil
                : transferPages(placement, grant: kind & 0xFF == TypedItem.grantKind, rights: UInt8(truncatingIfNeeded: value & 7))
            // Unpredicted: what now lies in the window may come from anywhere (a replacement can keep the
            // rights the model expects), so the mapped pages there float; the resync reads the rest.
            if outcome == nil { floatPages(from: placement.destination, count: placement.pages) }
            return outcome
        default:
            // Port items (the task holds no ports) and unknown kinds fail.
            return false
        }
    }

    mutating func floatPages(from start: UInt64, count: UInt64) {
        // A pinned page (a UTCB) is never replaced or moved by an item: it keeps its lineage.
        for index in 0..<PageIndex.ownCount where pages[index].mapped && !pages[index].pinned {
            let address = PageIndex.ownAddress(index)
            if address >= start && (address - start) / 4096 < count {
                pages[index].floating = true
                pages[index].parent = -1
            }
        }
    }

    /// The pages of one map or grant item, page by page as UserMemory.transfer does; nil: unpredicted.
    mutating func transferPages(_ placement: MemoryPlacement, grant: Bool, rights itemRights: UInt8) -> Bool? {
        let size = placement.pages * 4096
        if placement.source != placement.destination && placement.source < placement.destination + size
            && placement.destination < placement.source + size { return nil }
        var succeeded = true
        var offset: UInt64 = 0
        // Only pages the model follows may lie in the ranges (the generator sees to it); else it cannot say.
        while offset < placement.pages {
            let sourceAddress = placement.source + offset * 4096
            let destinationAddress = placement.destination + offset * 4096
            offset += 1
            // Only pages the sender has mapped are passed on: nothing lies above its stack.
            if PageIndex.knownUnmapped(sourceAddress) { continue }
            guard let source = PageIndex.own(sourceAddress), !isFloating(source) else { return nil }
            guard pages[source].mapped else { continue }
            guard let destination = PageIndex.own(destinationAddress), !isFloating(destination) else { return nil }
            if grant && pages[source].pinned { succeeded = false; continue }
            if pages[destination].mapped {
                if pages[destination].pinned { succeeded = false; continue }
                if destination == source { continue }
                // Onto a mapping its source derives from: refused (revoking it would take the source away).
                if derives(source, from: destination) { succeeded = false; continue }
                revoke(destination, includingSelf: true)
            }
            if grant {
                pages[destination] = pages[source]
                pages[destination].pinned = false
                pages[source] = PageModel()
                for index in 0..<PageIndex.count where pages[index].parent == Int16(source) { pages[index].parent = Int16(destination) }
            } else {
                let rights = itemRights & pages[source].rights
                guard rights & 1 != 0 else { return nil }
                pages[destination] = PageModel(mapped: true, rights: rights, parent: Int16(source))
            }
        }
        return succeeded
    }
}

/// The windows and items of the last message to the partner, printed with an unexpected result.
struct LastMessage {
    var partnerWindow: UInt64 = 0, partnerSlot: UInt64 = 0, ownWindow: UInt64 = 0, replyTag: UInt64 = 0
    var items = InlineArray<6, UInt64>(repeating: 0)
    var replyItems = InlineArray<4, UInt64>(repeating: 0)

    func print() {
        log("fuzz:   partner window \(hex: partnerWindow) slot \(partnerSlot), own window \(hex: ownWindow), reply tag \(hex: replyTag)")
        log("fuzz:   items \(hex: items[0]) \(hex: items[1]), \(hex: items[2]) \(hex: items[3]), \(hex: items[4]) \(hex: items[5])")
        log("fuzz:   reply items \(hex: replyItems[0]) \(hex: replyItems[1]), \(hex: replyItems[2]) \(hex: replyItems[3])")
    }
}

nonisolated(unsafe) var lastMessage = LastMessage()
