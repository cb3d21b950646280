import ArgumentParser
import Foundation
import Lab

/// `starling lab up|down|status`: the local demo topology of DESIGN §5 (root only). The topology logic is
/// ``DemoLab`` in the Lab module; this command only drives it and prints.
struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract:
            "Run the demo topology in network namespaces: router (BIRD, ECMP), 3 SEs, 2 servers, a client, the controller.",
        subcommands: [LabUp.self, LabDown.self, LabStatus.self, LabPoolServer.self, LabHTTPLoad.self]
    )
}

/// Options shared by the lab subcommands.
struct LabOptions: ParsableArguments {
    @Option(help: "Lab name (namespaces stdemo-NAME-*, directory /tmp/starling-lab/stdemo-NAME).")
    var name: String = "demo"
}

/// Prints one line to stderr.
private func complain(_ text: String) {
    FileHandle.standardError.write(Data("starling lab: \(text)\n".utf8))
}

struct LabUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Build the lab, start everything, configure demo-vs on 192.0.2.10 and wait for its ECMP route.",
        discussion: """
            The admin password comes from STARLING_ADMIN_PASSWORD, else one is generated (printed, and written to \
            the lab directory). The lab keeps running after this command exits; `starling lab down` removes it.
            """)

    @OptionGroup var options: LabOptions

    @Option(help: "Seconds to wait for the VIP route to have one next hop per SE.")
    var wait: Double = 60

    @Option(help: "The starling executable the lab runs (default: this one).")
    var binary: String?

    @Flag(
        help: """
            Also configure demo-native on \(DemoLab.Address.nativeVIP): native scale-out (scaleout_ecmp false), the \
            VIP owned at layer 2 by one SE and reached by the router's connected route, no BGP.
            """)
    var native = false

    @Option(
        help: """
            Port on this machine's 127.0.0.1 forwarded to the controller, for the Admin Console in a browser             (taken when free, else another free port; the URL is printed). 0: any free port.
            """)
    var consolePort = 8443

    @Option(help: "Requests per second of the demo's steady client traffic (0: none).")
    var trafficRate: Double = 10

    @Flag(
        help: """
            Run a controller cluster instead of one controller: three etcd members and three controller nodes \
            (198.18.3.1-3) in the ctrl namespace; the SEs get every node's URL.
            """)
    var cluster = false

    func validate() throws {
        guard (0...65535).contains(consolePort) else { throw ValidationError("--console-port: 0-65535") }
        guard trafficRate >= 0, trafficRate <= 1000 else { throw ValidationError("--traffic-rate: 0-1000") }
    }

    func run() async throws {
        let binary = self.binary ?? Self.ownExecutable()
        let lab: DemoLab
        do {
            lab = try DemoLab(
                name: options.name, binary: binary,
                adminPassword: ProcessInfo.processInfo.environment["STARLING_ADMIN_PASSWORD"].flatMap {
                    $0.isEmpty ? nil : $0
                }, controllers: cluster ? 3 : 1)
        } catch let error as LabError {
            complain(error.message)
            throw ExitCode(error.kind == .unavailable ? 2 : 1)
        }
        print("Building lab \(lab.id) in \(lab.directory) ...")
        do {
            try await lab.up(native: native)
            if trafficRate > 0 { try lab.startTraffic(rate: trafficRate) }
            try lab.forwardConsole(port: consolePort)
        } catch {
            // The report below holds the logs; the error's first line says what failed.
            complain("lab up failed: \(Self.describe(error).split(separator: "\n").first ?? "")")
            FileHandle.standardError.write(Data(lab.report().utf8))
            complain("the half-built lab is still there for inspection; remove it with `starling lab down`")
            throw ExitCode(1)
        }
        print(
            "Waiting up to \(Int(wait)) s for \(DemoLab.Address.vip) to have \(lab.state.seCount) next hops in the router ..."
        )
        do {
            let hops = try await lab.waitForNextHops(count: lab.state.seCount, timeout: wait)
            print("Router: \(DemoLab.Address.vip) via \(hops.sorted().joined(separator: ", ")).")
        } catch {
            let hops = (try? lab.routerNextHops()) ?? []
            let missing = lab.seNames.enumerated().filter { !hops.contains(DemoLab.Address.seData($0.offset + 1)) }
                .map { "\($0.element) (\(DemoLab.Address.seData($0.offset + 1)))" }
            complain(
                "after \(Int(wait)) s the router has \(hops.count) next hops for \(DemoLab.Address.vip); missing: "
                    + missing.joined(separator: ", "))
            print(lab.status())
            print(lab.report(lines: 10))
            print("The lab keeps running; check the logs above.")
        }
        print(lab.instructions())
    }

    static func describe(_ error: any Error) -> String {
        (error as? LabError)?.message ?? "\(error)"
    }

    /// The path of the running executable.
    static func ownExecutable() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments[0]
    }
}

struct LabDown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Stop every lab process and delete every lab namespace (idempotent).")

    @OptionGroup var options: LabOptions

    func run() async throws {
        guard geteuid() == 0 else {
            complain("network namespaces need root (euid \(geteuid()))")
            throw ExitCode(2)
        }
        let removed = DemoLab.down(name: options.name)
        if removed.isEmpty {
            print("Nothing to remove for lab \(DemoLab.prefix)\(options.name).")
        } else {
            for line in removed { print("removed \(line)") }
        }
    }
}

struct LabStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the lab's namespaces, processes, BGP sessions and the VIP route.")

    @OptionGroup var options: LabOptions

    func run() async throws {
        do {
            let lab = try DemoLab.attach(name: options.name)
            print(lab.status())
        } catch let error as LabError {
            complain(error.message)
            throw ExitCode(error.kind == .unavailable ? 2 : 1)
        }
    }
}

/// The lab's pool server on its own, for other test set-ups (image/test runs it in a namespace of its own):
/// answers any GET with 200 and `server=NAME client=PEER`, `/health` with `ok` (see ``PoolServer``).
struct LabPoolServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool-server",
        abstract: "Run the lab's HTTP pool server (python3) in the foreground on PORT, all addresses.")

    @Argument(help: "The name it answers with (server=NAME).")
    var name: String

    @Argument(help: "TCP port.")
    var port: Int

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("port: \(port) is not between 1 and 65535") }
        guard !name.isEmpty, !name.contains(where: \.isWhitespace) else {
            throw ValidationError("name: '\(name)' must be one word")
        }
    }

    func run() throws {
        try execPython(PoolServer.script, arguments: [name, "\(port)"])
    }
}

/// `starling lab http-load URL STOP-FILE OUT-FILE`: the lab's load client (see ``HTTPLoad``) in the
/// foreground: GETs until STOP-FILE exists, then the counts as JSON in OUT-FILE.
struct LabHTTPLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-load",
        abstract: "Send GETs (new and kept-alive connections) until STOP-FILE exists; write the counts to OUT-FILE.")

    @Argument(help: "http://HOST[:PORT]/")
    var url: String

    @Argument(help: "The load stops when this file exists.")
    var stopFile: String

    @Argument(help: "Where the counts go ({\"total\", \"failed\", \"errors\"}).")
    var outFile: String

    func validate() throws {
        guard url.hasPrefix("http://"), url.count > 7 else {
            throw ValidationError("url: '\(url)' is not http://HOST[:PORT]/")
        }
    }

    func run() throws {
        try execPython(HTTPLoad.script, arguments: [url, stopFile, outFile])
    }
}

/// Replaces this process with python3 running `script` (same PID, so a pid file or a signal reaches it); the
/// script is given with -c, so its sys.argv[1:] are `arguments` as when it runs from a file. Returns only by
/// throwing, when python3 cannot be run.
private func execPython(_ script: String, arguments: [String]) throws -> Never {
    let python = Command.which("/usr/bin/python3") ?? Command.which("python3") ?? "/usr/bin/python3"
    let cArgs = ([python, "-u", "-c", script] + arguments).map { strdup($0) } + [nil]
    resetSignalsForExec()
    execv(python, cArgs)
    complain("cannot run \(python): \(errnoText())")
    throw ExitCode(1)
}
