import BGPSpeaker
import StarlingModel

/// What the SE makes of one virtual service of its desired state: the data-plane configuration, the
/// VIPs to plumb and advertise, and the facts the advertisement decision needs. Pure (STYLE "Protocol logic is pure").
public struct ServicePlan: Sendable, Hashable {
    public var id: String
    public var name: String
    public var vips: [IPAddress]
    public var enabled: Bool
    public var enableRHI: Bool
    /// nil when the service cannot run here; `problem` says why.
    public var dataPlane: ServiceConfig?
    /// Why the service cannot run, or a caveat about how it runs (an unsupported option).
    public var problem: String?
    public var notes: [String]

    /// Maps one resolved Avi virtual service (DESIGN §3.3) onto the SE's data plane.
    public init(_ resolved: ResolvedVirtualService) {
        let vs = resolved.virtualservice
        id = vs.uuid ?? "virtualservice-\(vs.name)"
        name = vs.name
        enabled = vs.isEnabled
        enableRHI = vs.enable_rhi ?? false
        notes = []
        problem = nil
        dataPlane = nil

        var vips: [IPAddress] = []
        for vip in resolved.vsvip.vip where vip.enabled ?? true {
            for a in vip.addresses {
                if let ip = IPAddress(a.addr) { vips.append(ip) }
            }
        }
        self.vips = vips
        guard !vips.isEmpty else {
            problem = "vsvip \(resolved.vsvip.name) has no enabled IP address"
            return
        }

        let kind: ServiceConfig.Kind
        switch resolved.application_profile.type {
        case .http: kind = .http
        case .l4: kind = .l4
        case .ssl:
            problem = "application profile \(resolved.application_profile.name): TLS is not supported by this SE yet"
            return
        }
        if vs.services.contains(where: { $0.enable_ssl ?? false }) {
            problem = "services with enable_ssl: TLS termination is not supported by this SE yet"
            return
        }

        var listeners: [ListenAddress] = []
        for vip in vips {
            for service in vs.services {
                let last = max(service.port, service.port_range_end ?? service.port)
                for port in service.port...last {
                    listeners.append(ListenAddress(host: "\(vip)", port: port))
                }
            }
        }

        guard let pool = resolved.pool else {
            problem = "no pool_ref: nothing to proxy to"
            return
        }
        let algorithm: LBAlgorithm
        switch pool.lb_algorithm ?? .leastConnections {
        case .roundRobin: algorithm = .roundRobin
        case .leastConnections: algorithm = .leastConnections
        case let other:
            algorithm = .leastConnections
            notes.append("\(other.rawValue) is not implemented by this SE: using LB_ALGORITHM_LEAST_CONNECTIONS")
        }
        let poolEnabled = pool.enabled ?? true
        let servers = (pool.servers ?? []).map { s in
            ServerConfig(
                ip: s.ip.addr, port: pool.port(of: s), ratio: s.ratio ?? 1, enabled: poolEnabled && (s.enabled ?? true))
        }
        var monitors: [MonitorConfig] = []
        for hm in resolved.health_monitors {
            let monitorKind: MonitorConfig.Kind
            switch hm.type {
            case .tcp: monitorKind = .tcp
            case .http:
                let request = hm.http_monitor?.http_request ?? "GET / HTTP/1.0"
                let codes = (hm.http_monitor?.http_response_code ?? [.r2xx, .r3xx]).compactMap {
                    ExpectedCode(avi: $0.rawValue)
                }
                monitorKind = .http(request: request, expectedCodes: codes)
            case let other:
                notes.append("health monitor \(hm.name): \(other.rawValue) is not supported by this SE; ignored")
                continue
            }
            let monitor = MonitorConfig(
                name: hm.name, kind: monitorKind, interval: .seconds(hm.send_interval ?? 10),
                timeout: .seconds(hm.receive_timeout ?? 4), successfulChecks: hm.successful_checks ?? 2,
                failedChecks: hm.failed_checks ?? 2, port: hm.monitor_port)
            monitors.append(monitor)
        }
        dataPlane = ServiceConfig(
            id: id, name: name, listeners: listeners, kind: kind,
            pool: PoolConfig(name: pool.name, algorithm: algorithm, servers: servers, monitors: monitors))
    }
}
