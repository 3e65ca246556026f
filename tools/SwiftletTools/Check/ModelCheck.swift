import Foundation

/// The Promela models beside the kernel code they describe, and how Spin checks them: `spin -a` writes the
/// verifier (pan.c), gcc compiles it, pan searches the whole state space. A check passes only if pan
/// reports 0 errors and a completed search (a search cut short by the depth or memory limit proves nothing).
public struct ModelCheck: Sendable, Hashable {
    /// The model, relative to the repository root.
    public let model: String
    /// What the run proves, for the report.
    public let properties: String
    /// An LTL formula of the model (`ltl name { ... }`) checked for acceptance cycles under weak fairness;
    /// nil: a safety run (assertions and invalid end states, no never claim).
    public let formula: String?
    /// Macros for `spin -a` (a broken variant's `BUG_...`).
    public let defines: [String]

    public init(model: String, properties: String, formula: String? = nil, defines: [String] = []) {
        self.model = model
        self.properties = properties
        self.formula = formula
        self.defines = defines
    }

    public var name: String {
        let base = (model as NSString).lastPathComponent
        return ([base, formula ?? "safety"] + defines).joined(separator: " ")
    }

    static let ipcModel = "Kernel/Core/IPC/IPC.pml"
    static let mappingModel = "Kernel/Core/Memory/MappingDatabase.pml"

    /// Every property the models prove; `swiftlet check-models` and ModelCheckTests run these.
    public static let all: [ModelCheck] = [
        ModelCheck(model: ipcModel, properties: "no dangling reference, no lost wake-up, saved replies answer only their call, "
                   + "queues as the states say, only intended end states (assertions, invalid end states)"),
        ModelCheck(model: ipcModel, properties: "a finite timeout always ends (LTL, weak fairness)", formula: "timeouts_expire"),
        ModelCheck(model: mappingModel, properties: "rights never grow along a chain, revoke removes every derived mapping and only those, "
                   + "no node in a destroyed task, no dangling parent, map never revokes its source (assertions)"),
    ]

    /// The deliberately broken variants: each must be caught (a model that cannot fail proves nothing).
    public static let brokenVariants: [ModelCheck] = [
        ModelCheck(model: ipcModel, properties: "detach clears another caller's link", defines: ["BUG_DETACH_CLEARS_ANY_CALLER"]),
        ModelCheck(model: ipcModel, properties: "destroy aborts only the current caller", defines: ["BUG_DESTROY_AS_DETACH"]),
        ModelCheck(model: ipcModel, properties: "saved replies without call numbers", defines: ["BUG_NO_CALL_NUMBER"]),
        ModelCheck(model: ipcModel, properties: "wait drops a sender's wake-up", defines: ["BUG_WAIT_DROPS_SENDER_WAKEUP"]),
        ModelCheck(model: ipcModel, properties: "saved replies cannot resume a fault", defines: ["BUG_SAVED_REPLY_IGNORES_FAULTS"]),
        ModelCheck(model: mappingModel, properties: "map without the rights check", defines: ["BUG_MAP_UNCHECKED_RIGHTS"]),
        ModelCheck(model: mappingModel, properties: "revoke of one level only", defines: ["BUG_REVOKE_ONE_LEVEL"]),
        ModelCheck(model: mappingModel, properties: "map replaces an ancestor of its source", defines: ["BUG_NO_ANCESTOR_CHECK"]),
    ]

    /// Runs the check in a fresh temporary folder (spin and pan write their files where they run).
    public func run(in repository: Repository) throws -> ModelCheckResult {
        let spin = try HostTool.spin.locate(), gcc = try HostTool.gcc.locate()
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("swiftlet-spin-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = repository.root.appendingPathComponent(model)
        let copy = folder.appendingPathComponent(source.lastPathComponent)
        try FileManager.default.copyItem(at: source, to: copy)

        try ExternalCommand(spin, ["-a"] + defines.map { "-D\($0)" } + [copy.lastPathComponent], workingDirectory: folder)
            .runQuietly()
        // -DMEMLIM (MB) makes pan stop (search not completed) rather than swap; broken variants fail in
        // their first states, so they are compiled without optimisation (gcc takes 2 s instead of 10).
        var compile = ["-w", defines.isEmpty ? "-O2" : "-O0", "-DMEMLIM=4096", "-o", "pan", "pan.c"]
        compile += formula == nil ? ["-DSAFETY", "-DNOCLAIM"] : ["-DNFAIR=3"]
        try ExternalCommand(gcc, compile, workingDirectory: folder).runQuietly()
        var search = ["-m1000000"]
        if let formula { search += ["-a", "-f", "-N", formula] }
        let pan = ExternalCommand(folder.appendingPathComponent("pan"), search, workingDirectory: folder)
        let output: String
        do {
            output = try pan.runQuietly()
        } catch SwiftletError.commandFailed(_, _, let failedOutput) {
            output = failedOutput    // pan's status is not its verdict: the report below is
        }
        return ModelCheckResult(output: output)
    }
}

/// What pan reported.
public struct ModelCheckResult: Sendable, Equatable {
    public let output: String
    public let errors: Int?
    public let statesStored: Int?
    public let depth: Int?
    public let seconds: Double?
    /// pan searched the whole state space (no depth or memory limit cut it short).
    public let complete: Bool

    public init(output: String) {
        self.output = output
        errors = Self.number(in: output, after: "errors: ").map { Int($0) }
        statesStored = Self.number(in: output, before: " states, stored").map { Int($0) }
        depth = Self.number(in: output, after: "depth reached ").map { Int($0) }
        seconds = Self.number(in: output, after: "elapsed time ")
        complete = !output.contains("Search not completed") && !output.contains("max search depth too small")
            && !output.contains("out of memory") && output.contains("errors: ")
    }

    /// 0 errors over the whole state space.
    public var verified: Bool { errors == 0 && complete }

    /// The figures, for a success line.
    public var figures: String {
        "\(statesStored.map(String.init) ?? "?") states stored, depth \(depth.map(String.init) ?? "?"), "
            + "\(seconds.map { String(format: "%.1f", $0) } ?? "?") s"
    }

    /// The first violation pan reported (e.g. "assertion violated !(lost)"), if any.
    public var violation: String? {
        output.split(separator: "\n").first { $0.hasPrefix("pan:") && ($0.contains("violated") || $0.contains("error")) }
            .map(String.init)
    }

    static func number(in text: String, after marker: String) -> Double? {
        guard let range = text.range(of: marker) else { return nil }
        let digits = text[range.upperBound...].prefix { $0.isNumber || $0 == "." || $0 == "e" || $0 == "+" }
        return Double(digits)
    }

    static func number(in text: String, before marker: String) -> Double? {
        guard let range = text.range(of: marker) else { return nil }
        let digits = text[..<range.lowerBound].reversed().prefix { $0.isNumber || $0 == "." || $0 == "e" || $0 == "+" }
        return Double(String(digits.reversed()))
    }
}
