/// Whether any of several byte strings occurs in a value, in one pass over it: an Aho–Corasick
/// automaton, its transitions a dense table over the bytes the needles hold (every other byte
/// is one class). SigmaHQ's enumeration rule has 22 `|contains` values on `requestURI`; searched
/// one by one, each memchr for `/` stops at every slash of every URI.
struct MultiSubstring {
    /// Byte → class; class 0 is every byte no needle has.
    private let classes: [UInt8]
    private let classCount: Int
    /// state × class → next state.
    private let next: [UInt16]
    /// States where a needle ends (or one of its suffixes does).
    private let accepting: [Bool]

    /// Nil when the automaton would not fit its 16-bit states; the caller searches one by one.
    /// `caseless`: the needles are folded (ASCII lower case) and a value's upper-case letters
    /// are read as their lower case, so the value needs no folded copy.
    init?(_ needles: [[UInt8]], caseless: Bool = false) {
        var classes = [UInt8](repeating: 0, count: 256)
        var count = 1
        for n in needles {
            for b in n where classes[Int(b)] == 0 {
                guard count < 255 else { return nil }
                classes[Int(b)] = UInt8(count); count += 1
            }
        }
        if caseless {
            for b in UInt8(ascii: "a")...UInt8(ascii: "z") where classes[Int(b)] != 0 { classes[Int(b - 0x20)] = classes[Int(b)] }
        }
        let total = needles.reduce(1) { $0 + $1.count }
        guard total < Int(UInt16.max) else { return nil }
        // The trie.
        var goto: [[Int]] = [Array(repeating: -1, count: count)]
        var accepting = [false]
        for n in needles {
            var s = 0
            for b in n {
                let c = Int(classes[Int(b)])
                if goto[s][c] < 0 {
                    goto.append(Array(repeating: -1, count: count))
                    accepting.append(false)
                    goto[s][c] = goto.count - 1
                }
                s = goto[s][c]
            }
            accepting[s] = true
        }
        // Failure links breadth-first, folded into a full transition table.
        var table = [UInt16](repeating: 0, count: goto.count * count)
        var fail = [Int](repeating: 0, count: goto.count)
        var queue: [Int] = []
        for c in 0..<count {
            let t = goto[0][c]
            if t > 0 { table[c] = UInt16(t); fail[t] = 0; queue.append(t) }
        }
        var head = 0
        while head < queue.count {
            let s = queue[head]; head += 1
            accepting[s] = accepting[s] || accepting[fail[s]]
            for c in 0..<count {
                let t = goto[s][c]
                if t > 0 {
                    fail[t] = Int(table[fail[s] * count + c])
                    table[s * count + c] = UInt16(t)
                    queue.append(t)
                } else {
                    table[s * count + c] = table[fail[s] * count + c]
                }
            }
        }
        self.classes = classes
        classCount = count
        next = table
        self.accepting = accepting
    }

    func occurs(in value: UnsafeRawBufferPointer) -> Bool {
        classes.withUnsafeBufferPointer { classes in
            next.withUnsafeBufferPointer { next in
                accepting.withUnsafeBufferPointer { accepting in
                    var s = 0
                    for b in value {
                        s = Int(next[s * classCount + Int(classes[Int(b)])])
                        if accepting[s] { return true }
                    }
                    return false
                }
            }
        }
    }
}
