/**
 * Writes records to a PostgreSQL table as upserts and acknowledges their
 * receipts once the rows are committed, so the source commits its offsets
 * only after the write is durable.
 *
 * Each stream chunk becomes one transaction: its rows are deduplicated by key
 * (a later row for a key wins, since PostgreSQL refuses an
 * `ON CONFLICT DO UPDATE` that would touch the same row twice), then written
 * with multi-row `INSERT … SELECT … FROM unnest($1::text[], …) ON CONFLICT
 * (key) DO UPDATE SET …` statements. Passing one array per column keeps the
 * statement text the same whatever the number of rows, so it is prepared once
 * and never hits the protocol's 65,535-parameter limit. Every value travels as
 * text and is cast in SQL, which is how exact decimals (`numeric`) reach the
 * table without passing through a floating-point number.
 *
 * A replayed record rewrites the same row with the same values, so writing
 * at-least-once gives the table exactly-once contents. The same holds for a
 * policy's retries: an attempt abandoned at the policy's timeout is not
 * cancelled on the server and may still commit, and the retry that follows
 * writes the same rows again.
 *
 * ```ts
 * const table: PgUpsertSink.Table = {
 *   name: "customer_segments",
 *   key: [{ name: "customer_id", type: "bigint" }],
 *   columns: [
 *     { name: "segment", type: "text" },
 *     { name: "monetary_value", type: "numeric(14,2)" }
 *   ]
 * }
 * yield* PgUpsertSink.createTable(sql, table)
 * yield* segments.pipe(Stream.run(PgUpsertSink.make(sql, table, (s) => ({ ...s }), { policy })))
 * ```
 *
 * @since 0.1.0
 */
import type { Envelope, Policy, PolicyError } from "@sluice/core"
import { Receipt } from "@sluice/core"
import { BigDecimal, DateTime, Effect, Sink } from "effect"
import { classifyPg } from "./internal/classifyPg.ts"
import { toPlainString } from "./internal/decimal.ts"
import type * as PgLike from "./PgLike.ts"
import * as SinkError from "./SinkError.ts"

/**
 * A column: its name and SQL type (`text`, `bigint`, `numeric(12,2)`,
 * `timestamptz`, `jsonb`, …).
 *
 * @since 0.1.0
 * @category models
 */
export interface Column {
  readonly name: string
  readonly type: string
}

/**
 * The target table: its name (optionally `schema.table`), the key columns
 * (the primary key, the conflict target) and the other columns.
 *
 * @since 0.1.0
 * @category models
 */
export interface Table {
  readonly name: string
  readonly key: ReadonlyArray<Column>
  readonly columns: ReadonlyArray<Column>
}

/**
 * A value for one cell. Exact decimals are `BigDecimal`s or decimal strings;
 * a `number` for a `numeric` column must be a safe integer. Objects and arrays
 * are written as JSON (for `json`/`jsonb` columns).
 *
 * @since 0.1.0
 * @category models
 */
export type Cell =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | BigDecimal.BigDecimal
  | DateTime.DateTime
  | Uint8Array
  | ReadonlyArray<unknown>
  | { readonly [key: string]: unknown }

/**
 * One row: a cell per column name. Missing value columns are written as NULL.
 *
 * @since 0.1.0
 * @category models
 */
export type Row = { readonly [column: string]: Cell }

/**
 * How the sink guards its transactions and sizes its statements.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Guards each chunk's transaction: retries what is retryable, times out, trips a breaker. */
  readonly policy?: Policy.Policy | undefined
  /** Most rows per statement inside a chunk's transaction (default 5,000). */
  readonly maxRowsPerStatement?: number | undefined
}

/**
 * Writes batches of rows to one table; what the sink runs per chunk.
 *
 * @since 0.1.0
 * @category models
 */
export interface Writer {
  readonly table: Table
  /** Upserts `rows` in one transaction; resolves with the number of distinct keys written. */
  readonly write: (rows: ReadonlyArray<Row>) => Effect.Effect<number, SinkError.SinkError>
}

/**
 * Quotes an identifier, or each part of a `schema.table` name.
 *
 * @since 0.1.0
 * @category utils
 */
export const quoteIdent = (name: string): string =>
  name
    .split(".")
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join(".")

/**
 * The `CREATE TABLE IF NOT EXISTS` statement for a table spec, with its key
 * columns `NOT NULL` and as primary key.
 *
 * @since 0.1.0
 * @category utils
 */
export const createTableSql = (table: Table): string => {
  const columns = [
    ...table.key.map((c) => `${quoteIdent(c.name)} ${c.type} NOT NULL`),
    ...table.columns.map((c) => `${quoteIdent(c.name)} ${c.type}`)
  ]
  const key = table.key.map((c) => quoteIdent(c.name)).join(", ")
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table.name)} (${columns.join(", ")}, PRIMARY KEY (${key}))`
}

/**
 * The upsert statement for a table spec; its parameters are one text array
 * per column, key columns first.
 *
 * @since 0.1.0
 * @category utils
 */
export const upsertSql = (table: Table): string => {
  const all = [...table.key, ...table.columns]
  const names = all.map((c) => quoteIdent(c.name)).join(", ")
  const arrays = all.map((_, i) => `$${i + 1}::text[]`).join(", ")
  const casts = all.map((c) => `u.${quoteIdent(c.name)}::${c.type}`).join(", ")
  const target = table.key.map((c) => quoteIdent(c.name)).join(", ")
  const action =
    table.columns.length === 0
      ? "DO NOTHING"
      : `DO UPDATE SET ${table.columns.map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`).join(", ")}`
  return `INSERT INTO ${quoteIdent(table.name)} (${names}) SELECT ${casts} FROM unnest(${arrays}) AS u(${names}) ON CONFLICT (${target}) ${action}`
}

/**
 * Creates the table if it does not exist, for a job's `migrate` command.
 *
 * @since 0.1.0
 * @category constructors
 */
export const createTable = (sql: PgLike.PgQueryable, table: Table): Effect.Effect<void, SinkError.SinkError> =>
  Effect.tryPromise({
    try: () => sql.unsafe(createTableSql(table)),
    catch: (error) => classifyPg(table.name, error)
  }).pipe(Effect.asVoid)

const isExactType = (type: string): boolean => /^\s*(numeric|decimal)\b/i.test(type)

const hex = (bytes: Uint8Array): string => {
  let out = "\\x"
  for (const b of bytes) out += b.toString(16).padStart(2, "0")
  return out
}

// The text form PostgreSQL parses for the column's type; undefined when the value cannot be written exactly.
const toText = (cell: Cell, column: Column): string | null | undefined => {
  if (cell === null || cell === undefined) return null
  switch (typeof cell) {
    case "string":
      return cell
    case "boolean":
      return cell ? "true" : "false"
    case "bigint":
      return cell.toString()
    case "number":
      if (isExactType(column.type) && !Number.isSafeInteger(cell)) return undefined
      return String(cell)
  }
  if (BigDecimal.isBigDecimal(cell)) return toPlainString(cell)
  if (DateTime.isDateTime(cell)) return DateTime.formatIso(cell)
  if (cell instanceof Uint8Array) return hex(cell)
  return JSON.stringify(cell)
}

/**
 * A writer for `table` over `sql`. Throws at once if the table has no key
 * column, which is a mistake in the spec rather than a runtime failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writer = (sql: PgLike.PgLike, table: Table, options?: Options): Writer => {
  if (table.key.length === 0) throw new Error(`table ${table.name}: at least one key column is needed`)
  const statement = upsertSql(table)
  const all = [...table.key, ...table.columns]
  const keyCount = table.key.length
  const maxRows = Math.max(1, options?.maxRowsPerStatement ?? 5_000)

  // Column-major text arrays of the distinct keys, the last row of a key winning.
  const encode = (rows: ReadonlyArray<Row>): Array<Array<string | null>> | SinkError.SinkError => {
    const byKey = new Map<string, Array<string | null>>()
    for (const row of rows) {
      const texts: Array<string | null> = new Array(all.length)
      for (let i = 0; i < all.length; i++) {
        const column = all[i]!
        const text = toText(row[column.name], column)
        if (text === undefined) {
          return SinkError.encode(
            table.name,
            `column ${column.name} (${column.type}) needs an exact decimal, got ${String(row[column.name])}`
          )
        }
        if (text === null && i < keyCount) return SinkError.encode(table.name, `key column ${column.name} is null`)
        texts[i] = text
      }
      byKey.set(keyCount === 1 ? texts[0]! : JSON.stringify(texts.slice(0, keyCount)), texts)
    }
    return Array.from(byKey.values())
  }

  const columnsOf = (rows: ReadonlyArray<Array<string | null>>): Array<Array<string | null>> =>
    all.map((_, i) => rows.map((r) => r[i]!))

  const write = (rows: ReadonlyArray<Row>): Effect.Effect<number, SinkError.SinkError> =>
    Effect.suspend(() => {
      if (rows.length === 0) return Effect.succeed(0)
      const encoded = encode(rows)
      if (!Array.isArray(encoded)) return Effect.fail(encoded)
      const run =
        encoded.length <= maxRows
          ? // One statement is a transaction of its own: no BEGIN/COMMIT round trips.
            () => sql.unsafe(statement, columnsOf(encoded), { prepare: true })
          : () =>
              sql.begin(async (tx) => {
                for (let start = 0; start < encoded.length; start += maxRows) {
                  await tx.unsafe(statement, columnsOf(encoded.slice(start, start + maxRows)), { prepare: true })
                }
              })
      return Effect.tryPromise({ try: run, catch: (error) => classifyPg(table.name, error) }).pipe(
        Effect.as(encoded.length)
      )
    })

  return { table, write }
}

/**
 * A sink upserting each record's row (`toRow`) into `table`; each chunk's
 * receipts are acknowledged after its transaction committed. Fails with a
 * `SinkError` (or the policy's `PolicyError`) when a chunk cannot be written,
 * leaving its receipts unacknowledged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(
  sql: PgLike.PgLike,
  table: Table,
  toRow: (value: A) => Row,
  options?: Options
): Sink.Sink<void, Envelope.Envelope<A>, never, SinkError.SinkError | PolicyError.PolicyError> => {
  const w = writer(sql, table, options)
  const policy = options?.policy
  return Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) => {
    const write = Effect.suspend(() => w.write(chunk.map((e) => toRow(e.value))))
    const guarded: Effect.Effect<number, SinkError.SinkError | PolicyError.PolicyError> =
      policy === undefined ? write : policy.run(write)
    return Effect.andThen(guarded, Receipt.ackAll(chunk.map((e) => e.receipt))).pipe(
      Effect.withSpan(
        "sluice.sink.write",
        {
          kind: "client",
          attributes: {
            "db.system": "postgresql",
            "db.collection.name": table.name,
            "db.operation.batch.size": chunk.length
          }
        },
        { captureStackTrace: false }
      )
    )
  })
}
