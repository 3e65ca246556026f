import SwiftletTools
import XCTest

/// `swiftlet run` picks the backend the user did not: VT-x through KVM when the host nests it, else AMD-V
/// in QEMU's TCG; what the user asked for wins.
final class BackendChoiceTests: XCTestCase {
    let nesting = HostVirtualization(kvmUsable: true, hostHasVMX: true, nestedVMX: true)
    let plain = HostVirtualization(kvmUsable: true, hostHasVMX: false, nestedVMX: false)

    func testWithNothingAskedTheHostsNestedVTxWins() {
        let choice = BackendChoice.choose(virt: nil, emulator: nil, cpu: nil, deterministic: false, host: nesting)
        XCTAssertEqual(choice.emulator, .qemu)
        XCTAssertTrue(choice.kvm)
        XCTAssertEqual(choice.backend, .vmx)
        XCTAssertTrue(choice.explanation?.contains("--virt svm") ?? false)
    }

    func testWithoutNestedVTxItIsSVMInTCGAndSaysHowToPickVMX() {
        let choice = BackendChoice.choose(virt: nil, emulator: nil, cpu: nil, deterministic: false, host: plain)
        XCTAssertEqual(choice, BackendChoice.choose(virt: .svm, emulator: nil, cpu: nil, deterministic: false, host: plain).with(explanation: choice.explanation))
        XCTAssertFalse(choice.kvm)
        XCTAssertEqual(choice.backend, .svm)
        let explanation = choice.explanation ?? ""
        XCTAssertTrue(explanation.contains("the host CPU has no VT-x") && explanation.contains("--virt vmx"), explanation)
    }

    func testDeterministicRunsNeverUseKVM() {
        let choice = BackendChoice.choose(virt: nil, emulator: nil, cpu: nil, deterministic: true, host: nesting)
        XCTAssertFalse(choice.kvm)
        XCTAssertEqual(choice.backend, .svm)
        XCTAssertEqual(BackendChoice.choose(virt: .vmx, emulator: nil, cpu: nil, deterministic: true, host: nesting).emulator, .bochs)
    }

    func testWhatTheUserAskedForWins() {
        XCTAssertEqual(BackendChoice.choose(virt: .vmx, emulator: nil, cpu: nil, deterministic: false, host: plain).emulator, .bochs)
        XCTAssertEqual(BackendChoice.choose(virt: .svm, emulator: .bochs, cpu: nil, deterministic: false, host: nesting).cpuModel, "ryzen")
        let bochs = BackendChoice.choose(virt: nil, emulator: .bochs, cpu: nil, deterministic: false, host: nesting)
        XCTAssertEqual(bochs.emulator, .bochs)
        XCTAssertFalse(bochs.kvm)
        XCTAssertNil(bochs.explanation)
        XCTAssertNil(BackendChoice.choose(virt: nil, emulator: nil, cpu: "qemu64", deterministic: false, host: nesting).backend)
    }

    func testHostReadings() {
        XCTAssertTrue(HostVirtualization.cpuFlagsNameVMX("processor\t: 0\nflags\t\t: fpu vme vmx sse\n"))
        XCTAssertFalse(HostVirtualization.cpuFlagsNameVMX("flags\t\t: fpu svm hypervisor\nvmx flags\t: ept\n"))
        XCTAssertTrue(HostVirtualization.nestedParameterIsOn("Y\n"))
        XCTAssertTrue(HostVirtualization.nestedParameterIsOn("1"))
        XCTAssertFalse(HostVirtualization.nestedParameterIsOn("N\n"))
        XCTAssertFalse(HostVirtualization.nestedParameterIsOn(""))
        XCTAssertEqual(HostVirtualization(kvmUsable: false, hostHasVMX: true, nestedVMX: true).reasonWithoutVMX, "no usable /dev/kvm")
    }
}

private extension BackendChoice {
    func with(explanation: String?) -> BackendChoice {
        var copy = self
        copy.explanation = explanation
        return copy
    }
}
