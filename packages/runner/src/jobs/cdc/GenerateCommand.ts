/**
 * `sluice cdc generate`: inserts generated business events (`CdcGenerator`)
 * at a rate, each as a `business_events` row plus the upsert of its entity
 * (`loan_entities`, `car_entities`, `service_entities`) in one transaction,
 * the way the seed's producer APIs store them. Deterministic for a seed; a
 * summary line when the run ends.
 *
 * @since 0.1.0
 */

import { LookupError, type PgLookup } from "@sluice/lookup"
import { Clock, Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import { reportFailure } from "../../ReportFailure.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcGenerator from "./CdcGenerator.ts"
import * as CdcTables from "./CdcTables.ts"
import * as Database from "./Database.ts"

const upsertEntity = (table: string, type: string) =>
  `${table}_rows AS (
     INSERT INTO ${table} (id, entity_type, created_at, updated_at, updated_attributes)
     SELECT entity_id, entity_type, to_timestamp(created_ms / 1000.0), to_timestamp(created_ms / 1000.0), attrs
       FROM input WHERE entity_type = '${type}'
     ON CONFLICT (id) DO UPDATE SET updated_at = EXCLUDED.updated_at, updated_attributes = EXCLUDED.updated_attributes)`

// One statement, so the events and their entities commit together.
const insertStatement = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::text::jsonb) AS x(id text, event_name text, event_type text,
    entity_type text, entity_id text, created_ms bigint, attrs jsonb)
),
${upsertEntity("loan_entities", "Loan")},
${upsertEntity("car_entities", "Car")},
${upsertEntity("service_entities", "Service")}
INSERT INTO business_events (id, event_name, event_type, entity_type, entity_id, created_at, updated_attributes)
SELECT id, event_name, event_type, entity_type, entity_id, to_timestamp(created_ms / 1000.0), attrs FROM input
ON CONFLICT (id) DO NOTHING`

/**
 * Inserts events and upserts their entities in one statement.
 *
 * @since 0.1.0
 * @category writing
 */
export const insert = (
  sql: PgLookup.PgSql,
  events: ReadonlyArray<CdcGenerator.BusinessEvent>
): Effect.Effect<void, LookupError.LookupError> =>
  Effect.tryPromise({
    try: () =>
      sql.unsafe(insertStatement, [
        JSON.stringify(
          events.map((e) => ({
            id: e.id,
            event_name: e.eventName,
            event_type: e.eventType,
            entity_type: e.entityType,
            entity_id: e.entityId,
            created_ms: e.createdAt,
            attrs: e.attributes
          }))
        )
      ]),
    catch: (cause) =>
      new LookupError.LookupError({
        reason: new LookupError.Unavailable({
          lookup: "cdc generate",
          retryable: true,
          detail: cause instanceof Error ? cause.message : String(cause),
          cause
        })
      })
  }).pipe(Effect.asVoid)

/**
 * Inserts events `from`..`from + count - 1` of a seed at `eventsPerSecond`,
 * in transactions of up to 50 events, paced by the `Clock`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  sql: PgLookup.PgSql,
  options: CdcGenerator.Options & { readonly count: number; readonly eventsPerSecond: number; readonly from?: number }
) =>
  Effect.gen(function* () {
    const from = options.from ?? 0
    const batch = Math.max(1, Math.min(50, Math.floor(options.eventsPerSecond / 10)))
    const started = yield* Clock.currentTimeMillis
    for (let i = 0; i < options.count; i += batch) {
      const n = Math.min(batch, options.count - i)
      yield* insert(
        sql,
        Array.from({ length: n }, (_, j) => CdcGenerator.event(options, from + i + j))
      )
      const due = started + ((i + n) * 1000) / options.eventsPerSecond
      const now = yield* Clock.currentTimeMillis
      if (due > now) yield* Effect.sleep(due - now)
    }
  })

/**
 * `sluice cdc generate`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "generate",
  {
    databaseUrl: CdcConfig.settingFlags.databaseUrl,
    count: Flags.parsed("count", Parse.int(1), "Events to insert").pipe(Flags.withDefault(1000, "1000")),
    eventsPerSecond: Flags.parsed("events-per-second", Parse.int(1), "Insert rate").pipe(Flags.withDefault(200, "200")),
    seed: Flags.parsed("seed", Parse.int(0), "Generator seed").pipe(Flags.withDefault(1, "1")),
    maxBytes: Flags.parsed("max-bytes", Parse.int(400), "Largest payload in bytes").pipe(Flag.optional)
  },
  (flags) =>
    Effect.gen(function* () {
      const config = yield* CdcConfig.load({ databaseUrl: flags.databaseUrl })
      const sql = yield* Database.connect(config)
      yield* CdcTables.migrate(sql)
      yield* run(sql, {
        seed: flags.seed,
        count: flags.count,
        eventsPerSecond: flags.eventsPerSecond,
        ...Option.match(flags.maxBytes, { onNone: () => ({}), onSome: (maxBytes) => ({ maxBytes }) })
      })
      yield* Console.log(`inserted ${flags.count} business events (seed ${flags.seed})`)
    }).pipe(Effect.scoped, reportFailure)
).pipe(Command.withDescription("Insert generated business events into the seed's tables at a rate"))
