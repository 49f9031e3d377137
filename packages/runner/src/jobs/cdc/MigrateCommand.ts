/**
 * `sluice cdc migrate`: creates the seed's tables (`CdcTables`); running it
 * again changes nothing.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { reportFailure } from "../../ReportFailure.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcTables from "./CdcTables.ts"
import * as Database from "./Database.ts"

/**
 * `sluice cdc migrate`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("migrate", { databaseUrl: CdcConfig.settingFlags.databaseUrl }, (flags) =>
  Effect.gen(function* () {
    const config = yield* CdcConfig.load(flags)
    const sql = yield* Database.connect(config)
    yield* CdcTables.migrate(sql)
    yield* Console.log(`tables ready: ${CdcTables.tables.join(", ")}`)
  }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Create business_events and the entity tables (idempotent)"))
