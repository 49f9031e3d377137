/**
 * The insurance claims table that payment events are enriched from: its row
 * schema (amounts as exact decimals), the migration that creates it, a
 * deterministic seed shared by the claims commands, their tests and the
 * benchmarks, and the claims lookup itself, an instance of `PgLookup`.
 *
 * @since 0.1.0
 */

import { Lookup, type LookupError, PgLookup, RowDecoder } from "@sluice/lookup"
import { Context, DateTime, Duration, Effect, Layer, Schema } from "effect"

/**
 * One row of `claims`. `claim_amount` is `DECIMAL(10,2)` and is read as text,
 * so it decodes to an exact `BigDecimal`, never a float. `created_date` is a
 * `TIMESTAMP` without zone, read as UTC epoch milliseconds (cheaper to decode
 * than ISO text).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Claim = Schema.Struct({
  claim_id: Schema.String,
  member_id: Schema.String,
  claim_amount: Schema.BigDecimalFromString,
  claim_status: Schema.NullOr(Schema.String),
  created_date: Schema.NullOr(Schema.DateTimeUtcFromMillis)
})

/**
 * The claims row decoder `makeLookup` uses: the same rows and values as
 * `Claim` (the tests hold the two to that), compiled into one pass per batch
 * instead of a schema walk per field.
 *
 * @since 0.1.0
 * @category schemas
 */
export const decoder: RowDecoder.RowDecoder<Claim> = RowDecoder.struct({
  claim_id: RowDecoder.string,
  member_id: RowDecoder.string,
  claim_amount: RowDecoder.decimal,
  claim_status: RowDecoder.nullOr(RowDecoder.string),
  created_date: RowDecoder.nullOr(RowDecoder.utcFromMillis)
})

/**
 * A decoded claim.
 *
 * @since 0.1.0
 * @category models
 */
export type Claim = typeof Claim.Type

/**
 * The DDL of the claims table; safe to run more than once.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migration = `CREATE TABLE IF NOT EXISTS claims (
  claim_id VARCHAR PRIMARY KEY,
  member_id VARCHAR NOT NULL,
  claim_amount DECIMAL(10,2) NOT NULL,
  claim_status VARCHAR,
  created_date TIMESTAMP
)`

const run = (sql: PgLookup.PgSql, text: string, params: ReadonlyArray<unknown> = []) =>
  Effect.tryPromise({
    try: () => sql.unsafe(text, params),
    catch: (error) => PgLookup.classifyError("claims", error)
  })

/**
 * Creates the claims table if it does not exist.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (sql: PgLookup.PgSql): Effect.Effect<void, LookupError.LookupError> =>
  Effect.asVoid(run(sql, migration))

/**
 * The id of the `n`-th seeded claim (1-based): `CLM-000001`.
 *
 * @since 0.1.0
 * @category seeding
 */
export const claimId = (n: number): string => `CLM-${String(n).padStart(6, "0")}`

/**
 * A seeded claim as inserted, with the amount as its exact decimal text.
 *
 * @since 0.1.0
 * @category seeding
 */
export interface SeedRow {
  readonly claim_id: string
  readonly member_id: string
  readonly claim_amount: string
  readonly claim_status: string
  readonly created_date: string
}

const STATUSES = ["SUBMITTED", "APPROVED", "DENIED", "PENDING", "PAID"] as const

// mulberry32: tiny, fast and the same on every platform, which is all a seed needs.
const prng = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const centsToDecimal = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`

// 2024-01-01T00:00:00Z
const BASE_TIME = 1_704_067_200_000

/**
 * The rows `seed` inserts: claim `n` is the same for a given PRNG seed on every
 * run. Every 250th claim is large (millions), every 1000th is near the
 * `DECIMAL(10,2)` maximum.
 *
 * @since 0.1.0
 * @category seeding
 */
export const seedRows = (count: number, seed = 42): Array<SeedRow> => {
  const random = prng(seed)
  const rows: Array<SeedRow> = []
  for (let n = 1; n <= count; n++) {
    const r = random()
    const cents =
      n % 1000 === 0
        ? 9_000_000_000 + Math.floor(r * 999_999_999)
        : n % 250 === 0
          ? 100_000_000 + Math.floor(r * 900_000_000)
          : 1_000 + Math.floor(r * 5_000_000)
    rows.push({
      claim_id: claimId(n),
      member_id: `MBR-${String(1 + Math.floor(random() * 50_000)).padStart(5, "0")}`,
      claim_amount: centsToDecimal(cents),
      claim_status: STATUSES[Math.floor(random() * STATUSES.length)]!,
      created_date: DateTime.formatIso(DateTime.makeUnsafe(BASE_TIME + n * 60_000 + Math.floor(random() * 59_000)))
    })
  }
  return rows
}

/**
 * Inserts `count` deterministic claims (see `seedRows`) in batches with
 * `unnest`; existing ids are left alone, so seeding twice is harmless.
 *
 * @since 0.1.0
 * @category seeding
 */
export const seed = (
  sql: PgLookup.PgSql,
  options: { readonly count: number; readonly seed?: number; readonly batchSize?: number }
): Effect.Effect<void, LookupError.LookupError> =>
  Effect.gen(function* () {
    const rows = seedRows(options.count, options.seed)
    const batchSize = options.batchSize ?? 5_000
    for (let i = 0; i < rows.length; i += batchSize) {
      const chunk = rows.slice(i, i + batchSize)
      yield* run(
        sql,
        `INSERT INTO claims (claim_id, member_id, claim_amount, claim_status, created_date)
         SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::numeric[], $4::varchar[], $5::timestamp[])
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
 * Where the claims lookup reads from: the decimal goes out as text and the
 * timestamp as UTC epoch milliseconds, both decoded exactly by `Claim`.
 *
 * @since 0.1.0
 * @category sources
 */
export const source: PgLookup.Source<string> = {
  query: (sql, keys) =>
    sql.unsafe(
      `SELECT claim_id, member_id, claim_amount::text AS claim_amount, claim_status,
              floor(extract(epoch FROM created_date) * 1000)::float8 AS created_date
         FROM claims WHERE claim_id = ANY($1::varchar[])`,
      [keys as unknown as Array<string>],
      { prepare: true }
    )
}

/**
 * Options of the claims lookup.
 *
 * @since 0.1.0
 * @category models
 */
export interface LookupOptions {
  readonly maxBatchSize?: number | undefined
  readonly batchWindow?: Duration.Input | undefined
}

/**
 * The claims resolver by `claim_id`: one statement per fetch. Compose
 * `Lookup.withPolicy`, `Lookup.batched` (with `batching`) and `Lookup.cached`
 * around it, in that order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeResolver: Effect.Effect<Lookup.Resolver<string, Claim>, never, PgLookup.PgClient> = PgLookup.resolver({
  name: "claims",
  source,
  decoder,
  key: (claim: Claim) => claim.claim_id
})

/**
 * How the claims lookup batches: up to 1,024 ids a statement, gathered for
 * 1 ms, so a chunk of the job's (at most 1,024 payments by default, fewer
 * distinct claims) is one statement rather than one per 100 ids.
 *
 * @since 0.1.0
 * @category constants
 */
export const batching = { maxBatchSize: 1024, batchWindow: Duration.millis(1) } as const

/**
 * The claims lookup by `claim_id`, batched, uncached and unguarded.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLookup = (
  options: LookupOptions = {}
): Effect.Effect<Lookup.Lookup<string, Claim>, never, PgLookup.PgClient> =>
  Effect.map(makeResolver, (resolver) =>
    Lookup.batched(resolver, {
      maxBatchSize: options.maxBatchSize ?? batching.maxBatchSize,
      batchWindow: options.batchWindow ?? batching.batchWindow
    })
  )

/**
 * The claims lookup as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class ClaimsLookup extends Context.Service<ClaimsLookup, Lookup.Lookup<string, Claim>>()(
  "@sluice/runner/ClaimsLookup"
) {}

/**
 * Provides `ClaimsLookup` over the `PgClient` pool.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: LookupOptions = {}): Layer.Layer<ClaimsLookup, never, PgLookup.PgClient> =>
  Layer.effect(ClaimsLookup, makeLookup(options))
