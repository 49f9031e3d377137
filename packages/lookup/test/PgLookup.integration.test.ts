import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted } from "effect"
import * as PgLookup from "../src/PgLookup.ts"
import * as Claims from "./utils/Claims.ts"
import { claimsContract } from "./utils/ClaimsContract.ts"
import { TestDatabase } from "./utils/TestDatabase.ts"

const Env = TestDatabase.client({ poolSize: 4 }).pipe(Layer.provideMerge(TestDatabase.layer))

const claimsSource = (amount: string): PgLookup.Source<string> => ({
  query: (sql, keys) =>
    sql.unsafe(
      `SELECT claim_id, member_id, ${amount} AS claim_amount, claim_status,
              floor(extract(epoch FROM created_date) * 1000)::float8 AS created_date
         FROM claims WHERE claim_id = ANY($1::varchar[])`,
      [keys as unknown as Array<string>],
      { prepare: true }
    )
})

claimsContract({
  name: "PostgreSQL",
  env: Env,
  claims: Claims.makeResolver,
  floats: PgLookup.resolver({
    name: "claims-float",
    source: claimsSource("claim_amount::float8"),
    decoder: Claims.decoder,
    key: (claim) => claim.claim_id
  }),
  members: PgLookup.resolver({
    name: "members",
    source: { table: "claims", keyColumn: "claim_id", columns: ["claim_id", "member_id"] },
    schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id, member_id: f.member_id })),
    key: (row) => row.claim_id
  }),
  broken: PgLookup.resolver({
    name: "broken",
    source: { table: "no_such_table", keyColumn: "claim_id", columns: ["claim_id"] },
    schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id })),
    key: (row) => row.claim_id
  }),
  slow: Effect.gen(function* () {
    const db = yield* TestDatabase
    const client = yield* PgLookup.makeClient({ url: db.url(), poolSize: 1, statementTimeout: "100 millis" })
    return yield* PgLookup.resolver<string, { claim_id: string }>({
      name: "slow",
      source: {
        query: (sql, keys) =>
          sql.unsafe("SELECT claim_id FROM claims, pg_sleep(2) WHERE claim_id = ANY($1::text[])", [
            keys as unknown as Array<string>
          ])
      },
      schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id })),
      key: (row) => row.claim_id
    }).pipe(Effect.provideService(PgLookup.PgClient, client))
  })
})

layer(Env, { timeout: 120_000, excludeTestServices: true })("PgLookup (PostgreSQL only)", (it) => {
  it.effect("make - a table source builds one ANY($1) statement with casts", () =>
    Effect.gen(function* () {
      assert.strictEqual(
        PgLookup.selectStatement({
          table: "claims",
          keyColumn: "claim_id",
          columns: ["claim_id", { name: "claim_amount", cast: "text" }]
        }),
        `SELECT "claim_id", "claim_amount"::text AS "claim_amount" FROM "claims" WHERE "claim_id" = ANY($1::text[])`
      )
      const members = yield* PgLookup.make({
        name: "members",
        source: { table: "claims", keyColumn: "claim_id", columns: ["claim_id", "member_id"] },
        schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id, member_id: f.member_id })),
        key: (row) => row.claim_id
      })
      const row = yield* members.get("CLM-000003")
      assert.strictEqual(Option.getOrThrow(row).member_id, Claims.seedRows(3)[2]!.member_id)
    })
  )

  it.effect("makeClient - a closed port fails fast as retryable Unavailable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        PgLookup.makeClient({
          url: Redacted.make("postgres://postgres@127.0.0.1:1/postgres"),
          connectTimeout: "2 seconds"
        })
      )
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isTrue(error.isRetryable)
    })
  )

  it.effect("makeClient - ends the pool when its scope closes", () =>
    Effect.gen(function* () {
      const db = yield* TestDatabase
      const sql = yield* Effect.scoped(Effect.map(PgLookup.makeClient({ url: db.url(), poolSize: 2 }), (c) => c.sql))
      const exit = yield* Effect.exit(Effect.tryPromise(() => sql.unsafe("SELECT 1")))
      assert.isTrue(exit._tag === "Failure")
    })
  )

  it.effect("layerConfig - reads DATABASE_URL as a redacted secret", () =>
    Effect.gen(function* () {
      const db = yield* TestDatabase
      const provider = ConfigProvider.fromEnv({
        env: { DATABASE_URL: Redacted.value(db.url()), PG_POOL_SIZE: "2", PG_STATEMENT_TIMEOUT: "2 seconds" }
      })
      const config = yield* PgLookup.clientConfig.pipe(Effect.provideService(ConfigProvider.ConfigProvider, provider))
      assert.strictEqual(String(config.url), "<redacted>")
      const claim = yield* Effect.flatMap(Claims.makeLookup(), (claims) => claims.get("CLM-000007")).pipe(
        Effect.provide(PgLookup.layerConfig(), { local: true }),
        Effect.provideService(ConfigProvider.ConfigProvider, provider)
      )
      assert.isTrue(Option.isSome(claim))
    })
  )
})

describe("Claims", () => {
  it("seedRows - is deterministic and includes large amounts", () => {
    const a = Claims.seedRows(3_000)
    const b = Claims.seedRows(3_000)
    assert.deepStrictEqual(a, b)
    assert.strictEqual(a[0]!.claim_id, "CLM-000001")
    assert.isTrue(a.some((r) => Number(r.claim_amount) >= 90_000_000))
    assert.isTrue(a.every((r) => /^\d{1,8}\.\d{2}$/.test(r.claim_amount)))
  })
})
