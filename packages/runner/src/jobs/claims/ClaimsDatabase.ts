/**
 * The claims database, PostgreSQL or DuckDB, chosen by `DATABASE_URL` /
 * `--database-url`: `duckdb:<path>` (or `duckdb::memory:`) opens a DuckDB
 * file in the process, anything else is a PostgreSQL URL (or, without one,
 * the local or embedded server). Everything the claims commands do with the
 * database goes through here: the claims resolver, the migration, the seed
 * and the row count, each written once per database over the same table.
 *
 * The jobs open a DuckDB file read-only, so several processes (an enrich job
 * and a replay, say) can read one file at once; `db migrate` and `db seed`
 * open it for writing, which DuckDB allows to one process at a time. A file
 * that is missing, has no `claims` table, or is held by a writer stops the
 * command at start with one line saying so.
 *
 * @since 0.1.0
 */
import { DuckDbLookup, type Lookup, type LookupError, PgLookup } from "@sluice/lookup"
import { Duration, Effect, Option, Redacted, type Scope } from "effect"
import * as Readiness from "../../http/Readiness.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as Services from "../../Services.ts"
import * as Claims from "./ClaimsTable.ts"

/**
 * An open claims database.
 *
 * @since 0.1.0
 * @category models
 */
export type ClaimsDatabase =
  | { readonly _tag: "Postgres"; readonly client: PgLookup.PgClient["Service"] }
  | { readonly _tag: "DuckDb"; readonly client: DuckDbLookup.DuckDbClient["Service"] }

/**
 * A PostgreSQL pool as a claims database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const postgres = (client: PgLookup.PgClient["Service"]): ClaimsDatabase => ({ _tag: "Postgres", client })

/**
 * A DuckDB client as a claims database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const duckDb = (client: DuckDbLookup.DuckDbClient["Service"]): ClaimsDatabase => ({ _tag: "DuckDb", client })

/**
 * The DuckDB path of the configured URL, when it is a `duckdb:` URL.
 *
 * @since 0.1.0
 * @category config
 */
export const duckDbPath = (databaseUrl: Option.Option<Redacted.Redacted<string>>): Option.Option<string> =>
  Option.flatMap(databaseUrl, (url) => DuckDbLookup.pathFromUrl(Redacted.value(url)))

const SETTINGS = "DATABASE_URL or --database-url"

const startup = (detail: string, settings = SETTINGS) => new RunnerError({ reason: new Startup({ detail, settings }) })

/**
 * The claims query on DuckDB: the decimal as its exact text, the timestamp as
 * UTC epoch milliseconds, the batch's ids bound as one list and joined.
 *
 * @since 0.1.0
 * @category sources
 */
export const duckDbSource: DuckDbLookup.Source<string> = {
  query: (sql, keys, signal) =>
    sql.query(
      `SELECT claim_id, member_id, claim_amount::VARCHAR AS claim_amount, claim_status,
              epoch_ms(created_date)::DOUBLE AS created_date
         FROM claims SEMI JOIN (SELECT unnest($1::VARCHAR[]) AS batch_key) ON claim_id = batch_key`,
      [keys],
      { signal }
    )
}

/**
 * The claims resolver by `claim_id` on either database: one statement per
 * fetch, decoded by `ClaimsTable.decoder`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolver = (db: ClaimsDatabase): Effect.Effect<Lookup.Resolver<string, Claims.Claim>> =>
  db._tag === "Postgres"
    ? Claims.makeResolver.pipe(Effect.provideService(PgLookup.PgClient, db.client))
    : DuckDbLookup.resolver({
        name: "claims",
        source: duckDbSource,
        decoder: Claims.decoder,
        key: (claim: Claims.Claim) => claim.claim_id
      }).pipe(Effect.provideService(DuckDbLookup.DuckDbClient, db.client))

const duckRun = (
  db: DuckDbLookup.DuckDbClient["Service"],
  text: string,
  params: ReadonlyArray<DuckDbLookup.DuckDbParameter> = []
) =>
  Effect.tryPromise({
    try: () => db.sql.query(text, params),
    catch: (error) => DuckDbLookup.classifyError("claims", error)
  })

/**
 * Creates the claims table if it does not exist (the DDL of
 * `ClaimsTable.migration`, which both databases accept).
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (db: ClaimsDatabase): Effect.Effect<void, LookupError.LookupError> =>
  db._tag === "Postgres" ? Claims.migrate(db.client.sql) : Effect.asVoid(duckRun(db.client, Claims.migration))

/**
 * Inserts the deterministic claims of `ClaimsTable.seedRows`; existing ids
 * are left alone. On DuckDB the amounts and timestamps go in as text and are
 * cast in SQL, so no amount passes through a float.
 *
 * @since 0.1.0
 * @category seeding
 */
export const seed = (
  db: ClaimsDatabase,
  options: { readonly count: number; readonly seed?: number; readonly batchSize?: number }
): Effect.Effect<void, LookupError.LookupError> =>
  db._tag === "Postgres"
    ? Claims.seed(db.client.sql, options)
    : Effect.gen(function* () {
        const rows = Claims.seedRows(options.count, options.seed)
        const batchSize = options.batchSize ?? 5_000
        for (let i = 0; i < rows.length; i += batchSize) {
          const chunk = rows.slice(i, i + batchSize)
          yield* duckRun(
            db.client,
            `INSERT INTO claims
             SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[])::DECIMAL(10,2),
                    unnest($4::VARCHAR[]), unnest($5::VARCHAR[])::TIMESTAMP
             ON CONFLICT (claim_id) DO NOTHING`,
            [
              chunk.map((r) => r.claim_id),
              chunk.map((r) => r.member_id),
              chunk.map((r) => r.claim_amount),
              chunk.map((r) => r.claim_status),
              chunk.map((r) => r.created_date)
            ]
          )
        }
      })

/**
 * How many claims the table holds.
 *
 * @since 0.1.0
 * @category queries
 */
export const count = (db: ClaimsDatabase): Effect.Effect<number, LookupError.LookupError> =>
  db._tag === "Postgres"
    ? Effect.map(
        Effect.tryPromise({
          try: () => db.client.sql.unsafe("SELECT count(*)::int AS n FROM claims"),
          catch: (error) => PgLookup.classifyError("claims", error)
        }),
        (rows) => Number((rows[0] as { readonly n?: unknown } | undefined)?.n ?? 0)
      )
    : Effect.map(duckRun(db.client, "SELECT count(*)::INTEGER AS n FROM claims"), (rows) => Number(rows[0]?.n ?? 0))

/**
 * Opens a DuckDB file (or `:memory:`) as the claims database. Read-only
 * (the jobs) also requires the `claims` table, so a file that was never
 * migrated is reported at start rather than as a failed lookup per payment.
 * Every failure is one `Startup` line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openDuckDb = (
  path: string,
  options: { readonly readOnly: boolean; readonly statementTimeout?: Duration.Input | undefined }
): Effect.Effect<ClaimsDatabase, RunnerError, Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* DuckDbLookup.makeClient({
      path,
      readOnly: options.readOnly,
      statementTimeout: options.statementTimeout ?? Duration.seconds(5)
    }).pipe(
      Effect.mapError((error) =>
        startup(
          `the DuckDB database ${path} cannot be opened${options.readOnly ? " read-only" : ""}: ${detailOf(error)}`
        )
      )
    )
    if (options.readOnly) {
      const rows = yield* duckRun(
        client,
        "SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_name = 'claims'"
      ).pipe(Effect.mapError((error) => startup(`the DuckDB database ${path} cannot be read: ${detailOf(error)}`)))
      if (Number(rows[0]?.n ?? 0) === 0) {
        return yield* Effect.fail(
          startup(
            `the DuckDB database ${path} has no claims table`,
            `${SETTINGS}, or create it with sluice db migrate / sluice db seed`
          )
        )
      }
    }
    return duckDb(client)
  })

const detailOf = (error: LookupError.LookupError): string =>
  error.reason._tag === "Unavailable" ? error.reason.detail : error.message

/**
 * The claims database a job reads: DuckDB for a `duckdb:` URL (read-only),
 * otherwise the PostgreSQL pool of `Services.database`. Registered as the
 * `database` readiness check.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (
  config: Parameters<typeof Services.database>[0],
  options: { readonly statementTimeout?: Duration.Input } = {}
): Effect.Effect<ClaimsDatabase, RunnerError | LookupError.LookupError, Scope.Scope | Readiness.Readiness> =>
  Option.match(duckDbPath(config.databaseUrl), {
    onNone: () => Effect.map(Services.database(config, options), postgres),
    onSome: (path) =>
      Effect.gen(function* () {
        const db = yield* openDuckDb(path, { readOnly: true, statementTimeout: options.statementTimeout })
        const readiness = yield* Readiness.Readiness
        if (db._tag === "DuckDb") {
          const sql = db.client.sql
          yield* readiness.register(
            "database",
            Effect.tryPromise(() => sql.query("SELECT 1"))
          )
        }
        return db
      })
  })

/**
 * `open` for a command that cannot run without its database: every failure is
 * one line naming `DATABASE_URL` / `--database-url` (see
 * `Services.databaseAtStart`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const openAtStart = (
  config: Parameters<typeof Services.database>[0],
  options: { readonly statementTimeout?: Duration.Input } = {}
): Effect.Effect<ClaimsDatabase, RunnerError, Scope.Scope | Readiness.Readiness> =>
  Option.isSome(duckDbPath(config.databaseUrl))
    ? open(config, options).pipe(
        Effect.catchTag("LookupError", (error) => Effect.fail(startup(`the DuckDB database failed: ${error.message}`)))
      )
    : Effect.map(Services.databaseAtStart(config, options), postgres)
