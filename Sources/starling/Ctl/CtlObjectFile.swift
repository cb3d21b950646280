import StarlingModel

/// Reads the objects of `starling ctl create -f FILE`: JSON or YAML, one object, a list of objects, or several
/// YAML documents (one object or list each).
enum ObjectFile {
    /// The objects in `text`; `source` names the file in errors.
    static func objects(from text: String, source: String) throws(CtlError) -> [[String: JSONValue]] {
        let documents: [JSONValue]
        do {
            documents = try ConfigDocument.documents(text).map { node throws(ConfigError) in
                try ConfigDocument.json(from: node)
            }
        } catch {
            throw CtlError.usage("\(source): \(error)")
        }
        var objects: [[String: JSONValue]] = []
        for (index, document) in documents.enumerated() {
            switch document {
            case .object(let members):
                objects.append(members)
            case .array(let elements):
                for (position, element) in elements.enumerated() {
                    guard let members = element.object else {
                        throw CtlError.usage("\(source): item \(position) of the list is not an object")
                    }
                    objects.append(members)
                }
            case .null:
                continue  // an empty document (e.g. a trailing `---`)
            default:
                throw CtlError.usage("\(source): document \(index + 1) is not an object or a list of objects")
            }
        }
        if objects.isEmpty { throw CtlError.usage("\(source): no object in the file") }
        return objects
    }
}
