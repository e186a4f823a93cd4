/// One value a Sigma field is compared with, as the rule wrote it.
public enum SigmaValue: Equatable, Sendable {
    /// Text; `*` and `?` are wildcards unless escaped with `\`, and `\\` is a backslash.
    case string(String)
    case number(Double)
    case bool(Bool)
    /// `null` (or `~`, or nothing): the field is absent or null.
    case null
}

/// How a field's values are compared (`field|modifier|…`). Only what kubetrail compiles is
/// here; any other modifier is a `SigmaError` naming it.
public enum SigmaModifier: String, Equatable, Sendable, CaseIterable {
    case contains, startswith, endswith
    /// Every value must match (a list is OR without it).
    case all
    /// A regular expression.
    case re
    /// An IPv4 or IPv6 network (`10.0.0.0/8`).
    case cidr
    /// `true`: the field is present; `false`: it is absent.
    case exists
}

/// `field|mod1|mod2: values` — one condition on one field.
public struct SigmaFieldMatch: Equatable, Sendable {
    /// The field as written, dots included (`objectRef.resource`, `requestObject.spec.hostNetwork`).
    public var field: String
    public var modifiers: [SigmaModifier]
    /// Several values are alternatives (OR), or all required with `|all`.
    public var values: [SigmaValue]
    public var line: Int?
}

/// A named search of a rule's `detection`: a map of field matches (all must hold), a list of
/// such maps (any may hold), or a list of keywords (searched for anywhere in the event).
public indirect enum SigmaSearch: Equatable, Sendable {
    case allOf([SigmaFieldMatch])
    case anyOf([SigmaSearch])
    case keywords([SigmaValue], line: Int?)
}
