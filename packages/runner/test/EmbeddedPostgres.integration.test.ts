import { assert, describe, it } from "@effect/vitest"
import * as PgLookup from "@sluice/lookup/PgLookup"
import { BigDecimal, ConfigProvider, Effect, Option, Redacted } from "effect"
import postgres from "postgres"
import * as EmbeddedPostgres from "../src/EmbeddedPostgres.ts"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"

describe("EmbeddedPostgres", { timeout: 120_000 }, () => {
  it.live("make - postgres.js migrates, seeds and looks claims up through it", () =>
    Effect.gen(function* () {
      const embedded = yield* EmbeddedPostgres.make()
      assert.notStrictEqual(embedded.port, 5432)
      const sql = yield* Effect.acquireRelease(
        Effect.sync(() => postgres(Redacted.value(embedded.url), { max: 1, onnotice: () => {} })),
        (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
      )
      yield* Claims.migrate(sql)
      yield* Claims.seed(sql, { count: 200 })
      yield* Claims.seed(sql, { count: 200 })
      const [{ n }] = (yield* Effect.promise(() => sql.unsafe("SELECT count(*)::int AS n FROM claims"))) as unknown as [
        { n: number }
      ]
      assert.strictEqual(n, 200)

      const client = yield* PgLookup.makeClient({ url: embedded.url, poolSize: 2 })
      const claims = yield* Claims.makeLookup().pipe(Effect.provideService(PgLookup.PgClient, client))
      const expected = Claims.seedRows(200)
      const answers = yield* Effect.forEach(["CLM-000010", "CLM-000200", "missing"], claims.get, {
        concurrency: "unbounded"
      })
      assert.isTrue(
        BigDecimal.equals(
          Option.getOrThrow(answers[0]!).claim_amount,
          BigDecimal.fromStringUnsafe(expected[9]!.claim_amount)
        )
      )
      assert.strictEqual(Option.getOrThrow(answers[1]!).member_id, expected[199]!.member_id)
      assert.isTrue(Option.isNone(answers[2]!))
    })
  )

  it.live("resolveDatabaseUrl - prefers DATABASE_URL when it is set", () =>
    Effect.gen(function* () {
      const url = yield* EmbeddedPostgres.resolveDatabaseUrl.pipe(
        Effect.provideService(
          ConfigProvider.ConfigProvider,
          ConfigProvider.fromEnv({ env: { DATABASE_URL: "postgres://u@db.invalid:5433/x" } })
        )
      )
      assert.strictEqual(Redacted.value(url), "postgres://u@db.invalid:5433/x")
      assert.strictEqual(String(url), "<redacted>")
    })
  )

  it.live("resolveDatabaseUrl - without DATABASE_URL uses whatever answers: the local server or an embedded one", () =>
    Effect.gen(function* () {
      const url = yield* EmbeddedPostgres.resolveDatabaseUrl.pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
      )
      const local = yield* EmbeddedPostgres.probe("127.0.0.1", 5432)
      const text = Redacted.value(url)
      assert.strictEqual(text.includes("127.0.0.1:5432/"), local)
      const sql = yield* Effect.acquireRelease(
        Effect.sync(() => postgres(text, { max: 1, onnotice: () => {} })),
        (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
      )
      const rows = yield* Effect.promise(() => sql.unsafe("SELECT 1 AS one"))
      assert.strictEqual(rows[0]?.one, 1)
    })
  )

  it.live("probe - a closed port does not answer", () =>
    Effect.gen(function* () {
      assert.isFalse(yield* EmbeddedPostgres.probe("127.0.0.1", 1))
    })
  )
})
