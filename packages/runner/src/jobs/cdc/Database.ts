/**
 * The database the CDC commands write to: `--database-url` or
 * `DATABASE_URL`, otherwise the local server on 127.0.0.1:5432 or an
 * embedded one, named on stderr (credentials never printed) so writing to
 * the wrong database is visible at once.
 *
 * @since 0.1.0
 */
import { PgLookup } from "@sluice/lookup"
import { Effect, Option } from "effect"
import * as Config from "../../Config.ts"
import * as EmbeddedPostgres from "../../EmbeddedPostgres.ts"
import type * as CdcConfig from "./CdcConfig.ts"

/**
 * A small pool on the configured database, for the command's scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (config: CdcConfig.CdcConfig) =>
  Effect.gen(function* () {
    const url = Option.isSome(config.databaseUrl)
      ? config.databaseUrl.value
      : yield* EmbeddedPostgres.resolveDatabaseUrl
    yield* Effect.sync(() => process.stderr.write(`database: ${Config.displayUrl(url)}\n`))
    const client = yield* PgLookup.makeClient({ url, poolSize: 2, applicationName: "sluice-cdc" })
    return client.sql
  })
