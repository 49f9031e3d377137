/**
 * The table the lookup tests resolve against: insurance claims with an exact
 * decimal amount, a nullable status and a nullable timestamp, the types a
 * resolver has to carry without loss. Only what the tests and benchmarks of
 * this package use: the row schema and decoder, the DDL, a deterministic
 * seed (a closed formula of the row number, no generator state) and the
 * claims lookup over `PgLookup`.
 */
import { DateTime, Duration, Effect, Schema } from "effect"
import type * as Lookup from "../../src/Lookup.ts"
import type { LookupError } from "../../src/LookupError.ts"
import * as PgLookup from "../../src/PgLookup.ts"
import * as RowDecoder from "../../src/RowDecoder.ts"

/**
 * One row of `claims`: the amount is read as text so it decodes to an exact
 * `BigDecimal`, the timestamp as UTC epoch milliseconds.
 */
export const Claim = Schema.Struct({
  claim_id: Schema.String,
  member_id: Schema.String,
  claim_amount: Schema.BigDecimalFromString,
  claim_status: Schema.NullOr(Schema.String),
  created_date: Schema.NullOr(Schema.DateTimeUtcFromMillis)
})

export type Claim = typeof Claim.Type

/** The same rows and values as `Claim` (RowDecoder.test holds the two to that), in one pass per batch. */
export const decoder: RowDecoder.RowDecoder<Claim> = RowDecoder.struct({
  claim_id: RowDecoder.string,
  member_id: RowDecoder.string,
  claim_amount: RowDecoder.decimal,
  claim_status: RowDecoder.nullOr(RowDecoder.string),
  created_date: RowDecoder.nullOr(RowDecoder.utcFromMillis)
})

/** The DDL, valid for PostgreSQL and DuckDB alike; safe to run twice. */
export const migration = `CREATE TABLE IF NOT EXISTS claims (
  claim_id VARCHAR PRIMARY KEY,
  member_id VARCHAR NOT NULL,
  claim_amount DECIMAL(10,2) NOT NULL,
  claim_status VARCHAR,
  created_date TIMESTAMP
)`

/** A row as inserted: the amount as exact decimal text, the timestamp as ISO text. */
export interface Row {
  readonly claim_id: string
  readonly member_id: string
  readonly claim_amount: string
  readonly claim_status: string | null
  readonly created_date: string | null
}

/** The id of the `n`-th seeded claim (1-based): `CLM-000001`. */
export const claimId = (n: number): string => `CLM-${String(n).padStart(6, "0")}`

const STATUSES = ["SUBMITTED", "APPROVED", "DENIED", "PENDING", "PAID"] as const

// 2024-01-01T00:00:00Z
const BASE_TIME = 1_704_067_200_000

// Cents of claim `n`: small amounts spread by a multiplier prime to the range,
// every 250th in the millions and every 1000th near the DECIMAL(10,2) maximum,
// where a float would lose cents.
const centsOf = (n: number): number =>
  n % 1000 === 0
    ? 9_999_999_999 - n
    : n % 250 === 0
      ? 100_000_000 + ((n * 7_919) % 900_000_000)
      : 1_000 + ((n * 7_919) % 5_000_000)

const decimalOf = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`

/** Claims 1 to `count`, the same on every run. */
export const seedRows = (count: number): Array<Row> =>
  Array.from({ length: count }, (_, i) => {
    const n = i + 1
    return {
      claim_id: claimId(n),
      member_id: `MBR-${String(1 + ((n * 31) % 50_000)).padStart(5, "0")}`,
      claim_amount: decimalOf(centsOf(n)),
      claim_status: STATUSES[n % STATUSES.length]!,
      created_date: DateTime.formatIso(DateTime.makeUnsafe(BASE_TIME + n * 60_000 + ((n * 7_001) % 59_000)))
    }
  })

const run = (sql: PgLookup.PgSql, text: string, params: ReadonlyArray<unknown> = []) =>
  Effect.tryPromise({ try: () => sql.unsafe(text, params), catch: (error) => PgLookup.classifyError("claims", error) })

/** Creates the table on PostgreSQL. */
export const migrate = (sql: PgLookup.PgSql): Effect.Effect<void, LookupError> => Effect.asVoid(run(sql, migration))

/** Inserts `rows` on PostgreSQL in batches of `batchSize`; existing ids are left alone. */
export const insert = (
  sql: PgLookup.PgSql,
  rows: ReadonlyArray<Row>,
  batchSize = 5_000
): Effect.Effect<void, LookupError> =>
  Effect.gen(function* () {
    for (let i = 0; i < rows.length; i += batchSize) {
      const chunk = rows.slice(i, i + batchSize)
      yield* run(
        sql,
        `INSERT INTO claims
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

/** Inserts claims 1 to `count` (see `seedRows`) on PostgreSQL. */
export const seed = (
  sql: PgLookup.PgSql,
  options: { readonly count: number; readonly batchSize?: number }
): Effect.Effect<void, LookupError> => insert(sql, seedRows(options.count), options.batchSize)

/** The claims query on PostgreSQL: the decimal out as text, the timestamp as epoch milliseconds. */
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

const options = { name: "claims", source, decoder, key: (claim: Claim) => claim.claim_id }

/** The claims resolver by `claim_id`: one statement per fetch. */
export const makeResolver: Effect.Effect<Lookup.Resolver<string, Claim>, never, PgLookup.PgClient> = PgLookup.resolver(
  options
)

/** The claims lookup by `claim_id`, batched (100 ids, 1 ms by default), uncached and unguarded. */
export const makeLookup = (
  batching: { readonly maxBatchSize?: number; readonly batchWindow?: Duration.Input } = {}
): Effect.Effect<Lookup.Lookup<string, Claim>, never, PgLookup.PgClient> =>
  PgLookup.make({
    ...options,
    maxBatchSize: batching.maxBatchSize ?? 100,
    batchWindow: batching.batchWindow ?? Duration.millis(1)
  })
