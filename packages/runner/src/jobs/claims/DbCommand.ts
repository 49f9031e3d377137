/**
 * `sluice db migrate` and `sluice db seed`: prepare the claims database the
 * enrichment job reads. The URL comes from `--database-url` or
 * `DATABASE_URL`; without either, the local server on 127.0.0.1:5432 or an
 * embedded one is used, and the command says which, so seeding the wrong
 * database is visible at once. Credentials are never printed.
 *
 * @since 0.1.0
 */
import { PgLookup } from "@sluice/lookup"
import { Console, Effect, Option, Redacted } from "effect"
import { Command } from "effect/cli"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import { reportFailure } from "../../ReportFailure.ts"
import * as ClaimsConfig from "./ClaimsConfig.ts"
import * as ClaimsFlags from "./ClaimsFlags.ts"
import * as Claims from "./ClaimsTable.ts"

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
    return client.sql
  })

/**
 * `sluice db migrate`: creates the claims table; running it again changes nothing.
 *
 * @since 0.1.0
 * @category commands
 */
export const migrate = Command.make("migrate", dbFlags, (flags) =>
  Effect.gen(function* () {
    const sql = yield* connect(flags.databaseUrl)
    yield* Claims.migrate(sql)
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
    const sql = yield* connect(flags.databaseUrl)
    yield* Claims.migrate(sql)
    yield* Claims.seed(sql, { count: flags.claims, seed: flags.seed })
    const rows = (yield* Effect.promise(() => sql.unsafe("SELECT count(*)::int AS n FROM claims"))) as ReadonlyArray<{
      readonly n: number
    }>
    yield* Console.log(`claims in the table: ${rows[0]?.n ?? 0}`)
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
