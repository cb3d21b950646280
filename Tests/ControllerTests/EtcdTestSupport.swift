import Foundation
import TestSupport
import XCTest

extension EtcdTestServer {
    /// An etcd member for `test`, its data in a temporary directory; skips the test when etcd is not
    /// installed.
    convenience init(_ test: XCTestCase) throws {
        guard Self.binary != nil else { throw XCTSkip("etcd is not installed (apt-get install etcd-server)") }
        try self.init(directory: test.temporaryDirectory())
    }
}
