import Foundation
import Glibc

/// Where the appliance's configuration document comes from, in the order `configure` looks:
/// the copy persisted at first boot, qemu's `-fw_cfg name=opt/org.starling/config`, a NoCloud seed
/// (a vfat or iso9660 volume labelled `cidata` holding `user-data`) or an OpenStack config drive (labelled
/// `config-2`, holding `openstack/latest/user_data`).
struct ApplianceSeedLocator {
    enum Source: Equatable, CustomStringConvertible {
        case persisted(String)
        case firmwareConfig(String)
        case seedVolume(device: String, label: String, file: String)

        var description: String {
            switch self {
            case .persisted(let path): "persisted copy \(path)"
            case .firmwareConfig(let path): "qemu fw_cfg \(path)"
            case .seedVolume(let device, let label, let file): "seed volume \(device) (label \(label)) file \(file)"
            }
        }
    }

    /// Prefix of every path (tests use a scratch directory; the appliance uses `/`).
    var root: String = "/"

    var persistedPath: String { path("etc/starling/appliance.yaml") }
    var firmwareConfigPath: String { path("sys/firmware/qemu_fw_cfg/by_name/opt/org.starling/config/raw") }

    func path(_ relative: String) -> String { (root.hasSuffix("/") ? root : root + "/") + relative }

    /// The first source present now, with its text; nil when there is none.
    func find() throws(ConfigError) -> (Source, String)? {
        if FileManager.default.fileExists(atPath: persistedPath) {
            return (.persisted(persistedPath), try read(persistedPath, what: "the persisted configuration"))
        }
        if FileManager.default.fileExists(atPath: firmwareConfigPath) {
            return (.firmwareConfig(firmwareConfigPath), try read(firmwareConfigPath, what: "the fw_cfg entry"))
        }
        // A volume that cannot be read does not hide a later one; its error is reported if none works.
        var firstError: ConfigError?
        for volume in seedVolumes() {
            do {
                let text = try readFromVolume(volume)
                return (.seedVolume(device: volume.device, label: volume.label, file: volume.file), text)
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return nil
    }

    private func read(_ path: String, what: String) throws(ConfigError) -> String {
        // At most 1 MiB is read: a huge file is refused, not loaded into a small VM's memory.
        guard let handle = FileHandle(forReadingAtPath: path),
            let data = try? handle.read(upToCount: (1 << 20) + 1) ?? Data()
        else {
            throw ConfigError(field: "", message: "cannot read \(what) \(path)")
        }
        try? handle.close()
        guard data.count <= 1 << 20 else {
            throw ConfigError(field: "", message: "\(what) \(path) is larger than 1 MiB")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(field: "", message: "\(what) \(path) is not UTF-8 text")
        }
        return text
    }

    // MARK: - Seed volumes

    struct Volume: Equatable {
        var device: String
        var label: String
        var fileSystem: String
        var file: String
    }

    /// Block devices whose file-system label names a seed, read from their first sectors (no udev needed).
    func seedVolumes() -> [Volume] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path("sys/class/block"))) ?? []
        var found: [Volume] = []
        for name in names.sorted() where !name.hasPrefix("loop") && !name.hasPrefix("ram") {
            let device = path("dev/\(name)")
            guard let head = readHead(device, count: 34_816),
                let (fileSystem, label) = Self.probeLabel(head)
            else { continue }
            switch label.lowercased() {
            case "cidata": found.append(Volume(device: device, label: label, fileSystem: fileSystem, file: "user-data"))
            case "config-2":
                found.append(
                    Volume(device: device, label: label, fileSystem: fileSystem, file: "openstack/latest/user_data"))
            default: continue
            }
        }
        return found
    }

    private func readHead(_ device: String, count: Int) -> [UInt8]? {
        let fd = open(device, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, count - filled, off_t(filled)) }
            if n <= 0 { break }
            filled += n
        }
        return filled >= 512 ? Array(buffer[..<filled]) : nil
    }

    /// The file system (`vfat` or `iso9660`) and volume label of a volume, from its first 34 KiB.
    static func probeLabel(_ bytes: [UInt8]) -> (String, String)? {
        func text(_ range: Range<Int>) -> String? {
            guard range.upperBound <= bytes.count else { return nil }
            let raw = String(decoding: bytes[range], as: UTF8.self)
            return raw.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        }
        // ISO 9660: primary volume descriptor at 32 KiB, "CD001", volume identifier at +40 (32 bytes).
        if bytes.count >= 32_768 + 72, text(32_769..<32_774) == "CD001",
            let label = text(32_808..<32_840), !label.isEmpty
        {
            return ("iso9660", label)
        }
        // FAT: boot signature 55 AA; FAT32 has its type at 82 and label at 71, FAT12/16 at 54 and 43.
        guard bytes.count >= 512, bytes[510] == 0x55, bytes[511] == 0xAA else { return nil }
        if text(82..<90) == "FAT32", let label = text(71..<82), !label.isEmpty, label != "NO NAME" {
            return ("vfat", label)
        }
        if let type = text(54..<62), type == "FAT12" || type == "FAT16" || type == "FAT",
            let label = text(43..<54), !label.isEmpty, label != "NO NAME"
        {
            return ("vfat", label)
        }
        return nil
    }

    /// Mounts `volume` read-only on a scratch directory, reads its document and unmounts it.
    private func readFromVolume(_ volume: Volume) throws(ConfigError) -> String {
        let base = path("run/starling")
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var template = Array("\(base)/seed.XXXXXX".utf8CString)
        guard
            let directory = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({
                String(cString: $0)
            })
        else {
            throw ConfigError(field: "", message: "cannot make a mount point in \(base): \(errnoText())")
        }
        defer { rmdir(directory) }
        let flags = UInt(MS_RDONLY) | UInt(MS_NOSUID) | UInt(MS_NODEV) | UInt(MS_NOEXEC)
        guard mount(volume.device, directory, volume.fileSystem, flags, nil) == 0 else {
            throw ConfigError(
                field: "", message: "cannot mount seed volume \(volume.device) (\(volume.fileSystem)): \(errnoText())")
        }
        defer { umount2(directory, 0) }
        let file = "\(directory)/\(volume.file)"
        guard FileManager.default.fileExists(atPath: file) else {
            throw ConfigError(
                field: "",
                message: "seed volume \(volume.device) (label \(volume.label)) has no \(volume.file)")
        }
        return try read(file, what: "the seed file")
    }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
