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
    }
}
