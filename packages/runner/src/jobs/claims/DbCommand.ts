/**
 * `sluice db migrate` and `sluice db seed`: prepare the claims database the
 * enrichment job reads. The URL comes from `--database-url` or
 * `DATABASE_URL`; without either, the local server on 127.0.0.1:5432 or an
 * embedded one is used, and the command says which, so seeding the wrong
 * database is visible at once. Credentials are never printed. A
 * `duckdb:<path>` URL opens (or creates) that DuckDB file for writing.
 *
 * @since 0.1.0
 */
import { PgLookup } from "@sluice/lookup"
import { Console, Effect, Option, Redacted } from "effect"
import { Command } from "effect/cli"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import { reportFailure } from "../../ReportFailure.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsDatabase from "./ClaimsDatabase.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"

const dbFlags = { databaseUrl: ClaimsConfig.settingFlags.databaseUrl } as const

const describeUrl = (url: Redacted.Redacted<string>): string =>
  Option.getOrElse(
    Option.map(
      Option.liftThrowable(() => new URL(Redacted.value(url)))(),
      (u) => `${u.protocol}//${u.username !== "" || u.password !== "" ? "<redacted>@" : ""}${u.host}${u.pathname}`
    ),
    () => "<unparseable URL>"
  )

// A flag or DATABASE_URL wins; otherwise the lookup package's fallback chain decides.
const connect = (databaseUrl: Option.Option<string>) =>
  Effect.gen(function* () {
    const config = yield* ClaimsConfig.load({ databaseUrl })
    const duckDbPath = ClaimsDatabase.duckDbPath(config.databaseUrl)
    if (Option.isSome(duckDbPath)) {
      const source = Option.isSome(databaseUrl) ? "--database-url" : "DATABASE_URL"
      yield* Effect.sync(() => process.stderr.write(`database: DuckDB ${duckDbPath.value} (${source})\n`))
      return yield* ClaimsDatabase.openDuckDb(duckDbPath.value, { readOnly: false })
    }
    const url = Option.isSome(config.databaseUrl)
      ? config.databaseUrl.value
      : yield* EmbeddedPostgres.resolveDatabaseUrl
    const source = Option.isSome(databaseUrl)
      ? "--database-url"
      : Option.isSome(config.databaseUrl)
        ? "DATABASE_URL"
        : describeUrl(url).includes("127.0.0.1:5432")
          ? "local server"
          : "embedded server"
    yield* Effect.sync(() => process.stderr.write(`database: ${describeUrl(url)} (${source})\n`))
    const client = yield* PgLookup.makeClient({ url, poolSize: 2, applicationName: "sluice-db" })
    return ClaimsDatabase.postgres(client)
  })

/**
 * `sluice db migrate`: creates the claims table; running it again changes nothing.
 *
 * @since 0.1.0
 * @category commands
 */
export const migrate = Command.make("migrate", dbFlags, (flags) =>
  Effect.gen(function* () {
    const db = yield* connect(flags.databaseUrl)
    yield* ClaimsDatabase.migrate(db)
    yield* Console.log("claims table ready")
  }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Create the claims table (idempotent)"))

/**
 * `sluice db seed`: inserts the deterministic claims `CLM-000001`..`CLM-<claims>`
 * (creating the table first) and prints how many claims the table holds.
 *
 * @since 0.1.0
 * @category commands
 */
export const seed = Command.make("seed", { ...dbFlags, claims: ClaimsFlags.claims, seed: ClaimsFlags.seed }, (flags) =>
  Effect.gen(function* () {
    const db = yield* connect(flags.databaseUrl)
    yield* ClaimsDatabase.migrate(db)
    yield* ClaimsDatabase.seed(db, { count: flags.claims, seed: flags.seed })
    yield* Console.log(`claims in the table: ${yield* ClaimsDatabase.count(db)}`)
  }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Insert deterministic claims CLM-000001..CLM-<claims>"))

/**
 * The `db` command group.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("db").pipe(
  Command.withDescription("Prepare the claims database"),
  Command.withSubcommands([migrate, seed])
)
