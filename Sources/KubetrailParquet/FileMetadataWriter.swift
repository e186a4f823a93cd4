/// The footer: schema, row groups with each column chunk's offsets, sizes and statistics, and
/// the type-defined column order that tells readers the min/max values may be trusted.
struct FileMetadataWriter {
    let columns: [ParquetColumn]
    let rowGroups: [(rows: Int, chunks: [ColumnChunkMetadata])]
    let rows: Int
    let options: ParquetWriter.Options

    func bytes() -> [UInt8] {
        var w = ThriftCompactWriter()
        w.structBody { w in
            w.field(1, i32: 2)
            var elements: [(inout ThriftCompactWriter) -> Void] = [
                { w in
                    w.field(4, string: "schema")
                    w.field(5, i32: Int32(columns.count))
                }
            ]
            for c in columns { elements += schemaElements(c) }
            w.field(2, structs: elements) { w, body in body(&w) }
            w.field(3, i64: Int64(rows))
            w.field(4, structs: rowGroups) { w, group in rowGroup(&w, group) }
            if !options.keyValueMetadata.isEmpty {
                w.field(5, structs: options.keyValueMetadata) { w, kv in
                    w.field(1, string: kv.0)
                    w.field(2, string: kv.1)
                }
            }
            w.field(6, string: options.createdBy)
            w.field(7, structs: columns) { w, _ in w.field(1, emptyStruct: ()) }
        }
        return w.bytes
    }

    private func schemaElements(_ c: ParquetColumn) -> [(inout ThriftCompactWriter) -> Void] {
        let repetition = c.nullable ? Repetition.optional : .required
        switch c.kind {
        case .stringList:
            return [
                { w in
                    w.field(3, i32: repetition.rawValue)
                    w.field(4, string: c.name)
                    w.field(5, i32: 1)
                    w.field(6, i32: ConvertedType.list.rawValue)
                    w.field(10) { $0.field(3, emptyStruct: ()) }
                },
                { w in
                    w.field(3, i32: Repetition.repeated.rawValue)
                    w.field(4, string: "list")
                    w.field(5, i32: 1)
                },
                { w in
                    w.field(1, i32: PhysicalType.byteArray.rawValue)
                    w.field(3, i32: Repetition.optional.rawValue)
                    w.field(4, string: "element")
                    w.field(6, i32: ConvertedType.utf8.rawValue)
                    w.field(10) { $0.field(1, emptyStruct: ()) }
                }
            ]
        default:
            return [
                { w in
                    w.field(1, i32: c.physicalType.rawValue)
                    w.field(3, i32: repetition.rawValue)
                    w.field(4, string: c.name)
                    switch c.kind {
                    case .string:
                        w.field(6, i32: ConvertedType.utf8.rawValue)
                        w.field(10) { $0.field(1, emptyStruct: ()) }
                    case .int64:
                        w.field(6, i32: ConvertedType.int64.rawValue)
                        w.field(10) { w in
                            w.field(10) { w in
                                w.field(1, byte: 64)
                                w.field(2, bool: true)
                            }
                        }
                    case .timestampMicros:
                        w.field(6, i32: ConvertedType.timestampMicros.rawValue)
                        w.field(10) { w in
                            w.field(8) { w in
                                w.field(1, bool: true)
                                w.field(2) { $0.field(2, emptyStruct: ()) }
                            }
                        }
                    case .date:
                        w.field(6, i32: ConvertedType.date.rawValue)
                        w.field(10) { $0.field(6, emptyStruct: ()) }
                    case .boolean, .stringList:
                        break
                    }
                }
            ]
        }
    }

    private func rowGroup(_ w: inout ThriftCompactWriter, _ group: (rows: Int, chunks: [ColumnChunkMetadata])) {
        w.field(1, structs: group.chunks) { w, chunk in
            w.field(2, i64: Int64(chunk.startOffset))
            w.field(3) { w in columnMetadata(&w, chunk) }
        }
        w.field(2, i64: Int64(group.chunks.reduce(0) { $0 + $1.uncompressedBytes }))
        w.field(3, i64: Int64(group.rows))
        w.field(5, i64: Int64(group.chunks.first?.startOffset ?? 4))
        w.field(6, i64: Int64(group.chunks.reduce(0) { $0 + $1.compressedBytes }))
    }

    private func columnMetadata(_ w: inout ThriftCompactWriter, _ c: ColumnChunkMetadata) {
        w.field(1, i32: c.column.physicalType.rawValue)
        w.field(2, list: c.encodings.map(\.rawValue))
        w.field(3, strings: c.column.pathInSchema)
        w.field(4, i32: options.compression.codec)
        w.field(5, i64: Int64(c.values))
        w.field(6, i64: Int64(c.uncompressedBytes))
        w.field(7, i64: Int64(c.compressedBytes))
        w.field(9, i64: Int64(c.dataPageOffset))
        if let d = c.dictionaryPageOffset { w.field(11, i64: Int64(d)) }
        let s = c.statistics
        if s.nullCount != nil || s.min != nil {
            w.field(12) { w in
                if s.alsoLegacy, let max = s.max, let min = s.min {
                    w.field(1, binary: max)
                    w.field(2, binary: min)
                }
                if let n = s.nullCount { w.field(3, i64: Int64(n)) }
                if let max = s.max, let min = s.min {
                    w.field(5, binary: max)
                    w.field(6, binary: min)
                }
            }
        }
    }
}
