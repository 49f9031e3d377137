/**
 * Lookups over PostgreSQL with postgres.js. `PgClient` owns the connection
 * pool (scoped: opened and probed on acquire, ended within a bound on
 * release); `make` turns a table, key column and column list (or a query
 * function of your own) into a batching `Lookup`: one prepared
 * `SELECT ... WHERE key = ANY($1)` per batch, the batch's rows decoded in one
 * pass by a `RowDecoder` (or, more slowly, a `Schema`).
 *
 * Failures are classified once: connection refused, reset or ended and connect
 * timeouts are `Unavailable` and retryable; a server statement timeout
 * (SQLSTATE 57014) is `Timeout`; anything else is `Unavailable` and not
 * retryable.
 *
 * @since 0.1.0
 */
import type { Array as Arr, Scope } from "effect"
import { Config, Context, Duration, Effect, Layer, Redacted } from "effect"
import postgres from "postgres"
import { classify } from "./internal/classify.ts"
import { type Decoding, keyedRows } from "./internal/keyedRows.ts"
import * as TableStatement from "./internal/tableStatement.ts"
import * as Lookup from "./Lookup.ts"
import { LookupError, Unavailable } from "./LookupError.ts"

/**
 * Pool settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  readonly url: Redacted.Redacted<string>
  /** Most open connections (default 10). */
  readonly poolSize?: number | undefined
  /** Server-side `statement_timeout` for every statement (default 5 seconds). */
  readonly statementTimeout?: Duration.Input | undefined
  /** How long opening a connection may take (default 5 seconds). */
  readonly connectTimeout?: Duration.Input | undefined
  /** Name reported in `pg_stat_activity`. */
  readonly applicationName?: string | undefined
  /** Longest wait before the pool tries to reconnect after a failed connection (default 50 milliseconds). */
  readonly maxReconnectDelay?: Duration.Input | undefined
}

/**
 * The part of a PostgreSQL client a lookup needs, and all that the service
 * hands out: `unsafe` runs one statement with positional parameters and
 * answers its rows; `cancel`, when the client has it, stops a statement whose
 * caller was interrupted. postgres.js's `Sql` is one; a test fake or another
 * client only has to provide this, so a switch of client touches one layer.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgSql {
  unsafe(
    query: string,
    parameters?: ReadonlyArray<unknown>,
    options?: { readonly prepare?: boolean }
  ): PromiseLike<ReadonlyArray<unknown>> & { readonly cancel?: () => unknown }
}

/**
 * The postgres.js pool, as a service, seen through `PgSql`.
 *
 * @since 0.1.0
 * @category services
 */
export class PgClient extends Context.Service<
  PgClient,
  {
    readonly sql: PgSql
    readonly options: {
      readonly poolSize: number
      readonly statementTimeout: Duration.Duration
      readonly connectTimeout: Duration.Duration
    }
  }
>()("@sluice/lookup/PgClient") {}

const toSeconds = (d: Duration.Duration): number => Math.max(1, Math.ceil(Duration.toSeconds(d)))

// postgres.js waits before reconnecting, and the wait grows with every failed
// connection of the pool, to 20 seconds by default: after a long outage the
// pool would stay away well after the server is back. Worse, during the outage
// a connection only tries again for a query that waits for it, and that query
// waits out the delay first: queries queued behind it fail one delay apart per
// connection, so with a delay of a second a burst of lookups ends in timeouts
// instead of failing fast. Each attempt is made for a query, and the policy
// around the queries already paces them (retries, breaker), so the driver's
// wait only doubles from 50 ms up to `max` (in seconds, as postgres.js takes it).
const reconnectBackoff =
  (max: Duration.Duration) =>
  (failures: number): number =>
    Math.min(0.05 * 2 ** failures, Duration.toSeconds(max))

/**
 * Opens a pool and checks it with `SELECT 1`; the pool is ended when the scope
 * closes. The URL is only ever unwrapped to hand it to the driver.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (options: ClientOptions): Effect.Effect<PgClient["Service"], LookupError, Scope.Scope> =>
  Effect.gen(function* () {
    const poolSize = options.poolSize ?? 10
    const statementTimeout = Duration.fromInputUnsafe(options.statementTimeout ?? "5 seconds")
    const connectTimeout = Duration.fromInputUnsafe(options.connectTimeout ?? "5 seconds")
    const maxReconnectDelay = Duration.fromInputUnsafe(options.maxReconnectDelay ?? "50 millis")
    const sql = yield* Effect.acquireRelease(
      Effect.sync(() =>
        postgres(Redacted.value(options.url), {
          max: poolSize,
          // postgres.js takes whole seconds here; the probe below enforces the exact bound.
          connect_timeout: toSeconds(connectTimeout),
          idle_timeout: 30,
          backoff: reconnectBackoff(maxReconnectDelay),
          prepare: true,
          onnotice: () => {},
          connection: {
            statement_timeout: Math.round(Duration.toMillis(statementTimeout)),
            application_name: options.applicationName ?? "sluice-lookup"
          }
        })
      ),
      (sql) =>
        Effect.ignore(
          Effect.timeout(
            Effect.promise(() => sql.end({ timeout: 2 })),
            "5 seconds"
          )
        )
    )
    yield* Effect.tryPromise({
      try: () => sql.unsafe("SELECT 1"),
      catch: (error) => classify("PgClient", error)
    }).pipe(
      Effect.timeoutOrElse({
        duration: connectTimeout,
        orElse: () =>
          Effect.fail(
            new LookupError({
              reason: new Unavailable({
                lookup: "PgClient",
                retryable: true,
                detail: `no connection within ${Duration.format(connectTimeout)}`,
                cause: undefined
              })
            })
          )
      })
    )
    return PgClient.of({ sql, options: { poolSize, statementTimeout, connectTimeout } })
  })

/**
 * A layer with a pool built from `options`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ClientOptions): Layer.Layer<PgClient, LookupError> =>
  Layer.effect(PgClient, makeClient(options))

/**
 * Reads pool settings from configuration: `DATABASE_URL` (redacted),
 * `PG_POOL_SIZE`, `PG_STATEMENT_TIMEOUT` and `PG_CONNECT_TIMEOUT`.
 *
 * @since 0.1.0
 * @category config
 */
export const clientConfig: Config.Config<ClientOptions> = Config.all({
  url: Config.Redacted("DATABASE_URL"),
  poolSize: Config.Int("PG_POOL_SIZE").pipe(Config.withDefault(10)),
  statementTimeout: Config.Duration("PG_STATEMENT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  connectTimeout: Config.Duration("PG_CONNECT_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5)))
})

/**
 * A layer whose settings come from configuration (see `clientConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<ClientOptions> = clientConfig
): Layer.Layer<PgClient, LookupError | Config.ConfigError> =>
  Layer.effect(
    PgClient,
    Effect.flatMap(config, (options) => makeClient(options))
  )

/**
 * A column to select; `cast` is applied in SQL and the result keeps the
 * column's name (`amount::text AS amount`), which is how exact
 * decimals reach JavaScript as strings.
 *
 * @since 0.1.0
 * @category models
 */
export type Column = TableStatement.Column

/**
 * What to query: a table description, or a function that runs one query for
 * a batch of keys with the pool it is given.
 *
 * @since 0.1.0
 * @category models
 */
export type Source<K> =
  | TableStatement.Table
  | {
      readonly query: (
        sql: PgSql,
        keys: Arr.NonEmptyReadonlyArray<K>
      ) => PromiseLike<ReadonlyArray<unknown>> & { readonly cancel?: () => unknown }
    }

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export type Options<K, V> = {
  readonly name: string
  readonly source: Source<K>
  /** Reads the key back from a decoded row, to match rows to requests. */
  readonly key: (value: V) => K
  readonly maxBatchSize?: number | undefined
  readonly batchWindow?: Duration.Input | undefined
} & Decoding<V>

// How PgLookup writes a cast and matches a batch's keys; the rest of the statement is shared.
const dialect: TableStatement.Dialect = {
  module: "PgLookup",
  defaultKeyType: "text",
  cast: (column, type) => `${column}::${type}`,
  matchKeys: (keyColumn, keyType) => `WHERE ${keyColumn} = ANY($1::${keyType}[])`
}

/**
 * The statement `make` prepares for a table source.
 *
 * @since 0.1.0
 * @category utils
 */
export const selectStatement = (source: TableStatement.Table): string => TableStatement.selectStatement(dialect, source)

/**
 * The resolver over the pool in `PgClient`: one statement per fetch. Guard it
 * with `Lookup.withPolicy`, then `Lookup.batched`, then `Lookup.cached`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolver = <K, V>(options: Options<K, V>): Effect.Effect<Lookup.Resolver<K, V>, never, PgClient> =>
  Effect.map(PgClient, ({ sql }) => Lookup.resolver({ name: options.name, fetch: makeFetch(sql, options) }))

/**
 * A batching lookup over the pool in `PgClient`, without a policy:
 * `Lookup.batched` of `resolver`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <K, V>(options: Options<K, V>): Effect.Effect<Lookup.Lookup<K, V>, never, PgClient> =>
  Effect.map(resolver(options), (r) => Lookup.batched(r, options))

/**
 * The batch query of `make`, without batching: one statement for the given
 * keys, rows decoded and keyed. Useful to build other lookups on.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFetch = <K, V>(sql: PgSql, options: Options<K, V>): Lookup.Fetch<K, V> => {
  const source = options.source
  const run =
    "query" in source
      ? (keys: Arr.NonEmptyReadonlyArray<K>) => source.query(sql, keys)
      : (() => {
          const text = selectStatement(source)
          return (keys: Arr.NonEmptyReadonlyArray<K>) =>
            sql.unsafe(text, [keys as unknown as Array<string>], { prepare: true })
        })()
  const name = options.name
  const toMap = keyedRows(name, options, options.key)
  return (keys) =>
    Effect.tryPromise({
      try: (signal) => {
        const pending = run(keys)
        // Interrupting the fiber (a policy timeout) cancels the statement on the server too.
        signal.addEventListener(
          "abort",
          () => {
            try {
              const cancelled = pending.cancel?.()
              if (cancelled instanceof Promise) cancelled.catch(() => {})
            } catch {
              // the query already finished
            }
          },
          { once: true }
        )
        return Promise.resolve(pending)
      },
      catch: (error) => classify(name, error)
    }).pipe(Effect.flatMap(toMap))
}

/**
 * Turns a failure of the PostgreSQL client into a `LookupError` named after
 * `name`, classified as every query of this module is (connection failures
 * and transient SQLSTATEs retryable, a statement timeout a `Timeout`), for
 * statements a caller runs itself (migrations, seeds).
 *
 * @since 0.1.0
 * @category errors
 */
export const classifyError = (name: string, error: unknown): LookupError => classify(name, error)
