/// The agent's command-line grammar, kept small on purpose: swift-argument-parser would bring
/// Foundation into a binary that otherwise has none (13 MB of it, 1.5 MiB resident at peak).
/// `--flag value`, `--flag=value`, switches, repeatable flags; the last of a repeated single
/// flag wins; nothing positional.
protocol CommandFlag: RawRepresentable<String>, CaseIterable, Hashable {
    var kind: FlagKind { get }
    var help: String { get }
}

enum FlagKind {
    /// Takes a value; `placeholder` names it in help.
    case value(_ placeholder: String)
    /// Takes a value and may be given many times.
    case repeated(_ placeholder: String)
    /// On when present.
    case toggle
}

/// A command line the grammar refuses: said on stderr with the usage, exit 64 (EX_USAGE).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct ParsedFlags<Flag: CommandFlag> {
    private(set) var values: [Flag: [String]] = [:]
    private(set) var toggles: Set<Flag> = []
    private(set) var wantsHelp = false

    func text(_ flag: Flag) -> String? { values[flag]?.last }
    func all(_ flag: Flag) -> [String] { values[flag] ?? [] }
    func isOn(_ flag: Flag) -> Bool { toggles.contains(flag) }

    init(_ arguments: ArraySlice<String>, accepting accepted: [Flag]) throws(UsageError) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "-h" || argument == "--help" {
                wantsHelp = true
                continue
            }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError(argument == "--" ? "'--' is not needed: the agent takes no arguments, only flags" : "unexpected argument '\(argument)'")
            }
            let body = argument.dropFirst(2)
            let name = body.prefix { $0 != "=" }
            let inline: String? = name.endIndex < body.endIndex ? String(body[body.index(after: name.endIndex)...]) : nil
            guard let flag = Flag(rawValue: String(name)), accepted.contains(flag) else { throw UsageError("unknown option '--\(name)'") }
            switch flag.kind {
            case .toggle:
                guard inline == nil else { throw UsageError("'--\(name)' takes no value") }
                toggles.insert(flag)
            case .value(let placeholder), .repeated(let placeholder):
                guard let value = inline ?? rest.popFirst() else { throw UsageError("missing value for '--\(name) <\(placeholder)>'") }
                values[flag, default: []].append(value)
            }
        }
    }
}

/// Help text in the layout of swift-argument-parser's, which the agent used before.
enum FlagHelp {
    static func options<Flag: CommandFlag>(_ flags: [Flag]) -> String {
        var rows = flags.map { flag -> (String, String) in
            switch flag.kind {
            case .toggle: return ("--\(flag.rawValue)", flag.help)
            case .value(let p): return ("--\(flag.rawValue) <\(p)>", flag.help)
            case .repeated(let p): return ("--\(flag.rawValue) <\(p)> ...", flag.help)
            }
        }
        rows.append(("-h, --help", "Show help information."))
        return table(rows)
    }

    static func table(_ rows: [(String, String)]) -> String {
        let width = min(34, (rows.map(\.0.count).max() ?? 0) + 2)
        return rows.map { name, help in
            let pad = name.count + 2 <= width ? String(repeating: " ", count: width - name.count) : "\n" + String(repeating: " ", count: width + 2)
            return "  " + name + pad + wrap(help, indent: width + 2)
        }.joined(separator: "\n")
    }

    /// Words wrapped at 100 columns, continuation lines indented.
    static func wrap(_ text: String, indent: Int) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && indent + line.count + 1 + word.count > 100 {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        lines.append(line)
        return lines.joined(separator: "\n" + String(repeating: " ", count: indent))
    }
}
