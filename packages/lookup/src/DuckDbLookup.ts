/**
 * Lookups over DuckDB with `@duckdb/node-api`. DuckDB runs inside the
 * process: `DuckDbClient` opens a database file (read-only unless asked
 * otherwise, so several processes can share one file) or an in-memory
 * database, and keeps a few connections whose statements run on DuckDB's own
 * threads through the library's asynchronous API, so the event loop only
 * turns rows into objects. `make` turns a table, key column and column list
 * (or a query function of your own) into a batching `Lookup`: one prepared
 * statement per batch, a semi join of the table against the batch's keys
 * bound as one list parameter (`SEMI JOIN (SELECT unnest($1::VARCHAR[]))`),
 * the batch's rows decoded in one pass by a `RowDecoder`. DuckDB plans an
 * `IN ($1, ..., $n)` of parameters as a join too, but one whose cost grows
 * with the list: at 500 keys the semi join is about four times faster.
 *
 * The contract is `PgLookup`'s: exact decimals (cast a `DECIMAL` to
 * `VARCHAR` in the select list and decode it with `RowDecoder.decimal`; the
 * text DuckDB prints for a decimal is its exact value), a missing key is
 * `Option.none()`, and failures are classified once: an I/O failure or a
 * closed connection is `Unavailable` and retryable, a statement that outlives
 * `statementTimeout` is interrupted inside the engine and fails as `Timeout`,
 * anything else (a bad query, a missing table) is `Unavailable` and not
 * retryable.
 *
 * @since 0.1.0
 */

import type { DuckDBValue } from "@duckdb/node-api"
import type { Array as Arr, Scope } from "effect"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { classify } from "./internal/duckDbClassify.ts"
import * as Pool from "./internal/duckDbPool.ts"
import { type Decoding, keyedRows } from "./internal/keyedRows.ts"
import * as TableStatement from "./internal/tableStatement.ts"
import * as Lookup from "./Lookup.ts"
import { LookupError, Timeout, Unavailable } from "./LookupError.ts"

/**
 * A value a statement parameter can take; an array is bound as a DuckDB
 * `LIST` (cast it in SQL: `$1::VARCHAR[]`).
 *
 * @since 0.1.0
 * @category models
 */
export type DuckDbParameter = string | number | bigint | boolean | null | ReadonlyArray<string | number | null>

/**
 * The rows of a finished statement, as `@duckdb/node-api`'s result reader
 * gives them: one object per row, keyed by column name.
 *
 * @since 0.1.0
 * @category models
 */
export interface DuckDbRows {
  getRowObjects(): ReadonlyArray<Record<string, unknown>>
}

/**
 * A prepared statement: bind the parameters, then run it.
 *
 * @since 0.1.0
 * @category models
 */
export interface DuckDbStatement {
  bind(values: Array<DuckDBValue>): void
  runAndReadAll(): Promise<DuckDbRows>
}

/**
 * The part of a DuckDB connection the client uses: prepare a statement,
 * interrupt the one running, close. `@duckdb/node-api`'s `DuckDBConnection`
 * is one; a test fake only has to provide this.
 *
 * @since 0.1.0
 * @category models
 */
export interface DuckDbConnection {
  prepare(sql: string): Promise<DuckDbStatement>
  interrupt(): void
  closeSync(): void
}

/**
 * What the service hands out, as `PgLookup.PgSql` does for PostgreSQL: one
 * statement with positional parameters, answered with its rows. Aborting
 * `signal` interrupts the statement inside the engine.
 *
 * @since 0.1.0
 * @category models
 */
export interface DuckDbSql {
  query(
    text: string,
    parameters?: ReadonlyArray<DuckDbParameter>,
    options?: { readonly signal?: AbortSignal | undefined }
  ): Promise<ReadonlyArray<Record<string, unknown>>>
}

/**
 * Client settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** A database file, or `:memory:`. */
  readonly path: string
  /** Open the file read-only (default `true`): several processes may then share it. */
  readonly readOnly?: boolean | undefined
  /** Connections, each running one statement at a time (default 4). */
  readonly poolSize?: number | undefined
  /** Longest a statement may run before it is interrupted and fails as `Timeout` (default 5 seconds). */
  readonly statementTimeout?: Duration.Input | undefined
  /** DuckDB worker threads (default: DuckDB's choice, the number of cores). */
  readonly threads?: number | undefined
}

/**
 * The DuckDB database and its connections, as a service, seen through `DuckDbSql`.
 *
 * @since 0.1.0
 * @category services
 */
export class DuckDbClient extends Context.Service<
  DuckDbClient,
  {
    readonly sql: DuckDbSql
    readonly options: {
      readonly path: string
      readonly readOnly: boolean
      readonly poolSize: number
      readonly statementTimeout: Duration.Duration
    }
  }
>()("@sluice/lookup/DuckDbClient") {}

const openError = (path: string, readOnly: boolean, error: unknown): LookupError => {
  const message = error instanceof Error ? error.message : String(error)
  const detail = message.includes("database does not exist")
    ? `the file ${path} does not exist`
    : message.includes("Could not set lock") || message.includes("Conflicting lock")
      ? `the file ${path} is locked by a process that has it open for writing${readOnly ? "" : " or reading"}`
      : message
  return new LookupError({
    reason: new Unavailable({ lookup: "DuckDbClient", retryable: false, detail, cause: error })
  })
}

/**
 * Opens the database, connects `poolSize` times and checks a connection with
 * `SELECT 1`; connections and database are closed when the scope closes.
 * A file that does not exist or is locked by a writer fails with a
 * `LookupError` that says so.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (options: ClientOptions): Effect.Effect<DuckDbClient["Service"], LookupError, Scope.Scope> =>
  Effect.gen(function* () {
    const path = options.path
    const readOnly = options.readOnly ?? true
    const poolSize = Math.max(1, options.poolSize ?? 4)
    const statementTimeout = Duration.fromInputUnsafe(options.statementTimeout ?? "5 seconds")
    // Loaded here, not at import: the native library is only needed by users of DuckDB.
    const api = yield* Effect.tryPromise({
      try: () => import("@duckdb/node-api"),
      catch: (error) => openError(path, readOnly, error)
    })
    // Extensions are never fetched at run time: everything a lookup needs is built in.
    const settings: Record<string, string> = { autoinstall_known_extensions: "false" }
    // An in-memory database is always writable: there is no file to share.
    if (path !== ":memory:") settings.access_mode = readOnly ? "READ_ONLY" : "READ_WRITE"
    if (options.threads !== undefined) settings.threads = String(options.threads)
    const instance = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => api.DuckDBInstance.create(path, settings),
        catch: (error) => openError(path, readOnly, error)
      }),
      (db) => Effect.sync(() => db.closeSync())
    )
    const connections = yield* Effect.forEach(Array.from({ length: poolSize }), () =>
      Effect.tryPromise({ try: () => instance.connect(), catch: (error) => classify("DuckDbClient", error) })
    )
    const toValue = (parameter: DuckDbParameter): DuckDBValue =>
      typeof parameter === "object" && parameter !== null ? api.listValue([...parameter]) : parameter
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => Pool.make(connections, toValue)),
      (pool) => Effect.sync(() => pool.close())
    )
    yield* Effect.tryPromise({
      try: () => pool.query("SELECT 1"),
      catch: (error) => classify("DuckDbClient", error)
    })
    return DuckDbClient.of({ sql: pool, options: { path, readOnly, poolSize, statementTimeout } })
  })

/**
 * A layer with a client built from `options`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ClientOptions): Layer.Layer<DuckDbClient, LookupError> =>
  Layer.effect(DuckDbClient, makeClient(options))

/**
 * The database path of a `duckdb:` URL (`duckdb:lookup.duckdb`,
 * `duckdb:/var/data/lookup.duckdb`, `duckdb::memory:`), or `None` for any
 * other URL.
 *
 * @since 0.1.0
 * @category config
 */
export const pathFromUrl = (url: string): Option.Option<string> =>
  url.startsWith("duckdb:") && url.length > "duckdb:".length ? Option.some(url.slice("duckdb:".length)) : Option.none()

/**
 * A column to select; `cast` is applied in SQL and the result keeps the
 * column's name (`CAST("amount" AS VARCHAR) AS "amount"`), which is how exact
 * decimals reach JavaScript as strings.
 *
 * @since 0.1.0
 * @category models
 */
export type Column = TableStatement.Column

/**
 * What to query: a table description, or a function that runs one query for
 * a batch of keys with the client it is given (pass `signal` on, so a timeout
 * interrupts the statement).
 *
 * @since 0.1.0
 * @category models
 */
export type Source<K> =
  | TableStatement.Table
  | {
      readonly query: (
        sql: DuckDbSql,
        keys: Arr.NonEmptyReadonlyArray<K>,
        signal: AbortSignal
      ) => Promise<ReadonlyArray<unknown>>
    }

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export type Options<K extends string | number, V> = {
  readonly name: string
  readonly source: Source<K>
  /** Reads the key back from a decoded row, to match rows to requests. */
  readonly key: (value: V) => K
  readonly maxBatchSize?: number | undefined
  readonly batchWindow?: Duration.Input | undefined
} & Decoding<V>

/**
 * `$1, $2, ..., $count`: the placeholders of a batch of `count` keys.
 *
 * @since 0.1.0
 * @category utils
 */
export const placeholders = (count: number): string => {
  const out: Array<string> = new Array(count)
  for (let i = 0; i < count; i++) out[i] = `$${i + 1}`
  return out.join(", ")
}

// How DuckDbLookup writes a cast and matches a batch's keys; the rest of the statement is shared.
const dialect: TableStatement.Dialect = {
  module: "DuckDbLookup",
  defaultKeyType: "VARCHAR",
  cast: (column, type) => `CAST(${column} AS ${type})`,
  matchKeys: (keyColumn, keyType) =>
    `SEMI JOIN (SELECT unnest($1::${keyType}[]) AS batch_key) ON ${keyColumn} = batch_key`
}

/**
 * The statement `make` prepares for a table source: the batch's keys are its
 * one parameter, a list.
 *
 * @since 0.1.0
 * @category utils
 */
export const selectStatement = (source: TableStatement.Table): string => TableStatement.selectStatement(dialect, source)

/**
 * The resolver over the client in `DuckDbClient`: one statement per fetch.
 * Guard it with `Lookup.withPolicy`, then `Lookup.batched`, then `Lookup.cached`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolver = <K extends string | number, V>(
  options: Options<K, V>
): Effect.Effect<Lookup.Resolver<K, V>, never, DuckDbClient> =>
  Effect.map(DuckDbClient, (client) => Lookup.resolver({ name: options.name, fetch: makeFetch(client, options) }))

/**
 * A batching lookup over the client in `DuckDbClient`, without a policy:
 * `Lookup.batched` of `resolver`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K extends string | number, V>(
  options: Options<K, V>
): Effect.Effect<Lookup.Lookup<K, V>, never, DuckDbClient> =>
  Effect.map(resolver(options), (r) => Lookup.batched(r, options))

/**
 * The batch query of `make`, without batching: one statement for the given
 * keys, bounded by the client's `statementTimeout`, rows decoded and keyed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFetch = <K extends string | number, V>(
  client: DuckDbClient["Service"],
  options: Options<K, V>
): Lookup.Fetch<K, V> => {
  const { sql } = client
  const source = options.source
  const run: (keys: Arr.NonEmptyReadonlyArray<K>, signal: AbortSignal) => Promise<ReadonlyArray<unknown>> =
    "query" in source
      ? (keys, signal) => source.query(sql, keys, signal)
      : (() => {
          const text = selectStatement(source)
          return (keys, signal) => sql.query(text, [keys], { signal })
        })()
  const name = options.name
  const timeout = client.options.statementTimeout
  const timeoutMillis = Duration.toMillis(timeout)
  const toMap = keyedRows(name, options, options.key)
  return (keys) =>
    Effect.tryPromise({
      // Interrupting the fiber (this timeout, or a policy's) aborts the signal,
      // which interrupts the statement inside DuckDB.
      try: (signal) => run(keys, signal),
      catch: (error) => classify(name, error)
    }).pipe(
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          Effect.fail(new LookupError({ reason: new Timeout({ lookup: name, timeoutMillis, cause: undefined }) }))
      }),
      Effect.flatMap(toMap)
    )
}

/**
 * Turns a failure of DuckDB into a `LookupError` named after `name`,
 * classified as every query of this module is, for statements a caller runs
 * itself (migrations, seeds).
 *
 * @since 0.1.0
 * @category errors
 */
export const classifyError = (name: string, error: unknown): LookupError => classify(name, error)
