import SwiftletABI
import VMMCore
import XCTest

/// The description page the root task hands the VMM, checked again by the VMM.
final class MachineDescriptionTests: XCTestCase {
    typealias D = VirtualMachineDescription

    func page(_ change: (inout [UInt64]) -> Void = { _ in }) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: 512)
        words[D.Word.magic] = D.magic
        words[D.Word.ramAddress] = D.guestRAM
        words[D.Word.ramBytes] = 128 << 20
        words[D.Word.kernelAddress] = D.modules
        words[D.Word.kernelBytes] = 14_000_000
        words[D.Word.initrdAddress] = D.modules + 0x100_0000
        words[D.Word.initrdBytes] = 1_400_000
        words[D.Word.bootargsBytes] = 30
        let name = Array("/tasks/vmm/vm@0".utf8)
        words.withUnsafeMutableBytes { bytes in
            for (index, byte) in name.enumerated() { bytes[D.Word.name * 8 + index] = byte }
        }
        change(&words)
        return words
    }

    func parse(_ words: [UInt64]) -> Result<MachineDescription, MachineDescription.Failure> {
        words.withUnsafeBufferPointer { buffer in
            do throws(MachineDescription.Failure) {
                return .success(try MachineDescription(page: buffer.baseAddress!))
            } catch {
                return .failure(error)
            }
        }
    }

    func failure(_ words: [UInt64]) -> MachineDescription.Failure? {
        if case .failure(let failure) = parse(words) { return failure }
        return nil
    }

    func testAGoodDescription() throws {
        let description = try parse(page()).get()
        XCTAssertEqual(description.ramBytes, 128 << 20)
        XCTAssertEqual(description.bootargsBytes, 30)
        XCTAssertEqual(description.wallClock, 0, "no wall clock handed on")
        // Any word is a time (the VMM's arithmetic on it wraps): the page's value is taken as it is.
        XCTAssertEqual(try parse(page { $0[D.Word.wallClock] = UInt64.max }).get().wallClock, UInt64.max)
        XCTAssertEqual(String(decoding: (0..<description.name.count).map { description.name[$0] }, as: UTF8.self), "/tasks/vmm/vm@0")
    }

    func testEveryWindowIsChecked() {
        XCTAssertEqual(failure(page { $0[D.Word.magic] = 0 }), .noMagic)
        XCTAssertEqual(failure(page { $0[D.Word.ramAddress] = D.modules }), .badRAM)
        XCTAssertEqual(failure(page { $0[D.Word.ramBytes] = 3 << 20 }), .badRAM)
        XCTAssertEqual(failure(page { $0[D.Word.ramBytes] = D.maximumRAMBytes + (2 << 20) }), .badRAM)
        XCTAssertEqual(failure(page { $0[D.Word.kernelBytes] = 0 }), .badKernel)
        XCTAssertEqual(failure(page { $0[D.Word.kernelAddress] = D.guestRAM - 4096; $0[D.Word.kernelBytes] = 8192 }), .badKernel)
        XCTAssertEqual(failure(page { $0[D.Word.kernelAddress] = UInt64.max & ~0xFFF }), .badKernel)
        XCTAssertEqual(failure(page { $0[D.Word.initrdAddress] = D.modules + 1 }), .badInitrd)
        XCTAssertEqual(failure(page { $0[D.Word.initrdBytes] = UInt64.max }), .badInitrd)
        XCTAssertEqual(failure(page { $0[D.Word.bootargsBytes] = 2049 }), .badBootargs)
        XCTAssertEqual(failure(page { $0[D.Word.moduleCount] = 1 }), .badModules, "modules beside an initrd")
        func multiboot(_ count: UInt64, _ address: UInt64, _ bytes: UInt64) -> [UInt64] {
            page { words in
                words[D.Word.initrdBytes] = 0
                words[D.Word.moduleCount] = count
                words[D.Word.modules] = address
                words[D.Word.modules + 1] = bytes
            }
        }
        XCTAssertEqual(failure(multiboot(9, D.modules, 1)), .badModules)
        XCTAssertEqual(failure(multiboot(1, D.guestRAM, 1)), .badModules)
        XCTAssertEqual(failure(multiboot(1, D.modules + 8, 1)), .badModules)
        XCTAssertEqual(failure(multiboot(1, D.guestRAM - 4096, 8192)), .badModules)
    }

    func testMultibootModulesAndTheirNames() throws {
        var words = page { words in
            words[D.Word.initrdBytes] = 0
            words[D.Word.moduleCount] = 2
            words[D.Word.modules] = D.modules + 0x100_0000
            words[D.Word.modules + 1] = 5000
            words[D.Word.modules + 2] = D.modules + 0x100_2000
            words[D.Word.modules + 3] = 0
        }
        words.withUnsafeMutableBytes { bytes in
            for (index, byte) in "first".utf8.enumerated() { bytes[D.moduleNamesOffset + index] = byte }
            for (index, byte) in String(repeating: "n", count: 64).utf8.enumerated() { bytes[D.moduleNamesOffset + 64 + index] = byte }
        }
        let description = try parse(words).get()
        XCTAssertEqual(description.moduleCount, 2)
        XCTAssertEqual(description.modules[0].address, D.modules + 0x100_0000)
        XCTAssertEqual(description.modules[0].bytes, 5000)
        XCTAssertEqual(description.modules[1].bytes, 0)
        words.withUnsafeBytes { page in
            XCTAssertEqual(String(decoding: MachineDescription.moduleName(0, page: page.baseAddress!), as: UTF8.self), "first")
            XCTAssertEqual(MachineDescription.moduleName(1, page: page.baseAddress!).count, 63, "at most 63 bytes, however the page was filled")
        }
    }
}
