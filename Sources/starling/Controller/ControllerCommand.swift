import ArgumentParser
import Controller
import Foundation
import Logging
import ServiceLifecycle

/// `starling controller --listen ADDR:PORT --data-dir DIR [--store etcd --etcd-endpoints URL[,URL...]]
/// [--admin-password-file F]` (DESIGN §3.1).
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the controller: REST API, configuration store, SE registry and placement.",
        discussion: """
            On first start it creates the store (DIR/controller.sqlite, or with --store etcd the keys under \
            --etcd-prefix) with the default objects and the admin user, whose password comes from \
            STARLING_ADMIN_PASSWORD or --admin-password-file (required). Nodes on one etcd form a cluster: every \
            node serves the API, the elected leader runs placement and serves the SEs (give the SEs every \
            node's URL). SIGTERM stops it cleanly.

            The API is HTTPS: the first node creates the cluster's CA (kept in the store) and every node gets a \
            certificate from it at each start; it logs the CA's SHA-256 fingerprint and writes the CA to \
            DIR/cluster-ca.pem (for starling ctl --ca-fingerprint or --ca-file). Join tokens carry the \
            fingerprint, so an SE needs only --controller and --token. SEs authenticate with client \
            certificates the CA issues them at registration. --insecure-http serves plain HTTP (tests, labs).
            """
    )

    @Option(
        name: .long,
        help: """
            Serve the REST API on ADDR:PORT (e.g. 127.0.0.1:8443). In an etcd cluster the other nodes reach this \
            node there: give its own address, not 0.0.0.0.
            """)
    var listen: String

    @Option(
        name: .long,
        help: """
            Directory of the node's own files (created when missing): the SQLite store, the node-local analytics \
            and the secrets key.
            """)
    var dataDir: String

    @Option(name: .long, help: "Where the configuration lives: sqlite (in --data-dir) or etcd (--etcd-endpoints).")
    var store: String = "sqlite"

    @Option(
        name: .long,
        help: "etcd client URLs for --store etcd, comma-separated (http://HOST:PORT or https://HOST:PORT).")
    var etcdEndpoints: String?

    @Option(name: .long, help: "Key prefix of the configuration in etcd.")
    var etcdPrefix: String = "/starling/"

    @Option(name: .long, help: "For https:// etcd endpoints: the CA file of the members' certificates.")
    var etcdCacert: String?

    @Option(name: .long, help: "For https:// etcd endpoints: this node's client certificate (PEM).")
    var etcdCert: String?

    @Option(name: .long, help: "For https:// etcd endpoints: the key of --etcd-cert (PEM).")
    var etcdKey: String?

    @Option(name: .long, help: "This controller node's name (default: the host name).")
    var nodeName: String?

    @Option(name: .long, help: "File holding the admin password (else STARLING_ADMIN_PASSWORD).")
    var adminPasswordFile: String?

    @Option(name: .long, help: "Seconds between SE heartbeats.")
    var heartbeatInterval: Double = 1.0

    @Option(name: .long, help: "Missed heartbeat intervals before an SE is declared down.")
    var seDownAfter: Double = 3

    @Option(
        name: .long,
        help: "PBKDF2-HMAC-SHA256 iterations for new password hashes (stored hashes keep their own count).")
    var passwordIterations: Int = 100_000

    @Option(name: .long, help: "Seconds after its last use that a login session ends (Avi: 15 min).")
    var sessionIdleTimeout: Double = 15 * 60

    @Option(name: .long, help: "Seconds after login that a session ends, used or not.")
    var sessionLifetime: Double = 24 * 3600

    @Option(name: .long, help: "Failed logins per user name within the throttle window before 429.")
    var loginFailuresPerUser: Int = 5

    @Option(name: .long, help: "Failed logins per source address within the throttle window before 429.")
    var loginFailuresPerSource: Int = 20

    @Option(name: .long, help: "Seconds over which failed logins are counted.")
    var loginThrottleWindow: Double = 60

    @Flag(
        name: .long,
        help: "Mark session cookies Secure with --insecure-http too (the API is reached through a TLS proxy).")
    var secureCookies = false

    @Option(
        name: .long,
        help: """
            File with the 32-byte key that seals certificate private keys in the store (made, mode 0600, when \
            missing). Default: <data-dir>/secrets.key. Keep it apart from backups of the database.
            """)
    var secretsKeyFile: String?

    @Option(
        name: .long,
        help: "Serve the Admin Console from this folder, read on every request, instead of the copy built in.")
    var consoleDir: String?

    @Option(
        name: .long, help: "Most request logs kept in the store; the oldest go first (about 650 bytes each).")
    var requestLogMaxRows: Int = 500_000

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(
        name: .long,
        help: "Serve the API over plain HTTP instead of HTTPS (tests and labs: credentials and tokens go in clear).")
    var insecureHttp = false

    @Option(
        name: .long,
        help: """
            Serve HTTPS with this PEM certificate chain instead of one from the cluster CA (SEs and ctl must then \
            trust its issuer: the system's roots or ctl --ca-file).
            """)
    var tlsCert: String?

    @Option(name: .long, help: "The key (PEM) of --tls-cert.")
    var tlsKey: String?

    func validate() throws {
        guard HostPort(listen) != nil else {
            throw ValidationError("--listen: '\(listen)' is not ADDR:PORT (e.g. 127.0.0.1:8443 or [::1]:8443)")
        }
        guard heartbeatInterval > 0, heartbeatInterval <= 60 else {
            throw ValidationError("--heartbeat-interval: must be between 0 and 60 seconds")
        }
        guard seDownAfter >= 1, seDownAfter <= 100 else { throw ValidationError("--se-down-after: must be 1-100") }
        guard (1...10_000_000).contains(passwordIterations) else {
            throw ValidationError("--password-iterations: must be 1-10000000")
        }
        guard sessionIdleTimeout >= 10, sessionIdleTimeout <= 7 * 86400 else {
            throw ValidationError("--session-idle-timeout: must be 10-604800 seconds")
        }
        guard sessionLifetime >= sessionIdleTimeout, sessionLifetime <= 30 * 86400 else {
            throw ValidationError("--session-lifetime: must be at least --session-idle-timeout and at most 30 days")
        }
        guard (1...1000).contains(loginFailuresPerUser) else {
            throw ValidationError("--login-failures-per-user: must be 1-1000")
        }
        guard (1...100_000).contains(loginFailuresPerSource) else {
            throw ValidationError("--login-failures-per-source: must be 1-100000")
        }
        guard loginThrottleWindow >= 1, loginThrottleWindow <= 86400 else {
            throw ValidationError("--login-throttle-window: must be 1-86400 seconds")
        }
        guard (1_000...100_000_000).contains(requestLogMaxRows) else {
            throw ValidationError("--request-log-max-rows: must be 1000-100000000")
        }
        if let consoleDir {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: consoleDir + "/index.html", isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { throw ValidationError("--console-dir: \(consoleDir) has no index.html") }
        }
        try LogLevelOption.validate(logLevel)
        switch store {
        case "sqlite":
            guard etcdEndpoints == nil, etcdCacert == nil, etcdCert == nil, etcdKey == nil else {
                throw ValidationError("--etcd-endpoints and the etcd TLS files: only with --store etcd")
            }
        case "etcd":
            guard let etcdEndpoints, !etcdEndpoints.isEmpty else {
                throw ValidationError("--store etcd: needs --etcd-endpoints URL[,URL...]")
            }
            for url in etcdEndpoints.split(separator: ",") {
                guard url.hasPrefix("http://") || url.hasPrefix("https://"),
                    URLComponents(string: String(url))?.host?.isEmpty == false
                else {
                    throw ValidationError("--etcd-endpoints: '\(url)' is not http://HOST:PORT or https://HOST:PORT")
                }
            }
            if (etcdCert == nil) != (etcdKey == nil) {
                throw ValidationError("--etcd-cert and --etcd-key: give both or neither")
            }
            for (flag, file) in [("--etcd-cacert", etcdCacert), ("--etcd-cert", etcdCert), ("--etcd-key", etcdKey)] {
                if let file, !FileManager.default.isReadableFile(atPath: file) {
                    throw ValidationError("\(flag): cannot read \(file)")
                }
            }
            let secured = etcdCacert != nil || etcdCert != nil
            if secured, !etcdEndpoints.split(separator: ",").allSatisfy({ $0.hasPrefix("https://") }) {
                throw ValidationError("--etcd-cacert/--etcd-cert: the etcd endpoints must all be https://")
            }
            guard etcdPrefix.hasPrefix("/"), etcdPrefix.hasSuffix("/") else {
                throw ValidationError("--etcd-prefix: must begin and end with / (e.g. /starling/)")
            }
        default:
            throw ValidationError("--store: '\(store)' is not sqlite or etcd")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key: give both or neither")
        }
        if insecureHttp, tlsCert != nil { throw ValidationError("--insecure-http and --tls-cert exclude each other") }
        for (flag, file) in [("--tls-cert", tlsCert), ("--tls-key", tlsKey)] {
            if let file, !FileManager.default.isReadableFile(atPath: file) {
                throw ValidationError("\(flag): cannot read \(file)")
            }
        }
        if let nodeName, nodeName.isEmpty || nodeName.count > 253 {
            throw ValidationError("--node-name: must be 1-253 characters")
        }
    }

    func run() async throws {
        LogLevelOption.bootstrap(logLevel)
        let logger = Logger(label: "starling.controller")
        let password: String
        do {
            password = try adminPassword()
        } catch {
            FileHandle.standardError.write(Data("starling controller: \(error)\n".utf8))
            throw ExitCode(2)
        }
        var config = ControllerConfiguration(dataDirectory: dataDir, adminPassword: password)
        config.heartbeatInterval = heartbeatInterval
        config.seDownAfter = seDownAfter
        config.passwordIterations = passwordIterations
        config.sessionIdleTimeout = sessionIdleTimeout
        config.sessionLifetime = sessionLifetime
        config.loginFailuresPerUser = loginFailuresPerUser
        config.loginFailuresPerSource = loginFailuresPerSource
        config.loginThrottleWindow = loginThrottleWindow
        // Over HTTPS the session cookies are Secure: a browser never sends them in clear.
        config.secureCookies = secureCookies || !insecureHttp
        config.secretsKeyFile = secretsKeyFile
        config.consoleDirectory = consoleDir
        config.requestLogMaxRows = requestLogMaxRows
        if store == "etcd", let etcdEndpoints {
            config.store = .etcd(endpoints: etcdEndpoints.split(separator: ",").map(String.init), prefix: etcdPrefix)
        }
        if let nodeName { config.nodeName = nodeName }
        config.etcdCAFile = etcdCacert
        config.etcdCertFile = etcdCert
        config.etcdKeyFile = etcdKey
        config.nodeAddress = listen
        if insecureHttp {
            config.apiTLS = .insecureHTTP
        } else if let tlsCert, let tlsKey {
            config.apiTLS = .files(certificate: tlsCert, key: tlsKey)
        }
        let controller: Controller
        do {
            controller = try await Controller(configuration: config, logger: logger)
        } catch {
            let place = store == "etcd" ? "in etcd (\(etcdEndpoints ?? ""))" : "in \(dataDir)"
            FileHandle.standardError.write(Data("starling controller: cannot open the store \(place): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let hp = HostPort(listen)!
        let app: any Service
        do {
            app = try controller.service(host: hp.host, port: hp.port)
        } catch {
            await controller.close()
            FileHandle.standardError.write(Data("starling controller: TLS: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let caFile = dataDir + "/cluster-ca.pem"
        try? controller.clusterCA.pem.write(toFile: caFile, atomically: true, encoding: .utf8)
        logger.info(
            "controller listening",
            metadata: [
                "controller.listen": "\(insecureHttp ? "http" : "https")://\(listen)", "controller.dir": "\(dataDir)",
                "controller.ca_sha256": "\(controller.clusterCA.fingerprint)", "controller.ca_file": "\(caFile)",
            ])
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: ReconcilerFreeze(controller: controller))],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await controller.close()
            FileHandle.standardError.write(Data("starling controller: \(error)\n".utf8))
            throw ExitCode(1)
        }
        await controller.close()
    }

    struct PasswordError: Error, CustomStringConvertible {
        var description: String
    }

    func adminPassword() throws -> String {
        if let f = adminPasswordFile {
            guard let data = FileManager.default.contents(atPath: f) else {
                throw PasswordError(description: "--admin-password-file: cannot read \(f)")
            }
            let p = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
            guard !p.isEmpty else { throw PasswordError(description: "--admin-password-file: \(f) is empty") }
            return p
        }
        guard let p = ProcessInfo.processInfo.environment["STARLING_ADMIN_PASSWORD"], !p.isEmpty else {
            throw PasswordError(
                description: "no admin password: set STARLING_ADMIN_PASSWORD or pass --admin-password-file")
        }
        return p
    }
}
