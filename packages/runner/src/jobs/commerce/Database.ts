/**
 * The PostgreSQL connection of the commerce jobs: a postgres.js pool (what
 * `PgUpsertSink` writes through, with its transactions) on `DATABASE_URL` /
 * `--database-url`, or the local or embedded server when neither is given.
 * With `databaseSchema` the tables are read and written in that schema
 * (its `search_path`). It is probed once at start, so a wrong URL fails the command with one line
 * before anything is created, and registered as the `database` readiness check.
 *
 * @since 0.3.0
 */
import { Effect, Option, Redacted } from "effect"
import postgres from "postgres"
import type * as Config from "../../Config.ts"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import type * as Readiness from "../../http/Readiness.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"

const startup = (detail: string) =>
  new RunnerError({ reason: new Startup({ detail, settings: "DATABASE_URL or --database-url" }) })

/**
 * Opens the pool for the command's scope.
 *
 * @since 0.3.0
 * @category constructors
 */
export const open = (
  config: Pick<Config.Shared, "databaseUrl" | "clientId"> & { readonly databaseSchema?: string | undefined },
  readiness?: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    const url = Option.isSome(config.databaseUrl)
      ? config.databaseUrl.value
      : yield* EmbeddedPostgres.resolveDatabaseUrl.pipe(Effect.mapError((error) => startup(error.message)))
    const sql = yield* Effect.acquireRelease(
      Effect.sync(() =>
        postgres(Redacted.value(url), {
          max: 4,
          onnotice: () => {},
          connection: {
            application_name: `sluice-${config.clientId}`,
            // The demo keeps its tables in a schema of their own.
            ...(config.databaseSchema === undefined ? {} : { search_path: config.databaseSchema })
          }
        })
      ),
      (sql) => Effect.promise(() => sql.end({ timeout: 5 }))
    )
    const probe = Effect.tryPromise(() => sql.unsafe("SELECT 1"))
    yield* probe.pipe(Effect.mapError((error) => startup(`the database does not answer: ${error.message}`)))
    if (readiness !== undefined) yield* readiness.register("database", probe)
    return sql
  })
