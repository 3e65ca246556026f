import ArgumentParser
import Foundation
import SwiftletTools

struct CheckModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-models",
        abstract: "Check the Promela models of the IPC state machine and the mapping database with Spin.",
        discussion: """
            Each property is checked over the whole bounded state space (Kernel/Core/IPC/IPC.pml, \
            Kernel/Core/Memory/MappingDatabase.pml); --broken instead runs the deliberately broken variants, \
            each of which Spin must catch. Exits non-zero on any error or incomplete search.
            """)

    @Flag(help: "Run the broken variants (BUG_... macros) and show what Spin finds in each.")
    var broken = false

    func run() throws {
        try reportingFailures {
            let repository = try Repository.locate()
            var failures = 0
            for check in broken ? ModelCheck.brokenVariants : ModelCheck.all {
                let result = try check.run(in: repository)
                if broken {
                    let caught = (result.errors ?? 0) > 0
                    if !caught { failures += 1 }
                    Console.output("\(caught ? "caught" : "NOT CAUGHT") \(check.name) (\(check.properties)): "
                                   + "\(result.violation ?? "no violation"), depth \(result.depth.map(String.init) ?? "?")")
                } else {
                    if !result.verified { failures += 1 }
                    Console.output("\(result.verified ? "verified" : "FAILED") \(check.name): \(check.properties): "
                                   + "\(result.figures), \(result.errors.map(String.init) ?? "?") errors"
                                   + (result.complete ? "" : ", search not completed"))
                    if !result.verified { Console.error(result.output) }
                }
            }
            if failures > 0 { throw ExitCode(1) }
        }
    }
}
