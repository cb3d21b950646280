import ArgumentParser

/// The `starling` executable: one binary for every role.
@main
struct Starling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starling",
        abstract: "Starling: a BGP-scaled anycast load balancer.",
        subcommands: [
            ControllerCommand.self, SECommand.self, BGPCommand.self, CtlCommand.self, LabCommand.self,
            ApplianceCommand.self,
        ]
    )
}
