/// Errors raised by the lab: a failed command, a condition that did not hold before its deadline, or a
/// precondition (root, a missing binary) that makes the lab unusable on this machine.
public struct LabError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// A command exited non-zero (or by a signal).
        case commandFailed
        /// A command or condition did not finish before its deadline.
        case timeout
        /// The lab cannot run here (not root, binary missing).
        case unavailable
        /// Output of a tool could not be understood.
        case parse
        /// A daemon died or misbehaved.
        case daemon
    }

    /// The kind of failure.
    public var kind: Kind
    /// A one-line (or short multi-line) explanation, including command output where useful.
    public var message: String

    /// Creates an error of `kind` with `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "LabError.\(kind): \(message)" }
}
