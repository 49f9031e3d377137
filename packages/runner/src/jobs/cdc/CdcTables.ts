/**
 * The tables of seed 003: `business_events`, one row per business event,
 * and the entity tables (`loan_entities`, `car_entities`,
 * `service_entities`) holding each entity's latest attributes. Every table
 * keeps its business attributes in `updated_attributes JSONB` with a GIN
 * index, as the seed's DDL does, so one rule shape (`after.updated_attributes`)
 * reads them all.
 *
 * @since 0.1.0
 */

import { LookupError, type PgLookup } from "@sluice/lookup"
import { Effect } from "effect"

/**
 * The captured tables, `schema.table`.
 *
 * @since 0.1.0
 * @category constants
 */
export const tables: ReadonlyArray<string> = [
  "public.business_events",
  "public.loan_entities",
  "public.car_entities",
  "public.service_entities"
]

const entityTable = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  id VARCHAR(255) PRIMARY KEY,
  entity_type VARCHAR(255) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE,
  updated_attributes JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_${name}_updated_attributes_gin ON ${name} USING GIN (updated_attributes);`

/**
 * The DDL, idempotent.
 *
 * @since 0.1.0
 * @category constants
 */
export const ddl = `
CREATE TABLE IF NOT EXISTS business_events (
  id VARCHAR(255) PRIMARY KEY,
  event_name VARCHAR(255) NOT NULL,
  event_type VARCHAR(255) NOT NULL,
  entity_type VARCHAR(255) NOT NULL,
  entity_id VARCHAR(255) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL,
  updated_attributes JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_business_events_updated_attributes_gin ON business_events USING GIN (updated_attributes);
${["loan_entities", "car_entities", "service_entities"].map(entityTable).join("\n")}
`

/**
 * Creates the tables; running it again changes nothing.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (sql: PgLookup.PgSql): Effect.Effect<void, LookupError.LookupError> =>
  Effect.forEach(
    ddl
      .split(";")
      .map((statement) => statement.trim())
      .filter((statement) => statement.length > 0),
    (statement) =>
      Effect.tryPromise({
        try: () => sql.unsafe(statement),
        catch: (cause) =>
          new LookupError.LookupError({
            reason: new LookupError.Unavailable({
              lookup: "cdc migrate",
              retryable: false,
              detail: cause instanceof Error ? cause.message : String(cause),
              cause
            })
          })
      }),
    { discard: true }
  )
