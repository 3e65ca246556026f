import CLibFDT
import Foundation
import XCTest
@testable import SwiftletABI

/// The device-tree reader the root task uses, checked against dtc (which writes the blobs) and libfdt
/// (which reads them): the same nodes, properties and values, and clear errors for broken blobs.
final class DeviceTreeTests: XCTestCase {
    static let source = """
        /dts-v1/;
        / {
            compatible = "swiftlet,system";
            tasks {
                serial { module = "serial"; priority = <100>; io-ports = <0x3f8 8>; interrupts = <4>; };
                ping { module = "ping"; priority = <90>; kernel-memory = <64>; };
                empty { };
            };
            other { flag; list = <1 2 3>; };
        };
        """

    /// Compiles device-tree source with dtc.
    static func compile(_ source: String) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory
        let input = directory.appendingPathComponent("swiftlet-\(UUID().uuidString).dts")
        let output = input.deletingPathExtension().appendingPathExtension("dtb")
        try source.write(to: input, atomically: true, encoding: .utf8)
        defer {
            try? FileManager.default.removeItem(at: input)
            try? FileManager.default.removeItem(at: output)
        }
        let dtc = Process()
        dtc.executableURL = URL(fileURLWithPath: "/usr/bin/dtc")
        dtc.arguments = ["-q", "-I", "dts", "-O", "dtb", "-o", output.path, input.path]
        try dtc.run()
        dtc.waitUntilExit()
        XCTAssertEqual(dtc.terminationStatus, 0, "dtc failed")
        return Array(try Data(contentsOf: output))
    }

    func parse(_ blob: [UInt8]) throws(DeviceTree.Failure) -> (DeviceTree, UnsafeMutableRawBufferPointer) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blob.count, alignment: 8)
        buffer.copyBytes(from: blob)
        var path = LogLine()
        return (try DeviceTree(validating: UnsafeRawBufferPointer(buffer), path: &path), buffer)
    }

    func text(_ string: ByteString) -> String { String(decoding: string.bytes, as: UTF8.self) }

    func testReadsWhatDtcWrote() throws {
        let (tree, buffer) = try parse(try Self.compile(Self.source))
        defer { buffer.deallocate() }
        let tasks = try XCTUnwrap(tree.child("tasks", of: tree.root))
        var names: [String] = []
        tree.forEach(in: tasks, property: { _, _ in }, child: { names.append(self.text(tree.name(of: $0))) })
        XCTAssertEqual(names, ["serial", "ping", "empty"])
        let serial = try XCTUnwrap(tree.child("serial", of: tasks))
        XCTAssertEqual(text(DeviceTree.text(try XCTUnwrap(tree.property("module", of: serial)))), "serial")
        let ports = try XCTUnwrap(tree.property("io-ports", of: serial))
        XCTAssertEqual(DeviceTree.cell(ports, 0), 0x3F8)
        XCTAssertEqual(DeviceTree.cell(ports, 1), 8)
        XCTAssertNil(DeviceTree.cell(ports, 2))
        XCTAssertNil(tree.property("missing", of: serial))
        let other = try XCTUnwrap(tree.child("other", of: tree.root))
        XCTAssertEqual(tree.property("flag", of: other)?.count, 0, "an empty property is present with no value")
    }

    /// Every node and property our reader sees is exactly what libfdt sees.
    func testAgreesWithLibFDT() throws {
        let blob = try Self.compile(Self.source)
        let (tree, buffer) = try parse(blob)
        defer { buffer.deallocate() }
        var ours: [String] = []
        func visit(_ node: DeviceTree.Node, _ path: String) {
            ours.append("node \(path)")
            tree.forEach(in: node, property: { name, value in
                ours.append("prop \(path) \(self.text(name)) \(Array(value))")
            }, child: { visit($0, path == "/" ? "/" + self.text(tree.name(of: $0)) : path + "/" + self.text(tree.name(of: $0))) })
        }
        visit(tree.root, "/")

        var theirs: [String] = []
        blob.withUnsafeBytes { raw in
            let fdt = raw.baseAddress!
            XCTAssertEqual(fdt_check_header(fdt), 0)
            var depth: Int32 = 0
            var node = fdt_next_node(fdt, -1, &depth)
            while node >= 0 {
                var path = [CChar](repeating: 0, count: 256)
                fdt_get_path(fdt, node, &path, 256)
                let pathText = String(cString: path)
                theirs.append("node \(pathText)")
                var property = fdt_first_property_offset(fdt, node)
                var props: [String] = []
                while property >= 0 {
                    var length: Int32 = 0
                    var namePointer: UnsafePointer<CChar>?
                    let value = fdt_getprop_by_offset(fdt, property, &namePointer, &length)
                    let bytes = Array(UnsafeRawBufferPointer(start: value, count: Int(length)))
                    props.append("prop \(pathText) \(String(cString: namePointer!)) \(bytes)")
                    property = fdt_next_property_offset(fdt, property)
                }
                theirs += props
                node = fdt_next_node(fdt, node, &depth)
            }
        }
        // libfdt lists a node's properties right after it, as ours does; both walk depth first.
        XCTAssertEqual(ours, theirs)
    }

    func testBrokenBlobsAreRejectedNamingTheNode() throws {
        let good = try Self.compile(Self.source)
        var badMagic = good
        badMagic[0] = 0
        XCTAssertThrowsError(try parse(badMagic)) { XCTAssertEqual($0 as? DeviceTree.Failure, .badHeader) }
        XCTAssertThrowsError(try parse(Array(good.prefix(40)))) { XCTAssertEqual($0 as? DeviceTree.Failure, .badHeader) }

        // Corrupt the first property of /tasks/ping: its length now runs past the structure block.
        let structure = Int(DeviceTree.be32(good.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[0..<64]) }, 8)!)
        var broken = good
        let marker = Array("ping".utf8) + [0]
        let at = try XCTUnwrap((structure..<(good.count - 5)).first { Array(good[$0..<($0 + 5)]) == marker })
        let property = (at + 5 + 3) & ~3
        XCTAssertEqual(Array(broken[property..<(property + 4)]), [0, 0, 0, 3], "a PROP token follows the name")
        broken.replaceSubrange((property + 4)..<(property + 8), with: [0x7F, 0xFF, 0xFF, 0xFF])
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: broken.count, alignment: 8)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: broken)
        var path = LogLine()
        XCTAssertThrowsError(try DeviceTree(validating: UnsafeRawBufferPointer(buffer), path: &path)) {
            XCTAssertEqual($0 as? DeviceTree.Failure, .badStructure)
        }
        var bytes: [UInt8] = []
        path.forEachByte { bytes.append($0) }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "/tasks/ping", "the error names the node")
    }
}

final class SystemConfigurationTests: XCTestCase {
    func configuration(_ tasks: String, endpoints: String = "", modules: Set<String> = ["serial", "ping", "pong"]) throws -> Result<SystemConfiguration, SystemConfiguration.Failure> {
        let blob = try DeviceTreeTests.compile("/dts-v1/;\n/ { compatible = \"swiftlet,system\"; \(endpoints) tasks { \(tasks) }; };")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blob.count, alignment: 8)
        buffer.copyBytes(from: blob)       // kept for the test's lifetime: the configuration points into it
        var path = LogLine()
        let tree = try DeviceTree(validating: UnsafeRawBufferPointer(buffer), path: &path)
        do throws(SystemConfiguration.Failure) {
            return .success(try SystemConfiguration(tree) { modules.contains(String(decoding: $0.bytes, as: UTF8.self)) })
        } catch {
            return .failure(error)
        }
    }

    func text(_ line: LogLine) -> String {
        var bytes: [UInt8] = []
        line.forEachByte { bytes.append($0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func testAGoodConfiguration() throws {
        let config = try configuration("""
            serial { module = "serial"; priority = <120>; io-ports = <0x3f8 8 0x2f8 8>; interrupts = <4 3>; console-server; kernel-memory = <64>; };
            ping { module = "ping"; memory-pages = <16>; console-raw; };
            """).get()
        XCTAssertEqual(config.taskCount, 2)
        let serial = config.tasks[0]
        XCTAssertEqual(serial.priority, 120)
        XCTAssertEqual(serial.kernelMemory, 64)
        XCTAssertEqual(serial.portRanges, 2)
        XCTAssertEqual(serial.ports[1].first, 0x2F8)
        XCTAssertEqual(serial.ports[1].count, 8)
        XCTAssertEqual(serial.interruptCount, 2)
        XCTAssertEqual(serial.interrupts[1], 3)
        XCTAssertTrue(serial.consoleServer)
        XCTAssertEqual(config.tasks[1].priority, 100, "the default")
        XCTAssertFalse(config.tasks[1].consoleServer)
        XCTAssertTrue(config.tasks[1].consoleRaw, "console-raw: the raw console stream")
        XCTAssertFalse(serial.consoleRaw, "no raw stream unless the node says so")
        XCTAssertEqual(serial.memoryPages, SystemConfiguration.defaultMemoryPages, "the default budget")
        XCTAssertEqual(config.tasks[1].memoryPages, 16)
        XCTAssertEqual(SystemConfiguration.maximumMemoryPages, 16128)
        XCTAssertEqual(config.tasks[1].restartsAfterReport, 0, "runs once unless the node says otherwise")
        let restarted = try configuration("ping { module = \"ping\"; restart-after-report = <3>; };").get()
        XCTAssertEqual(restarted.tasks[0].restartsAfterReport, 3)
        XCTAssertEqual(config.tasks[1].restartsOnFailure, 0, "not supervised unless the node says so")
        XCTAssertFalse(config.tasks[1].service)
        let supervised = try configuration("ata { module = \"ping\"; service; restart-on-failure = <100000>; kill-every-ms = <10>; };").get()
        XCTAssertTrue(supervised.tasks[0].service)
        XCTAssertEqual(supervised.tasks[0].restartsOnFailure, 100_000)
        XCTAssertEqual(supervised.tasks[0].killMilliseconds, 10)
        let whole = try configuration("ping { module = \"ping\"; memory-pages = <16128>; };").get()
        XCTAssertEqual(whole.tasks[0].memoryPages, 16128, "the whole on-demand window")
    }

    /// `period-ms` goes into the task's startup block; `daemon` makes a task the root task stops at the end.
    func testAPeriodicDaemon() throws {
        let config = try configuration("""
            beat { module = "ping"; period-ms = <2000>; daemon; };
            other { module = "pong"; };
            """).get()
        let beat = config.tasks[0], other = config.tasks[1]
        XCTAssertEqual(beat.periodMilliseconds, 2000)
        XCTAssertTrue(beat.daemon)
        XCTAssertEqual(beat.startupBlock.0, 2000, "word StartupBlock.periodMilliseconds")
        XCTAssertEqual(StartupBlock.periodMilliseconds, 0)
        XCTAssertEqual(StartupBlock.address + UInt64(StartupBlock.words) * 8, TaskLayout.stackTop, "at the top of the stack")
        XCTAssertFalse(other.daemon, "the default")
        XCTAssertEqual(other.periodMilliseconds, 0)
        XCTAssertEqual(other.startupBlock.0, 0)
        for period in [1, 3_600_000] {
            let task = try configuration("a { module = \"ping\"; period-ms = <\(period)>; };").get().tasks[0]
            XCTAssertEqual(task.periodMilliseconds, UInt32(period))
        }
        XCTAssertGreaterThan(Report.stopSlot, ConsoleProtocol.interruptSlot + 3, "past the console server's interrupts")
        XCTAssertLessThan(Report.stopSlot, 16, "among the root task's slots")
    }

    /// `report-deadline-s` of the root node: how long the root task waits for reports; none without it
    /// (the product's interactive VM); anything but one cell of 1-86400 is refused naming the root.
    func testTheReportDeadline() throws {
        XCTAssertNil(try configuration("a { module = \"ping\"; };").get().reportDeadlineSeconds, "no property: no deadline")
        for seconds in [1, 300, 86_400] {
            let config = try configuration("a { module = \"ping\"; };", endpoints: "report-deadline-s = <\(seconds)>;").get()
            XCTAssertEqual(config.reportDeadlineSeconds, UInt32(seconds))
        }
        for bad in ["<0>", "<86401>", "<1 2>", "\"300\""] {
            guard case .failure(let failure) = try configuration("a { module = \"ping\"; };", endpoints: "report-deadline-s = \(bad);") else {
                XCTFail("accepted report-deadline-s = \(bad)")
                continue
            }
            XCTAssertEqual(text(failure.path), "/")
            XCTAssertEqual(text(failure.reason), "report-deadline-s must be one cell, 1 to 86400 seconds")
        }
        XCTAssertEqual(SystemConfiguration.defaultReportDeadlineSeconds, 300)
    }

    func testEveryMistakeNamesItsNode() throws {
        let cases: [(String, String, String)] = [
            ("a { module = \"ping\"; priority = <300>; };", "/tasks/a", "priority must be one cell, at most 200"),
            ("b { module = \"nope\"; };", "/tasks/b", "its module is not among the boot modules"),
            ("c { priority = <1>; };", "/tasks/c", "no module property"),
            ("d { module = \"ping\"; colour = \"blue\"; };", "/tasks/d", "unknown property or child node"),
            ("e { module = \"ping\"; io-ports = <0xfff0 0x20>; };", "/tasks/e", "an io-ports range is empty or goes past port 0xffff"),
            ("f { module = \"ping\"; interrupts = <16>; };", "/tasks/f", "an interrupt is not an ISA IRQ (0-15)"),
            ("ok { module = \"ping\"; }; g { module = \"pong\"; kernel-memory = <1>; };", "/tasks/g", "kernel-memory must be one cell, 8 to 65536 frames"),
            ("h { module = \"ping\"; memory-pages = <16129>; };", "/tasks/h", "memory-pages must be one cell, 0 to 16128 pages (the on-demand heap window)"),
            ("i { module = \"ping\"; memory-pages = <1 2>; };", "/tasks/i", "memory-pages must be one cell, 0 to 16128 pages (the on-demand heap window)"),
            ("j { module = \"ping\"; memory-pages; };", "/tasks/j", "memory-pages must be one cell, 0 to 16128 pages (the on-demand heap window)"),
            ("k { module = \"ping\"; period-ms = <0>; };", "/tasks/k", "period-ms must be one cell, 1 to 3600000 milliseconds"),
            ("l { module = \"ping\"; period-ms = <3600001>; };", "/tasks/l", "period-ms must be one cell, 1 to 3600000 milliseconds"),
            ("m { module = \"ping\"; period-ms = <1 2>; };", "/tasks/m", "period-ms must be one cell, 1 to 3600000 milliseconds"),
            ("n { module = \"ping\"; period-ms = \"2s\"; };", "/tasks/n", "period-ms must be one cell, 1 to 3600000 milliseconds"),
            ("o { module = \"ping\"; daemon = <1>; };", "/tasks/o", "daemon takes no value"),
            ("p { module = \"serial\"; console-server; daemon; };", "/tasks/p", "a console server cannot be a daemon"),
            ("q { module = \"ping\"; console-raw = <1>; };", "/tasks/q", "console-raw takes no value"),
            ("r { module = \"ping\"; restart-after-report = <0>; };", "/tasks/r", "restart-after-report must be one cell, 1 to 1000 restarts"),
            ("s { module = \"ping\"; restart-after-report = <1001>; };", "/tasks/s", "restart-after-report must be one cell, 1 to 1000 restarts"),
            ("t { module = \"ping\"; restart-after-report = <0xffffffff>; };", "/tasks/t", "restart-after-report must be one cell, 1 to 1000 restarts"),
            ("u { module = \"ping\"; restart-after-report; };", "/tasks/u", "restart-after-report must be one cell, 1 to 1000 restarts"),
            ("v { module = \"ping\"; restart-after-report = <2>; daemon; };", "/tasks/v",
             "restart-after-report is for a task that reports: not a daemon, console server or VMM"),
            ("w { module = \"serial\"; console-server; restart-after-report = <2>; };", "/tasks/w",
             "restart-after-report is for a task that reports: not a daemon, console server or VMM"),
            ("x { module = \"ping\"; restart-on-failure = <0>; };", "/tasks/x", "restart-on-failure must be one cell, 1 to 100000 restarts"),
            ("y { module = \"ping\"; restart-on-failure = <100001>; };", "/tasks/y", "restart-on-failure must be one cell, 1 to 100000 restarts"),
            ("z { module = \"serial\"; console-server; restart-on-failure = <5>; };", "/tasks/z",
             "restart-on-failure is for a task the root task can remake: not a console server or VMM"),
            ("k1 { module = \"ping\"; kill-every-ms = <100>; };", "/tasks/k1", "kill-every-ms needs restart-on-failure"),
            ("k2 { module = \"ping\"; restart-on-failure = <5>; kill-every-ms = <9>; };", "/tasks/k2",
             "kill-every-ms must be one cell, 10 to 3600000 milliseconds"),
            ("k3 { module = \"ping\"; restart-on-failure = <5>; kill-every-ms = <3600001>; };", "/tasks/k3",
             "kill-every-ms must be one cell, 10 to 3600000 milliseconds"),
            ("s1 { module = \"ping\"; service = <1>; };", "/tasks/s1", "service takes no value"),
            ("s2 { module = \"ping\"; service; daemon; };", "/tasks/s2", "a service never reports: not a daemon, console server or restart-after-report"),
            ("s3 { module = \"ping\"; service; restart-after-report = <2>; };", "/tasks/s3",
             "a service never reports: not a daemon, console server or restart-after-report"),
        ]
        for (tasks, path, reason) in cases {
            guard case .failure(let failure) = try configuration(tasks) else {
                XCTFail("accepted: \(tasks)")
                continue
            }
            XCTAssertEqual(text(failure.path), path, tasks)
            XCTAssertEqual(text(failure.reason), reason, tasks)
        }
    }

    func testEndpointsAndTheRightsEachTaskHolds() throws {
        let config = try configuration("""
            pong { module = "pong"; endpoints { fast { slot = <5>; rights = "receive"; }; slow { slot = <6>; rights = "receive", "grant"; }; }; };
            ping { module = "ping"; endpoints { slow { slot = <6>; rights = "send"; }; }; };
            serial { module = "serial"; };
            """, endpoints: "endpoints { fast { }; slow { }; unused { }; };").get()
        XCTAssertEqual(config.endpointCount, 3)
        XCTAssertEqual(String(decoding: config.endpointNames[2].bytes, as: UTF8.self), "unused")
        let pong = config.tasks[0], ping = config.tasks[1]
        XCTAssertEqual(pong.endpointCount, 2)
        XCTAssertEqual(pong.endpoints[0].endpoint, 0)
        XCTAssertEqual(pong.endpoints[0].slot, 5)
        XCTAssertEqual(pong.endpoints[0].rights, .receive)
        XCTAssertEqual(pong.endpoints[1].endpoint, 1)
        XCTAssertEqual(pong.endpoints[1].rights, [.receive, .grant])
        XCTAssertEqual(ping.endpointCount, 1)
        XCTAssertEqual(ping.endpoints[0].endpoint, 1)
        XCTAssertEqual(ping.endpoints[0].slot, 6)
        XCTAssertEqual(ping.endpoints[0].rights, .send)
        XCTAssertEqual(config.tasks[2].endpointCount, 0, "a task whose node names no endpoint holds none")
        let none = try configuration("ping { module = \"ping\"; };").get()
        XCTAssertEqual(none.endpointCount, 0, "no /endpoints: no endpoints")
    }

    func testEveryEndpointMistakeNamesItsNode() throws {
        let declared = "endpoints { fast { }; slow { }; };"
        let rightsReason = "rights must be one or more of \"send\", \"receive\", \"grant\", \"control\""
        let cases: [(String, String, String, String)] = [
            (declared, "a { module = \"ping\"; endpoints { other { slot = <5>; rights = \"send\"; }; }; };",
             "/tasks/a/endpoints/other", "not an endpoint declared in /endpoints"),
            ("", "b { module = \"ping\"; endpoints { fast { slot = <5>; rights = \"send\"; }; }; };",
             "/tasks/b/endpoints/fast", "not an endpoint declared in /endpoints"),
            (declared, "c { module = \"ping\"; endpoints { fast { slot = <4>; rights = \"send\"; }; }; };",
             "/tasks/c/endpoints/fast", "slot must be one cell, 5 or 6"),
            (declared, "d { module = \"ping\"; endpoints { fast { slot = <5 6>; rights = \"send\"; }; }; };",
             "/tasks/d/endpoints/fast", "slot must be one cell, 5 or 6"),
            (declared, "e { module = \"ping\"; endpoints { fast { slot = <5>; rights = \"send\", \"all\"; }; }; };",
             "/tasks/e/endpoints/fast", rightsReason),
            (declared, "f { module = \"ping\"; endpoints { fast { slot = <5>; rights = <1>; }; }; };",
             "/tasks/f/endpoints/fast", rightsReason),
            (declared, "g { module = \"ping\"; endpoints { fast { rights = \"send\"; }; }; };",
             "/tasks/g/endpoints/fast", "no slot property"),
            (declared, "h { module = \"ping\"; endpoints { fast { slot = <5>; }; }; };",
             "/tasks/h/endpoints/fast", "no rights property"),
            (declared, "i { module = \"ping\"; endpoints { fast { slot = <5>; rights = \"send\"; }; slow { slot = <5>; rights = \"send\"; }; }; };",
             "/tasks/i/endpoints/slow", "two endpoints in one slot"),
            (declared, "j { module = \"ping\"; endpoints { fast { slot = <5>; rights = \"send\"; badge = <3>; }; }; };",
             "/tasks/j/endpoints/fast", "unknown property or child node"),
            (declared, "k { module = \"ping\"; endpoints { colour = \"blue\"; }; };", "/tasks/k", "unknown property or child node"),
            ("endpoints { fast { x = <1>; }; };", "l { module = \"ping\"; };", "/endpoints/fast", "an endpoint node has no properties or children"),
            ("endpoints { a { }; b { }; c { }; d { }; e { }; f { }; g { }; h { }; i { }; };", "m { module = \"ping\"; };",
             "/endpoints/i", "more than 8 endpoints"),
            ("endpoints { size = <1>; };", "n { module = \"ping\"; };", "/endpoints", "unknown property"),
        ]
        for (endpoints, tasks, path, reason) in cases {
            guard case .failure(let failure) = try configuration(tasks, endpoints: endpoints) else {
                XCTFail("accepted: \(endpoints) \(tasks)")
                continue
            }
            XCTAssertEqual(text(failure.path), path, tasks)
            XCTAssertEqual(text(failure.reason), reason, tasks)
        }
    }

    func testAVirtualMachineNode() throws {
        let modules: Set<String> = ["vmm", "linux", "initramfs"]
        let config = try configuration("""
            vmm { module = "vmm"; guest-memory; vm@0 { kernel = "linux"; initrd = "initramfs"; bootargs = "console=ttyS0 quiet"; memory-mib = <128>; }; };
            """, modules: modules).get()
        let vm = try XCTUnwrap(config.tasks[0].virtualMachine)
        XCTAssertEqual(String(decoding: vm.kernel.bytes, as: UTF8.self), "linux")
        XCTAssertEqual(String(decoding: vm.initrd.bytes, as: UTF8.self), "initramfs")
        XCTAssertEqual(String(decoding: vm.bootargs.bytes, as: UTF8.self), "console=ttyS0 quiet")
        XCTAssertEqual(vm.memoryMiB, 128)
        XCTAssertEqual(vm.ramPages, 32768)
        let bare = try configuration("vmm { module = \"vmm\"; vm@0 { kernel = \"linux\"; memory-mib = <16>; }; };", modules: modules).get()
        let minimal = try XCTUnwrap(bare.tasks[0].virtualMachine)
        XCTAssertEqual(minimal.initrd.bytes.count, 0, "no initrd")
        XCTAssertEqual(minimal.bootargs.bytes.count, 0, "no command line")
        let plain = try configuration("vmm { module = \"vmm\"; };", modules: modules).get()
        XCTAssertNil(plain.tasks[0].virtualMachine, "a task without a vm@0 runs no described VM")
        let longest = String(repeating: "x", count: 2047)
        let full = try configuration("vmm { module = \"vmm\"; vm@0 { kernel = \"linux\"; memory-mib = <1048576>; bootargs = \"\(longest)\"; }; };",
                                     modules: modules).get()
        XCTAssertEqual(full.tasks[0].virtualMachine?.bootargs.bytes.count, 2047, "2047 bytes of command line are Linux's limit")
        XCTAssertEqual(full.tasks[0].virtualMachine?.memoryMiB, 1_048_576, "the whole guest-RAM window")
        // A Multiboot kernel's modules, in order.
        let multiboot = try configuration("vmm { module = \"vmm\"; vm@0 { kernel = \"linux\"; modules = \"initramfs\", \"vmm\"; memory-mib = <16>; }; };",
                                          modules: modules).get()
        let listed = try XCTUnwrap(multiboot.tasks[0].virtualMachine)
        XCTAssertEqual(listed.moduleCount, 2)
        XCTAssertEqual(String(decoding: listed.modules[0].bytes, as: UTF8.self), "initramfs")
        XCTAssertEqual(String(decoding: listed.modules[1].bytes, as: UTF8.self), "vmm")
        XCTAssertEqual(minimal.moduleCount, 0)
    }

    func testEveryVirtualMachineMistakeNamesItsNode() throws {
        let modules: Set<String> = ["vmm", "linux", "initramfs"]
        let memory = "memory-mib must be one cell, an even number of MiB from 16 to 1048576"
        func vm(_ body: String) -> String { "vmm { module = \"vmm\"; vm@0 { \(body) }; };" }
        let cases: [(String, String)] = [
            (vm("kernel = \"bzImage\"; memory-mib = <128>;"), "its kernel module \"bzImage\" is not among the boot modules"),
            (vm("kernel = \"linux\"; initrd = \"rootfs\"; memory-mib = <128>;"), "its initrd module \"rootfs\" is not among the boot modules"),
            (vm("kernel = \"\"; memory-mib = <128>;"), "kernel must be one string naming a boot module"),
            (vm("kernel = \"linux\", \"initramfs\"; memory-mib = <128>;"), "kernel must be one string naming a boot module"),
            (vm("kernel = <1>; memory-mib = <128>;"), "kernel must be one string naming a boot module"),
            (vm("memory-mib = <128>;"), "no kernel property"),
            (vm("kernel = \"linux\";"), "no memory-mib property"),
            (vm("kernel = \"linux\"; memory-mib = <14>;"), memory),
            (vm("kernel = \"linux\"; memory-mib = <129>;"), memory),
            (vm("kernel = \"linux\"; memory-mib = <1048578>;"), memory),
            (vm("kernel = \"linux\"; memory-mib = <0 128>;"), memory),
            (vm("kernel = \"linux\"; memory-mib;"), memory),
            (vm("kernel = \"linux\"; memory-mib = <128>; bootargs = \"\(String(repeating: "y", count: 2048))\";"),
             "bootargs is 2048 bytes; at most 2047"),
            (vm("kernel = \"linux\"; memory-mib = <128>; bootargs = \"quiet\", \"nokaslr\";"), "bootargs must be one NUL-terminated string"),
            (vm("kernel = \"linux\"; memory-mib = <128>; bootargs = [71 72];"), "bootargs must be one NUL-terminated string"),
            (vm("kernel = \"linux\"; memory-mib = <128>; vcpus = <2>;"), "unknown property or child node"),
            (vm("kernel = \"linux\"; memory-mib = <16>; modules = \"tests\";"), "its module \"tests\" is not among the boot modules"),
            (vm("kernel = \"linux\"; memory-mib = <16>; modules = \"vmm\", \"\";"), "modules must be a list of strings naming boot modules"),
            (vm("kernel = \"linux\"; memory-mib = <16>; modules = <1>;"), "modules must be a list of strings naming boot modules"),
            (vm("kernel = \"linux\"; memory-mib = <16>; modules;"), "modules must be a list of strings naming boot modules"),
            (vm("kernel = \"linux\"; memory-mib = <16>; modules = \(Array(repeating: "\"vmm\"", count: 9).joined(separator: ", "));"),
             "modules names more than 8 boot modules"),
            (vm("kernel = \"linux\"; memory-mib = <16>; initrd = \"initramfs\"; modules = \"vmm\";"),
             "initrd (a Linux guest's) and modules (a Multiboot guest's) together"),
            (vm("kernel = \"linux\"; memory-mib = <128>; disk { };"), "unknown property or child node"),
        ]
        for (tasks, reason) in cases {
            guard case .failure(let failure) = try configuration(tasks, modules: modules) else {
                XCTFail("accepted: \(tasks)")
                continue
            }
            XCTAssertEqual(text(failure.path), "/tasks/vmm/vm@0", tasks)
            XCTAssertEqual(text(failure.reason), reason, tasks)
        }
        guard case .failure(let second) = try configuration("vmm { module = \"vmm\"; vm@1 { kernel = \"linux\"; memory-mib = <16>; }; };",
                                                            modules: modules) else { return XCTFail("vm@1 accepted") }
        XCTAssertEqual(text(second.path), "/tasks/vmm", "one VM per task: only vm@0")
        XCTAssertEqual(text(second.reason), "unknown property or child node")
    }

    /// Without a configuration module the root task uses this plan: ping may only send, pong only
    /// receive, on the two default endpoints; other tasks hold no endpoint unless named here.
    func testTheDefaultPlanGivesOnlyTheNamedRights() {
        func task(_ name: String) -> SystemConfiguration.Task {
            let bytes = Array(name.utf8)
            return bytes.withUnsafeBytes { SystemConfiguration.defaultTask(module: ByteString($0)) }
        }
        XCTAssertEqual(SystemConfiguration.defaultEndpointCount, 2)
        let ping = task("ping"), pong = task("pong"), portTest = task("porttest"), fpuTest = task("fputest")
        XCTAssertEqual(ping.endpointCount, 2)
        XCTAssertEqual([ping.endpoints[0].slot, ping.endpoints[1].slot], [5, 6])
        XCTAssertEqual([ping.endpoints[0].rights, ping.endpoints[1].rights], [.send, .send])
        XCTAssertEqual([pong.endpoints[0].rights, pong.endpoints[1].rights], [.receive, .receive])
        XCTAssertEqual([pong.endpoints[0].endpoint, pong.endpoints[1].endpoint], [0, 1])
        XCTAssertEqual(portTest.endpointCount, 1)
        XCTAssertEqual(portTest.endpoints[0].rights, .send)
        XCTAssertEqual(fpuTest.endpointCount, 0)
        XCTAssertTrue(task("serial").consoleServer)
        XCTAssertEqual(task("vmm").memoryPages, 1024)
        XCTAssertEqual(fpuTest.memoryPages, SystemConfiguration.defaultMemoryPages)
        XCTAssertTrue(task("heartbeat").daemon, "it beats until stopped")
        XCTAssertEqual(task("heartbeat").periodMilliseconds, 2000)
        XCTAssertFalse(fpuTest.daemon)
    }
}
