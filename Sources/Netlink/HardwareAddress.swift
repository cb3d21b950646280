/// Formats a MAC (or other link-layer) address as lowercase colon-separated hex.
func formatHardwareAddress(_ bytes: some Collection<UInt8>) -> String {
    let digits: [Character] = Array("0123456789abcdef")
    return bytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]]) }.joined(separator: ":")
}
