import { assert, layer } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { Effect, Layer, Option } from "effect"
import * as DuckDbLookup from "../src/DuckDbLookup.ts"
import * as Lookup from "../src/Lookup.ts"
import * as Claims from "./utils/Claims.ts"
import { claimsContract } from "./utils/ClaimsContract.ts"
import { DuckDbDatabase } from "./utils/DuckDbDatabase.ts"

const Env = DuckDbDatabase.client({ poolSize: 4 }).pipe(Layer.provideMerge(DuckDbDatabase.layer))

const claimsSource = (amount: string): DuckDbLookup.Source<string> => ({
  query: (sql, keys, signal) =>
    sql.query(
      `SELECT claim_id, member_id, ${amount} AS claim_amount, claim_status,
              epoch_ms(created_date)::DOUBLE AS created_date
         FROM claims SEMI JOIN (SELECT unnest($1::VARCHAR[]) AS batch_key) ON claim_id = batch_key`,
      [keys],
      { signal }
    )
})

const claimsResolver = (amount: string, name = "claims") =>
  DuckDbLookup.resolver({ name, source: claimsSource(amount), decoder: Claims.decoder, key: (c) => c.claim_id })

// A statement that scans for many seconds unless it is interrupted.
const LONG_SCAN = "SELECT 'CLM-000001' AS claim_id FROM (SELECT count(*) AS n FROM range(1000000000000)) WHERE n > 0"

const slowResolver = DuckDbLookup.resolver<string, { claim_id: string }>({
  name: "slow",
  source: { query: (sql, _keys, signal) => sql.query(LONG_SCAN, [], { signal }) },
  schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id })),
  key: (row) => row.claim_id
})

claimsContract({
  name: "DuckDB",
  env: Env,
  claims: claimsResolver("claim_amount::VARCHAR"),
  floats: claimsResolver("claim_amount::DOUBLE", "claims-float"),
  members: DuckDbLookup.resolver({
    name: "members",
    source: { table: "claims", keyColumn: "claim_id", columns: ["claim_id", "member_id"] },
    schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id, member_id: f.member_id })),
    key: (row) => row.claim_id
  }),
  broken: DuckDbLookup.resolver({
    name: "broken",
    source: { table: "no_such_table", keyColumn: "claim_id", columns: ["claim_id"] },
    schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id })),
    key: (row) => row.claim_id
  }),
  slow: Effect.gen(function* () {
    const db = yield* DuckDbDatabase
    const client = yield* DuckDbLookup.makeClient({ path: db.path, poolSize: 1, statementTimeout: "100 millis" })
    return yield* slowResolver.pipe(Effect.provideService(DuckDbLookup.DuckDbClient, client))
  })
})

layer(Env, { timeout: 120_000, excludeTestServices: true })("DuckDbLookup (DuckDB only)", (it) => {
  it.effect("a table source with a cast builds one statement joined against the bound key list", () =>
    Effect.sync(() => {
      assert.strictEqual(
        DuckDbLookup.selectStatement({
          table: "claims",
          keyColumn: "claim_id",
          columns: ["claim_id", { name: "claim_amount", cast: "VARCHAR" }]
        }),
        `SELECT "claim_id", CAST("claim_amount" AS VARCHAR) AS "claim_amount" FROM "claims" SEMI JOIN (SELECT unnest($1::VARCHAR[]) AS batch_key) ON "claim_id" = batch_key`
      )
    })
  )

  it.effect("a long statement is interrupted at the policy's timeout and its connection serves the next one", () =>
    Effect.gen(function* () {
      const db = yield* DuckDbDatabase
      // One connection: the lookup after the timeout can only succeed if the scan was stopped.
      const client = yield* DuckDbLookup.makeClient({ path: db.path, poolSize: 1, statementTimeout: "1 minute" })
      const policy = yield* Policy.make({ name: "duckdb-slow", timeout: "200 millis" })
      const slow = Lookup.batched(
        Lookup.withPolicy(yield* slowResolver.pipe(Effect.provideService(DuckDbLookup.DuckDbClient, client)), policy)
      )
      const started = performance.now()
      const error = yield* Effect.flip(slow.get("CLM-000001"))
      assert.strictEqual(error.reason._tag, "Timeout")
      const claims = Lookup.batched(
        yield* claimsResolver("claim_amount::VARCHAR").pipe(Effect.provideService(DuckDbLookup.DuckDbClient, client))
      )
      assert.isTrue(Option.isSome(yield* claims.get("CLM-000002")))
      // A scan that ran to its end would take minutes.
      assert.isBelow(performance.now() - started, 10_000)
    }).pipe(Effect.scoped)
  )

  it.effect("opening read-only: a missing file says so and is not retryable", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Effect.scoped(DuckDbLookup.makeClient({ path: "/nonexistent/claims.duckdb" })))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isTrue(error.message.includes("does not exist"), error.message)
      assert.isFalse(error.isRetryable)
    })
  )

  it.effect("pathFromUrl - reads duckdb: URLs only", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(DuckDbLookup.pathFromUrl("duckdb:claims.duckdb"), Option.some("claims.duckdb"))
      assert.deepStrictEqual(DuckDbLookup.pathFromUrl("duckdb::memory:"), Option.some(":memory:"))
      assert.deepStrictEqual(DuckDbLookup.pathFromUrl("duckdb:"), Option.none())
      assert.deepStrictEqual(DuckDbLookup.pathFromUrl("postgres://localhost/db"), Option.none())
    })
  )
})
