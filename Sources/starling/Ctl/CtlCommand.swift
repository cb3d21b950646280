import ArgumentParser
import Foundation
import SE
import StarlingModel

/// `starling ctl --controller URL ...`: the CLI for the controller's REST API (DESIGN §3.1).
///
/// The arguments are parsed by ``CtlRoot`` so that every failure maps to the documented exit codes: a usage
/// error (bad flag, missing argument, unreadable file) exits 2, an API or connection error exits 1; both
/// print one line `starling ctl: ...` on stderr.
struct CtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Manage the controller from the terminal (login, get, create, delete, show, analytics).",
        discussion: "Run `starling ctl --help` for the subcommands.",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: "Arguments of `starling ctl` (see `starling ctl --help`).")
    var arguments: [String] = []

    func run() async throws {
        let code = await CtlMain.run(arguments, context: .standard)
        if code != 0 { throw ExitCode(code) }
    }
}

/// What a subcommand runs with: the environment and where its output goes.
struct CtlContext: Sendable {
    var environment: CtlEnvironment
    /// Writes one block of normal output (a newline is added).
    var out: @Sendable (String) -> Void
    /// Writes one block of error output (a newline is added).
    var err: @Sendable (String) -> Void

    /// The process's environment, standard output and standard error.
    static var standard: CtlContext {
        CtlContext(
            environment: .current,
            out: { text in FileHandle.standardOutput.write(Data((text + "\n").utf8)) },
            err: { text in FileHandle.standardError.write(Data((text + "\n").utf8)) })
    }
}

/// Parses and runs `starling ctl` arguments.
enum CtlMain {
    /// Runs `arguments` and returns the exit status (0, 1 API error, 2 usage error).
    static func run(_ arguments: [String], context: CtlContext) async -> Int32 {
        let command: any ParsableCommand
        do {
            command = try CtlRoot.parseAsRoot(arguments)
        } catch {
            if CtlRoot.exitCode(for: error) == .success {
                context.out(CtlRoot.fullMessage(for: error))
                return 0
            }
            context.err("starling ctl: \(usageMessage(for: error))")
            return 2
        }
        guard let subcommand = command as? any CtlSubcommand else {
            if !(command is CtlRoot) {
                // `--help`, `-h` and `help SUBCOMMAND` parse to ArgumentParser's help command, which throws
                // a clean exit carrying the text.
                var help = command
                do {
                    try help.run()
                } catch {
                    if CtlRoot.exitCode(for: error) == .success {
                        context.out(CtlRoot.fullMessage(for: error))
                        return 0
                    }
                    context.err("starling ctl: \(usageMessage(for: error))")
                    return 2
                }
            }
            context.err(
                "starling ctl: missing subcommand (login, logout, get, create, delete, show, analytics); see --help")
            return 2
        }
        do {
            try await subcommand.execute(context)
            return 0
        } catch {
            context.err("starling ctl: \(error.message)")
            return error.exitCode
        }
    }

    /// The one-line message of a parse or validation error.
    static func usageMessage(for error: any Error) -> String {
        let message = CtlRoot.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        return message.replacingOccurrences(of: "Error: ", with: "")
    }
}

/// The argument grammar of `starling ctl` (parsing only; ``CtlMain`` runs the result).
struct CtlRoot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starling ctl",
        abstract: "Manage the Starling controller through its REST API.",
        discussion: """
            The controller URL comes from --controller, else $STARLING_CONTROLLER, else the saved session. `login` \
            saves a session in ~/.starling/ctl.json; --username/--password on any command use HTTP Basic \
            authentication instead.

            Over https:// the controller's certificate is checked against the cluster CA: --ca-file (the \
            controller's DIR/cluster-ca.pem) or --ca-fingerprint (its SHA-256, logged by the controller at \
            start; the CA is then fetched and kept only when it matches), else the system's roots. `login` keeps \
            the CA in the session.

            TYPE is an API object type (virtualservice, pool, vsvip, healthmonitor, serviceengine, \
            serviceenginegroup, vrfcontext, ...); short names: vs, se, seg, hm, vrf, cert.

            Exit status: 0 success, 1 API or connection error, 2 usage error.
            """,
        subcommands: [
            CtlLogin.self, CtlLogout.self, CtlGet.self, CtlCreate.self, CtlDelete.self, CtlShow.self,
            CtlAnalytics.self, CtlLogs.self, CtlBackup.self, CtlRestore.self,
        ]
    )

    @OptionGroup var global: CtlGlobalOptions
}

/// Options every `starling ctl` subcommand accepts (before or after the subcommand name).
struct CtlGlobalOptions: ParsableArguments {
    @Option(help: "Controller URL, https://HOST:PORT (default: $STARLING_CONTROLLER, else the saved session's).")
    var controller: String?

    @Option(help: "PEM file of the cluster CA to verify the controller with (default: $STARLING_CA_FILE).")
    var caFile: String?

    @Option(
        help: """
            SHA-256 of the cluster CA (hex, colons allowed; default: $STARLING_CA_FINGERPRINT): the CA is fetched from \
            the controller and used only when it matches.
            """)
    var caFingerprint: String?

    @Option(help: "User name (login; with --password on other commands: HTTP Basic auth). Default admin.")
    var username: String?

    @Option(help: "Password (login; on other commands: HTTP Basic auth). Default: $STARLING_PASSWORD or a prompt.")
    var password: String?

    @Option(help: "Tenant to work in (X-Avi-Tenant). Default: $STARLING_TENANT, else the user's default tenant.")
    var tenant: String?

    /// The tenant to send: the flag or `STARLING_TENANT`; nil lets the controller use the user's default.
    func resolvedTenant(_ environment: CtlEnvironment) -> String? {
        tenant ?? environment.variables["STARLING_TENANT"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The controller URL to use: the flag, `STARLING_CONTROLLER`, or the saved session's.
    func controllerURL(_ environment: CtlEnvironment, session: CtlSession?) throws(CtlError) -> String {
        guard
            var url = controller ?? environment.variables["STARLING_CONTROLLER"].flatMap({ $0.isEmpty ? nil : $0 })
                ?? session?.controller
        else {
            throw CtlError.usage(
                "no controller: pass --controller https://HOST:PORT, set STARLING_CONTROLLER, or log in")
        }
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// The password for `username`: the flag, `STARLING_PASSWORD`, or a prompt without echo.
    func resolvedPassword(_ environment: CtlEnvironment, username: String) throws(CtlError) -> String {
        if let password { return password }
        if let password = environment.variables["STARLING_PASSWORD"], !password.isEmpty { return password }
        if let password = environment.readPassword("Password for \(username): ") { return password }
        throw CtlError.usage("no password: pass --password, set STARLING_PASSWORD, or run from a terminal")
    }

    /// The cluster CA (PEM) to verify an `https://` controller with: --ca-file, else --ca-fingerprint (fetched
    /// and checked), else the saved session's for this controller; nil for the system's roots only (and for
    /// `http://`).
    func trustedCA(_ environment: CtlEnvironment, url: String, session: CtlSession?) async throws(CtlError)
        -> String?
    {
        guard url.lowercased().hasPrefix("https://") else { return nil }
        func setting(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment.variables[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        if let file = setting(caFile, "STARLING_CA_FILE") {
            guard let pem = try? String(contentsOfFile: file, encoding: .utf8),
                (try? ManagementTrust.fingerprint(pem: pem)) != nil
            else { throw CtlError.usage("--ca-file: \(file) is not a readable PEM certificate") }
            return pem
        }
        if let text = setting(caFingerprint, "STARLING_CA_FINGERPRINT") {
            let hash = text.replacingOccurrences(of: ":", with: "").lowercased()
            guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else {
                throw CtlError.usage("--ca-fingerprint: '\(text)' is not a SHA-256 (64 hex digits)")
            }
            do {
                return try await ManagementTrust.fetchCA(from: url, expected: hash)
            } catch {
                throw CtlError.api("\(error)")
            }
        }
        if let session, session.controller == url { return session.ca }
        return nil
    }

    /// The controller and how to authenticate to it: HTTP Basic when --username or --password is given, else
    /// the saved session when it belongs to this controller, else nothing.
    func connection(_ environment: CtlEnvironment) async throws(CtlError) -> CtlAPI {
        let session = try CtlSession.load(home: environment.home)
        let url = try controllerURL(environment, session: session)
        let auth: CtlAuth
        if username != nil || password != nil {
            let user = username ?? "admin"
            auth = .basic(username: user, password: try resolvedPassword(environment, username: user))
        } else if let session, session.controller == url {
            auth = .session(sessionID: session.sessionid, csrfToken: session.csrftoken)
        } else {
            auth = .none
        }
        var api = try CtlAPI(
            controller: url, auth: auth, caPEM: try await trustedCA(environment, url: url, session: session))
        api.tenant = resolvedTenant(environment)
        return api
    }
}

/// Output format of `get` and `show`.
enum CtlFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table
    case json
}

/// A `starling ctl` subcommand.
protocol CtlSubcommand: ParsableCommand {
    /// Runs the subcommand; failures are one line with their exit code.
    func execute(_ context: CtlContext) async throws(CtlError)
}

/// `login`: POST /login, save the session cookies.
struct CtlLogin: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Log in and save the session in ~/.starling/ctl.json (mode 0600).")

    @OptionGroup var global: CtlGlobalOptions

    func execute(_ context: CtlContext) async throws(CtlError) {
        let environment = context.environment
        let url = try global.controllerURL(environment, session: nil)
        let username = global.username ?? "admin"
        let password = try global.resolvedPassword(environment, username: username)
        let ca = try await global.trustedCA(environment, url: url, session: nil)
        let api = try CtlAPI(controller: url, auth: .none, caPEM: ca)
        let body = JSONValue.object(["username": .string(username), "password": .string(password)])
        let response = try await api.send("POST", "/login", json: body)
        guard response.status == 200 else {
            throw CtlError.api(
                CtlAPI.errorText(response, request: "login to \(url) as \(username)", loginHint: false))
        }
        let cookies = response.setCookies
        guard let sessionID = cookies["sessionid"], let csrf = cookies["csrftoken"] else {
            throw CtlError.api("login to \(url): the controller set no sessionid and csrftoken cookies")
        }
        let session = CtlSession(
            controller: url, username: username, sessionid: sessionID, csrftoken: csrf, ca: ca)
        try session.save(home: environment.home)
        context.out("Logged in to \(url) as \(username) (session saved in \(CtlSession.path(home: environment.home))).")
    }
}

/// `logout`: POST /logout and forget the saved session.
struct CtlLogout: CtlSubcommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Log out and forget the session.")

    @OptionGroup var global: CtlGlobalOptions

    func execute(_ context: CtlContext) async throws(CtlError) {
        let environment = context.environment
        guard let session = try CtlSession.load(home: environment.home) else {
            context.out("Not logged in.")
            return
        }
        if let api = try? CtlAPI(
            controller: session.controller,
            auth: .session(sessionID: session.sessionid, csrfToken: session.csrftoken), caPEM: session.ca)
        {
            _ = try? await api.send("POST", "/logout")
        }
        CtlSession.remove(home: environment.home)
        context.out("Logged out of \(session.controller).")
    }
}

/// `get TYPE [NAME]`: list objects (every page) or show one, as a table or JSON.
struct CtlGet: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "List objects of TYPE, or show the one named NAME.")

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "Object type (virtualservice, pool, vsvip, serviceengine, ...; vs, se, ...).")
    var type: String

    @Argument(help: "Object name.")
    var name: String?

    @Option(name: [.short, .customLong("output")], help: "Output format: table or json.")
    var output: CtlFormat = .table

    func validate() throws {
        do { _ = try CtlAPI.objectType(type) } catch { throw ValidationError(error.message) }
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let type = try CtlAPI.objectType(self.type)
        let api = try await global.connection(context.environment)
        let objects: [JSONValue]
        if let name {
            objects = [try await api.object(type, named: name)]
        } else {
            objects = try await api.list(type)
        }
        switch output {
        case .json:
            context.out(name != nil ? objects[0].pretty : JSONValue.array(objects).pretty)
        case .table:
            var related: [JSONValue] = []
            for relatedType in CtlViews.relatedTypes(for: type) {
                // Names are a nicety: a type the user may not read just shows uuids.
                related += (try? await api.list(relatedType)) ?? []
            }
            context.out(CtlViews.table(type: type, objects: objects, lookup: CtlRefLookup(related: related)).render())
        }
    }
}

/// `create TYPE -f FILE`: POST each object of the file.
struct CtlCreate: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create objects of TYPE from a JSON or YAML file (one object or a list; stops at the first error).")

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "Object type.")
    var type: String

    @Option(name: [.short, .customLong("file")], help: "JSON or YAML file ('-' reads standard input).")
    var file: String

    func validate() throws {
        do { _ = try CtlAPI.objectType(type) } catch { throw ValidationError(error.message) }
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let type = try CtlAPI.objectType(self.type)
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CtlError.usage("-f \(file): cannot read the file")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let objects = try ObjectFile.objects(from: text, source: file == "-" ? "standard input" : file)
        let api = try await global.connection(context.environment)
        for object in objects {
            let label = object["name"]?.display ?? "(no name)"
            let created: JSONValue
            do {
                created = try await api.call("POST", "/api/\(type)", json: .object(object))
            } catch {
                throw CtlError(exitCode: error.exitCode, message: "create \(type) \(label): \(error.message)")
            }
            let name = created["name"]?.display ?? label
            context.out("created \(type) \(name) \(CtlAPI.uuid(of: created) ?? "")")
        }
    }
}

/// `delete TYPE NAME`: resolve the name, DELETE /api/TYPE/<uuid>.
struct CtlDelete: CtlSubcommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete the object NAME of TYPE.")

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "Object type.")
    var type: String

    @Argument(help: "Object name.")
    var name: String

    func validate() throws {
        do { _ = try CtlAPI.objectType(type) } catch { throw ValidationError(error.message) }
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let type = try CtlAPI.objectType(self.type)
        let api = try await global.connection(context.environment)
        let object = try await api.object(type, named: name)
        guard let uuid = CtlAPI.uuid(of: object) else {
            throw CtlError.api("\(type) '\(name)' has no uuid in the API's answer")
        }
        _ = try await api.call("DELETE", "/api/\(type)/\(uuid)")
        context.out("deleted \(type) \(name) \(uuid)")
    }
}

/// `show vs NAME` / `show se NAME`: the runtime (placement, oper state, advertisement, BGP); `show cluster`:
/// the controller nodes and which one leads.
struct CtlShow: CtlSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: """
            Show the runtime of a virtual service (vs) or service engine (se): placement, state, BGP; or the \
            controller cluster's nodes and their roles (cluster).
            """)

    @OptionGroup var global: CtlGlobalOptions

    @Argument(help: "vs (virtualservice), se (serviceengine) or cluster.")
    var type: String

    @Argument(help: "Object name (not for cluster).")
    var name: String?

    @Option(name: [.short, .customLong("output")], help: "Output format: table or json (the runtime as returned).")
    var output: CtlFormat = .table

    func validate() throws {
        if type == "cluster" {
            guard name == nil else { throw ValidationError("show cluster takes no NAME") }
            return
        }
        guard (try? Self.runtimeType(type)) != nil else {
            throw ValidationError(
                "TYPE '\(type)' has no runtime: use vs (virtualservice), se (serviceengine) or cluster")
        }
        guard name != nil else { throw ValidationError("show \(type) needs the object's NAME") }
    }

    static func runtimeType(_ text: String) throws(CtlError) -> String {
        let type = try CtlAPI.objectType(text)
        guard type == "virtualservice" || type == "serviceengine" else {
            throw CtlError.usage(
                "TYPE '\(text)' has no runtime: use vs (virtualservice), se (serviceengine) or cluster")
        }
        return type
    }

    func execute(_ context: CtlContext) async throws(CtlError) {
        let api = try await global.connection(context.environment)
        if type == "cluster" {
            let runtime = try await api.call("GET", "/api/cluster/runtime")
            context.out(output == .json ? runtime.pretty : CtlViews.cluster(runtime))
            return
        }
        let type = try Self.runtimeType(self.type)
        guard
            let (object, runtime) = try await api.objectResource(
                type, named: name ?? "", output: output, context: context, path: { "/api/\(type)/\($0)/runtime" })
        else { return }
        var related: [JSONValue] = []
        for relatedType in CtlViews.relatedTypes(for: type) {
            related += (try? await api.list(relatedType)) ?? []
        }
        let summary = CtlViews.table(type: type, objects: [object], lookup: CtlRefLookup(related: related))
        context.out(summary.render() + "\n\n" + CtlViews.runtime(runtime, title: "runtime:"))
    }
}
