import Foundation
import SwiftletTools
import XCTest

/// Tasks hold only the endpoints, and the rights to them, that their plan names (the configuration's
/// task node, or the root task's default plan without a configuration).
final class EndpointRightsTests: SystemTestCase {
    func configuration(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Configurations/\(name).dts").path
    }

    func testATaskHasOnlyTheEndpointRightsItsConfigurationNames() throws {
        let result = try boot(ImageConfiguration(tasks: ["roottask", "rightstest"], configuration: configuration("endpoint-rights")))
        assertLine(containing: "rightstest: PASS slot 5 holds an endpoint with rights 0x1 (send only), badge 1", in: result)
        assertLine(containing: "rightstest: PASS wait on the send-only endpoint -> missing right", in: result)
        assertLine(containing: "rightstest: PASS badge a copy of it as another sender -> missing right", in: result)
        assertLine(containing: "rightstest: PASS call through slot 6, which holds nothing -> empty slot", in: result)
        assertLine(containing: "rightstest: PASS saved reply to the first caller, then a plain reply to the current one: they got 0xa0 and 0xa1",
                   in: result)
        assertTasksPassed(["rightstest"], in: result)
    }

    /// `--task` runs have no configuration: the default plan gives ping and pong their endpoints (ping
    /// sends, pong receives) and rightstest only a send right.
    func testWithoutAConfigurationTheDefaultPlanGivesEachTaskItsRights() throws {
        let result = try bootTasks(["pong", "ping", "rightstest"])
        assertLine(containing: "roottask: no configuration module", in: result)
        assertLine(containing: "rightstest: PASS wait on the send-only endpoint -> missing right", in: result)
        assertLine(containing: "ping: IPC round trip", "0 failures", in: result)
        assertTasksPassed(["pong", "ping", "rightstest"], in: result)
    }
}
