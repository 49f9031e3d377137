/**
 * The Debezium JSON codec a job uses. `changeEvent(row)` builds, from an
 * `effect/Schema` struct describing a table's row, a decoder for the values
 * of that table's topic and an encoder producing the same JSON.
 *
 * Decoding accepts every form Debezium's `JsonConverter` writes:
 * - with `schemas.enable=true` (`{ "schema": ..., "payload": ... }`) or the
 *   bare payload;
 * - the full envelope (`before`, `after`, `source`, `op`, `ts_ms`) or the
 *   unwrapped row of the `ExtractNewRecordState` transform, whose added
 *   fields (`__op`, `__deleted`, `__source_ts_ms`, `__table`, `__lsn`...)
 *   fill `op` and `source`;
 * - a null or empty value, the tombstone after a delete.
 *
 * Field types come from the row schema: `Decimal.*` for decimals in each
 * `decimal.handling.mode`, `Temporal.*` for time types, `Json.column` for
 * `json`/`jsonb`. When the record carries a Connect schema, the scale of a
 * `precise` decimal is taken from it. A record that does not decode fails
 * with a `CdcError` (reason `Malformed` or `Invalid`, with the path), which a
 * pipeline sends to its dead-letter topic.
 *
 * ```ts
 * import { Debezium, Decimal, Temporal } from "@sluice/cdc"
 * import { Schema } from "effect"
 *
 * const orders = Debezium.changeEvent(
 *   Schema.Struct({
 *     id: Schema.Int,
 *     customer_id: Schema.Int,
 *     total: Decimal.precise(2),
 *     order_date: Temporal.microTimestamp
 *   })
 * )
 * // orders.decode(bytes): Effect<ChangeEvent<Order> | Tombstone, CdcError>
 * const eventTime = Debezium.eventTime(orders, { field: "order_date" })
 * ```
 *
 * With `REPLICA IDENTITY DEFAULT`, PostgreSQL sends only the key columns of
 * a deleted row, so Debezium's `before` has the other columns null: give a
 * key-only schema as `changeEvent(row, { before })`, or set the table's
 * replica identity to `FULL`.
 *
 * @since 0.1.0
 */
import { DateTime, Effect, Result, Schema, SchemaIssue } from "effect"
import * as CdcError from "./CdcError.ts"
import * as ChangeEvent from "./ChangeEvent.ts"
import * as ConnectSchema from "./ConnectSchema.ts"
import * as Decimal from "./Decimal.ts"
import * as Json from "./Json.ts"
import * as Temporal from "./Temporal.ts"

/**
 * A row schema: a struct whose fields decode without services.
 *
 * @since 0.1.0
 * @category models
 */
export type RowSchema = Schema.Struct<Schema.Struct.Fields> & {
  readonly DecodingServices: never
  readonly EncodingServices: never
}

/**
 * How `encode` writes a record.
 *
 * @since 0.1.0
 * @category models
 */
export interface EncodeOptions {
  /** Write `{ schema, payload }` as with `schemas.enable=true`. Default `false`. */
  readonly schemas?: boolean
  /**
   * Write the unwrapped row of `ExtractNewRecordState` with these added
   * fields (`op`, `table`, `lsn`, `source.ts_ms`, `ts_ms`, ...; default `op`
   * and `source.ts_ms`), and deletes rewritten with `__deleted: "true"`.
   */
  readonly unwrap?: boolean | { readonly addFields: ReadonlyArray<string> }
  /** The Connect schema name prefix; default `<source.name>.<source.schema>.<source.table>`. */
  readonly schemaName?: string
}

/**
 * The codec of one table's change events.
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec<Row, Before = Row> {
  readonly row: Schema.Codec<Row, unknown>
  /** Decodes a record value: JSON text or bytes, null for a tombstone. */
  readonly decode: (
    value: Uint8Array | string | null
  ) => Effect.Effect<ChangeEvent.Record<Row, Before>, CdcError.CdcError>
  /** Decodes an already parsed value (no source text for `double` decimals). */
  readonly decodeUnknown: (value: unknown) => Effect.Effect<ChangeEvent.Record<Row, Before>, CdcError.CdcError>
  /** Encodes a record value as JSON text; a tombstone is `null`. */
  readonly encode: (
    record: ChangeEvent.Record<Row, Before>,
    options?: EncodeOptions
  ) => Effect.Effect<string | null, CdcError.CdcError>
}

const malformed = (detail: string) => CdcError.make(new CdcError.Malformed({ detail }))
const invalid = (path: string, detail: string) => CdcError.make(new CdcError.Invalid({ path, detail }))
const unencodable = (detail: string) => CdcError.make(new CdcError.Unencodable({ detail }))

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const fromSchemaError = (prefix: string, error: Schema.SchemaError): CdcError.CdcError => {
  const first = formatter(error.issue).issues[0]
  const path = [prefix, ...(first?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p))]
    .filter((p) => p !== "")
    .join(".")
  return invalid(path, first?.message ?? error.message)
}

const isObject = (u: unknown): u is { readonly [k: string]: unknown } => typeof u === "object" && u !== null

const textDecoder = new TextDecoder("utf-8", { fatal: true })

/**
 * Splits a converter record into its Connect schema (if any) and payload.
 *
 * @since 0.1.0
 * @category parsing
 */
export const splitSchema = (value: unknown): { readonly schema: unknown; readonly payload: unknown } => {
  if (isObject(value) && "payload" in value && "schema" in value && Object.keys(value).length === 2) {
    return { schema: value.schema, payload: value.payload }
  }
  return { schema: undefined, payload: value }
}

const isEnvelope = (payload: { readonly [k: string]: unknown }): boolean =>
  typeof payload.op === "string" && isObject(payload.source)

// Keys of `source` that ExtractNewRecordState may add as `__<key>`.
const sourceKeys: ReadonlySet<string> = new Set(Object.keys(ChangeEvent.Source.fields))

const unwrapDefaults = ["op", "source.ts_ms"]

/**
 * Builds the codec of a table's change events from its row schema. Give
 * `before` a second, narrower schema when the table's replica identity is
 * `DEFAULT`: a delete then carries only the key columns (the others null).
 *
 * @since 0.1.0
 * @category constructors
 */
export const changeEvent: {
  <S extends RowSchema>(row: S): Codec<S["Type"]>
  <S extends RowSchema, B extends RowSchema>(row: S, options: { readonly before: B }): Codec<S["Type"], B["Type"]>
} = <S extends RowSchema>(row: S, options?: { readonly before: RowSchema }): Codec<S["Type"], unknown> => {
  type Row = S["Type"]
  type Before = unknown
  const beforeSchema: RowSchema = options?.before ?? row
  const fields = row.fields as Schema.Struct.Fields
  const beforeFields = beforeSchema.fields as Schema.Struct.Fields
  const doubleFields = new Set(
    [...Object.entries(fields), ...Object.entries(beforeFields)].filter(([, f]) => Decimal.isDouble(f)).map(([k]) => k)
  )
  const Envelope = Schema.Struct({
    op: ChangeEvent.Op,
    before: Schema.NullOr(beforeSchema),
    after: Schema.NullOr(row),
    source: ChangeEvent.Source,
    ts_ms: Schema.optionalKey(Schema.Finite),
    transaction: Schema.optionalKey(Schema.NullOr(ChangeEvent.Transaction))
  })
  const decodeEnvelope = Schema.decodeUnknownEffect(Envelope)
  const decodeRow = Schema.decodeUnknownEffect(row)
  const decodeBefore = Schema.decodeUnknownEffect(beforeSchema)
  const decodeSource = Schema.decodeUnknownEffect(ChangeEvent.Source)
  const encodeRow = Schema.encodeEffect(row)
  const encodeBefore = Schema.encodeEffect(beforeSchema)
  const encodeSource = Schema.encodeEffect(ChangeEvent.Source)
  const encodeTransaction = Schema.encodeEffect(Schema.NullOr(ChangeEvent.Transaction))

  // Puts back what the bare JSON cannot say: the source text of `double`
  // decimals and the Connect schema's scale of `precise` ones.
  const prepareRow = (value: unknown, connect: unknown, parsed: Json.Parsed | undefined): unknown => {
    if (!isObject(value)) return value
    let copy: { [k: string]: unknown } | undefined
    const set = (k: string, v: unknown) => {
      copy ??= { ...value }
      copy[k] = v
    }
    if (parsed !== undefined) {
      for (const k of doubleFields) {
        const source = parsed.sourceOf(value, k)
        if (source !== undefined) set(k, source)
      }
    }
    for (const f of ConnectSchema.structFields(connect) ?? []) {
      const scale = f.parameters?.scale
      if (f.name === Decimal.DecimalName && scale !== undefined && typeof value[f.field] === "string") {
        set(f.field, { scale: Number(scale), value: value[f.field] })
      }
    }
    return copy ?? value
  }

  const decodeParsed = (value: unknown, parsed: Json.Parsed | undefined) =>
    Effect.gen(function* () {
      const { payload, schema } = splitSchema(value)
      if (payload === null || payload === undefined) return ChangeEvent.tombstone as ChangeEvent.Record<Row, Before>
      if (!isObject(payload) || Array.isArray(payload)) return yield* malformed("expected a JSON object")
      if (isEnvelope(payload)) {
        const prepared = {
          ...payload,
          before: prepareRow(payload.before, ConnectSchema.field(schema, "before"), parsed),
          after: prepareRow(payload.after, ConnectSchema.field(schema, "after"), parsed)
        }
        const e = yield* decodeEnvelope(prepared).pipe(Effect.mapError((err) => fromSchemaError("", err)))
        const needsAfter = e.op === "c" || e.op === "u" || e.op === "r"
        if (needsAfter && e.after === null) return yield* invalid("after", `op ${e.op} without an after row`)
        if (e.op === "d" && e.after !== null) return yield* invalid("after", "a delete with an after row")
        if (e.op === "t" && (e.after !== null || e.before !== null)) {
          return yield* invalid("", "a truncate with a row")
        }
        return ChangeEvent.make<Row, Before>(e)
      }
      // The unwrapped form: the row's own fields plus `__`-prefixed metadata.
      // Source texts are looked up on the parsed object itself, before copying.
      const withSources = prepareRow(payload, undefined, parsed) as { readonly [k: string]: unknown }
      const rowFields: { [k: string]: unknown } = {}
      const source: { [k: string]: unknown } = {}
      let op: unknown
      let deleted = false
      let tsMs: unknown
      for (const [k, v] of Object.entries(withSources)) {
        if (!k.startsWith("__")) rowFields[k] = v
        else if (k === "__op") op = v
        else if (k === "__deleted") deleted = v === "true" || v === true
        else if (k === "__ts_ms") tsMs = v
        else if (k.startsWith("__source_")) source[k.slice(9)] = v
        else if (sourceKeys.has(k.slice(2))) source[k.slice(2)] = v
      }
      const theOp = op === undefined ? (deleted ? "d" : "u") : op
      if (!Schema.is(ChangeEvent.Op)(theOp) || theOp === "t") return yield* invalid("__op", `unknown op ${String(op)}`)
      const isDelete = theOp === "d" || deleted
      const prepared = prepareRow(rowFields, schema, undefined)
      const toError = (err: Schema.SchemaError) => fromSchemaError("", err)
      const before = isDelete ? yield* decodeBefore(prepared).pipe(Effect.mapError(toError)) : null
      const after = isDelete ? null : yield* decodeRow(prepared).pipe(Effect.mapError(toError))
      const decodedSource = yield* decodeSource(source).pipe(Effect.mapError((err) => fromSchemaError("source", err)))
      return ChangeEvent.make<Row, Before>({
        op: isDelete ? "d" : theOp,
        before,
        after,
        source: decodedSource,
        ...(typeof tsMs === "number" ? { ts_ms: tsMs } : {})
      })
    })

  const decode = (
    value: Uint8Array | string | null
  ): Effect.Effect<ChangeEvent.Record<Row, Before>, CdcError.CdcError> =>
    Effect.suspend(() => {
      if (value === null || value.length === 0) return Effect.succeed(ChangeEvent.tombstone)
      let parsed: Json.Parsed
      try {
        parsed = Json.parse(typeof value === "string" ? value : textDecoder.decode(value), doubleFields)
      } catch (cause) {
        return Effect.fail(malformed(cause instanceof Error ? cause.message : "not JSON"))
      }
      return decodeParsed(parsed.value, parsed)
    })

  const connectRow = (
    name: string,
    of: Schema.Struct.Fields
  ): Result.Result<ConnectSchema.ConnectType, CdcError.CdcError> => {
    const out: Array<ConnectSchema.ConnectField> = []
    for (const [k, s] of Object.entries(of)) {
      const type = ConnectSchema.typeOf(s)
      if (type === undefined)
        return Result.fail(unencodable(`no Connect type for field ${k}: use ConnectSchema.annotate`))
      out.push({ ...type, field: k })
    }
    return Result.succeed({ type: "struct", fields: out, optional: true, name: `${name}.Value` })
  }

  const encode = (record: ChangeEvent.Record<Row, Before>, options: EncodeOptions = {}) =>
    Effect.gen(function* () {
      if (record._tag === "Tombstone") return null
      const toInvalid = (prefix: string) => (err: Schema.SchemaError) =>
        unencodable(fromSchemaError(prefix, err).message)
      const before =
        record.before === null
          ? null
          : yield* encodeBefore(record.before as RowSchema["Type"]).pipe(Effect.mapError(toInvalid("before")))
      const after =
        record.after === null ? null : yield* encodeRow(record.after).pipe(Effect.mapError(toInvalid("after")))
      const source = yield* encodeSource(record.source).pipe(Effect.mapError(toInvalid("source")))
      const s = record.source
      const name = options.schemaName ?? [s.name, s.schema, s.table].filter((p) => p !== undefined).join(".")
      let payload: { [k: string]: unknown }
      let schema: ConnectSchema.ConnectType | undefined
      if (options.unwrap !== undefined && options.unwrap !== false) {
        if (record.op === "t") return yield* unencodable("a truncate has no unwrapped form")
        const add = options.unwrap === true ? unwrapDefaults : options.unwrap.addFields
        const deleted = record.op === "d"
        const rowValue = deleted ? before : after
        if (!isObject(rowValue)) return yield* unencodable(`op ${record.op} without a row`)
        const meta: { [k: string]: unknown } = {}
        const metaFields: Array<ConnectSchema.ConnectField> = []
        for (const f of add) {
          const [key, value] =
            f === "op"
              ? ["__op", record.op]
              : f === "ts_ms"
                ? ["__ts_ms", record.ts_ms]
                : f.startsWith("source.")
                  ? [`__source_${f.slice(7)}`, (source as { readonly [k: string]: unknown })[f.slice(7)]]
                  : [`__${f}`, (source as { readonly [k: string]: unknown })[f]]
          meta[key] = value ?? null
          metaFields.push({ field: key, type: typeof value === "string" ? "string" : "int64", optional: true })
        }
        meta.__deleted = deleted ? "true" : "false"
        metaFields.push({ field: "__deleted", type: "string", optional: true })
        payload = { ...rowValue, ...meta }
        if (options.schemas === true) {
          const rowType = yield* Effect.fromResult(connectRow(name, deleted ? beforeFields : fields))
          schema = { ...rowType, optional: false, fields: [...(rowType.fields ?? []), ...metaFields] }
        }
      } else {
        payload = {
          before,
          after,
          source,
          op: record.op,
          ...(record.ts_ms !== undefined ? { ts_ms: record.ts_ms } : {}),
          ...(record.transaction !== undefined
            ? {
                transaction: yield* encodeTransaction(record.transaction).pipe(
                  Effect.mapError(toInvalid("transaction"))
                )
              }
            : {})
        }
        if (options.schemas === true) {
          const rowType = yield* Effect.fromResult(connectRow(name, fields))
          const beforeType = yield* Effect.fromResult(connectRow(name, beforeFields))
          schema = {
            type: "struct",
            optional: false,
            name: `${name}.Envelope`,
            version: 2,
            fields: [
              { ...beforeType, field: "before" },
              { ...rowType, field: "after" },
              { ...sourceSchema(source), field: "source" },
              { field: "op", type: "string", optional: false },
              { field: "ts_ms", type: "int64", optional: true },
              { ...transactionSchema, field: "transaction" }
            ]
          }
        }
      }
      const text = Json.stringify(schema === undefined ? payload : { schema, payload })
      return text ?? (yield* unencodable("not a JSON value"))
    })

  return {
    row: row as unknown as Schema.Codec<Row, unknown>,
    decode,
    decodeUnknown: (value) => decodeParsed(value, undefined),
    encode
  }
}

const sourceTypes: { readonly [k: string]: string } = {
  version: "string",
  connector: "string",
  name: "string",
  ts_ms: "int64",
  ts_us: "int64",
  ts_ns: "int64",
  snapshot: "string",
  db: "string",
  sequence: "string",
  schema: "string",
  table: "string",
  txId: "int64",
  lsn: "int64",
  xmin: "int64"
}

const requiredSource: ReadonlySet<string> = new Set(["version", "connector", "name", "ts_ms", "db", "schema", "table"])

const sourceSchema = (source: { readonly [k: string]: unknown }): ConnectSchema.ConnectType => ({
  type: "struct",
  optional: false,
  name: `io.debezium.connector.${String(source.connector ?? "postgresql")}.Source`,
  fields: Object.keys(source).map((k) => ({
    field: k,
    type: sourceTypes[k] ?? "string",
    optional: !requiredSource.has(k)
  }))
})

const transactionSchema: ConnectSchema.ConnectType = {
  type: "struct",
  optional: true,
  name: "event.block",
  version: 1,
  fields: [
    { field: "id", type: "string", optional: false },
    { field: "total_order", type: "int64", optional: false },
    { field: "data_collection_order", type: "int64", optional: false }
  ]
}

/**
 * Where a job takes event time from: the database commit time
 * (`source.ts_ms`), the connector's processing time (`ts_ms`), or a field of
 * the row (`after`, or `before` for a delete) holding an `Instant`, a
 * `DateTime` or epoch milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export type EventTime<Row> = "source" | "connector" | { readonly field: keyof Row & string }

/**
 * An event-time extractor: epoch milliseconds of a change event, or a
 * `MissingEventTime` error (a record for the dead-letter topic).
 *
 * @since 0.1.0
 * @category event time
 */
export const eventTime =
  <Row, Before>(_codec: Codec<Row, Before>, from: EventTime<Row>) =>
  (event: ChangeEvent.ChangeEvent<Row, Before>): Result.Result<number, CdcError.CdcError> => {
    const missing = (field: string) => Result.fail(CdcError.make(new CdcError.MissingEventTime({ field })))
    if (from === "source")
      return event.source.ts_ms === undefined ? missing("source.ts_ms") : Result.succeed(event.source.ts_ms)
    if (from === "connector") return event.ts_ms === undefined ? missing("ts_ms") : Result.succeed(event.ts_ms)
    const row = ChangeEvent.row(event)
    // A delete's `before` may be a narrower type without the field: then it is missing.
    const value: unknown = row == null ? undefined : (row as { readonly [k: string]: unknown })[from.field]
    if (typeof value === "bigint") return Result.succeed(Temporal.toEpochMillis(value))
    if (typeof value === "number" && Number.isFinite(value)) return Result.succeed(value)
    if (DateTime.isDateTime(value)) return Result.succeed(DateTime.toEpochMillis(value))
    return missing(from.field)
  }

/**
 * The codec of record keys (`{ "id": 1 }`, with or without a Connect schema).
 *
 * @since 0.1.0
 * @category constructors
 */
export const key = <S extends RowSchema>(
  schema: S
): {
  readonly decode: (value: Uint8Array | string | null) => Effect.Effect<S["Type"], CdcError.CdcError>
  readonly encode: (
    key: S["Type"],
    options?: { readonly schemas?: boolean; readonly schemaName?: string }
  ) => Effect.Effect<string, CdcError.CdcError>
} => {
  const decodeKey = Schema.decodeUnknownEffect(schema)
  const encodeKey = Schema.encodeEffect(schema)
  const fields = schema.fields as Schema.Struct.Fields
  return {
    decode: (value) =>
      Effect.suspend(() => {
        if (value === null || value.length === 0) return Effect.fail(malformed("a record without a key"))
        let parsed: unknown
        try {
          parsed = Json.parse(typeof value === "string" ? value : textDecoder.decode(value)).value
        } catch (cause) {
          return Effect.fail(malformed(cause instanceof Error ? cause.message : "not JSON"))
        }
        const { payload, schema: connect } = splitSchema(parsed)
        const prepared = isObject(payload)
          ? Object.fromEntries(
              Object.entries(payload).map(([k, v]) => {
                const f = ConnectSchema.field(connect, k)
                const scale = f?.parameters?.scale
                return f?.name === Decimal.DecimalName && scale !== undefined && typeof v === "string"
                  ? [k, { scale: Number(scale), value: v }]
                  : [k, v]
              })
            )
          : payload
        return decodeKey(prepared).pipe(Effect.mapError((err) => fromSchemaError("key", err)))
      }),
    encode: (k, options = {}) =>
      Effect.gen(function* () {
        const payload = yield* encodeKey(k).pipe(
          Effect.mapError((err) => unencodable(fromSchemaError("key", err).message))
        )
        if (options.schemas !== true) return Json.stringify(payload) ?? ""
        const out: Array<ConnectSchema.ConnectField> = []
        for (const [name, s] of Object.entries(fields)) {
          const type = ConnectSchema.typeOf(s)
          if (type === undefined) return yield* unencodable(`no Connect type for key field ${name}`)
          out.push({ ...type, field: name })
        }
        const schemaOut = { type: "struct", optional: false, name: `${options.schemaName ?? "key"}.Key`, fields: out }
        return Json.stringify({ schema: schemaOut, payload }) ?? ""
      })
  }
}
