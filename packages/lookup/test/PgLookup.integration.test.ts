import { assert, describe, it, layer } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { BigDecimal, ConfigProvider, DateTime, Effect, Layer, Option, Redacted } from "effect"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"
import * as Claims from "./utils/Claims.ts"
import { extraClaims, SEEDED, TestDatabase } from "./utils/TestDatabase.ts"

/** Wraps a resolver's fetch so the test can count the statements it sends, and batches it. */
const counted = <K, V>(resolver: Lookup.Resolver<K, V>, options: Lookup.BatchOptions = {}) => {
  const batches: Array<number> = []
  const wrapped = Lookup.resolver<K, V>({
    name: resolver.name,
    fetch: (keys) =>
      Effect.suspend(() => {
        batches.push(keys.length)
        return resolver.fetch(keys)
      })
  })
  const batching = { maxBatchSize: options.maxBatchSize ?? 100, batchWindow: options.batchWindow ?? "1 millis" }
  return { resolver: wrapped, lookup: Lookup.batched(wrapped, batching), batching, batches }
}

const Env = TestDatabase.client({ poolSize: 4 }).pipe(Layer.provideMerge(TestDatabase.layer))

layer(Env, { timeout: 120_000, excludeTestServices: true })("PgLookup", (it) => {
  it.effect("make - finds a seeded claim with its exact fields", () =>
    Effect.gen(function* () {
      const claims = yield* Claims.makeLookup()
      const expected = Claims.seedRows(5)[4]!
      const claim = Option.getOrThrow(yield* claims.get("CLM-000005"))
      assert.strictEqual(claim.claim_id, expected.claim_id)
      assert.strictEqual(claim.member_id, expected.member_id)
      assert.strictEqual(
        BigDecimal.format(claim.claim_amount),
        BigDecimal.format(BigDecimal.fromStringUnsafe(expected.claim_amount))
      )
      assert.strictEqual(claim.claim_status, expected.claim_status)
      assert.strictEqual(
        claim.created_date === null ? null : DateTime.formatIso(claim.created_date),
        expected.created_date
      )
    })
  )

  it.effect("make - a missing claim is Option.none, not an error", () =>
    Effect.gen(function* () {
      const claims = yield* Claims.makeLookup()
      assert.isTrue(Option.isNone(yield* claims.get("CLM-999999")))
    })
  )

  it.effect("make - a mixed batch answers each key on its own", () =>
    Effect.gen(function* () {
      const { lookup, batches } = counted(yield* Claims.makeResolver)
      const keys = ["CLM-000001", "NOPE-1", "CLM-000002", "NOPE-2", "CLM-001000"]
      const answers = yield* Effect.forEach(keys, lookup.get, { concurrency: "unbounded" })
      assert.deepStrictEqual(
        answers.map((a) => Option.map(a, (c) => c.claim_id)),
        [Option.some("CLM-000001"), Option.none(), Option.some("CLM-000002"), Option.none(), Option.some("CLM-001000")]
      )
      assert.deepStrictEqual(batches, [5])
    })
  )

  it.effect("make - decimals round-trip exactly", () =>
    Effect.gen(function* () {
      const claims = yield* Claims.makeLookup()
      for (const extra of extraClaims) {
        const claim = Option.getOrThrow(yield* claims.get(extra.claim_id))
        const exact = BigDecimal.fromStringUnsafe(extra.claim_amount)
        assert.isTrue(BigDecimal.equals(claim.claim_amount, exact))
        // an exact decimal is an integer and a scale: no binary float was involved
        const normalized = BigDecimal.normalize(claim.claim_amount)
        assert.strictEqual(normalized.value, BigDecimal.normalize(exact).value)
        assert.strictEqual(normalized.scale, BigDecimal.normalize(exact).scale)
      }
      // every seeded amount, large ones included, matches the text that was inserted
      const expected = Claims.seedRows(SEEDED)
      const sample = expected.filter((_, i) => (i + 1) % 250 === 0)
      const loaded = yield* Effect.forEach(sample, (row) => claims.get(row.claim_id), { concurrency: "unbounded" })
      sample.forEach((row, i) => {
        const claim = Option.getOrThrow(loaded[i]!)
        assert.isTrue(BigDecimal.equals(claim.claim_amount, BigDecimal.fromStringUnsafe(row.claim_amount)))
      })
    })
  )

  it.effect("make - 1,000 concurrent lookups of distinct keys take at most ceil(1000 / maxBatchSize) queries", () =>
    Effect.gen(function* () {
      const maxBatchSize = 100
      const { lookup, batches } = counted(yield* Claims.makeResolver, { maxBatchSize, batchWindow: "5 millis" })
      const keys = Array.from({ length: 1_000 }, (_, i) => Claims.claimId(i + 1))
      const answers = yield* Effect.forEach(keys, lookup.get, { concurrency: "unbounded" })
      assert.isTrue(answers.every(Option.isSome))
      assert.isAtMost(batches.length, Math.ceil(1_000 / maxBatchSize))
      assert.strictEqual(
        batches.reduce((a, b) => a + b, 0),
        1_000
      )
    })
  )

  it.effect("getMany - a chunk of 250 keys is one statement per 100 distinct keys, answered in order like get", () =>
    Effect.gen(function* () {
      const { lookup, batches } = counted(yield* Claims.makeResolver, { maxBatchSize: 100 })
      // 240 distinct keys (every 10th missing), 10 of them asked twice
      const distinct = Array.from({ length: 240 }, (_, i) => (i % 10 === 9 ? `NOPE-${i}` : Claims.claimId(i + 1)))
      const keys = [...distinct, ...distinct.slice(0, 10)]
      const answers = yield* lookup.getMany(keys)
      assert.deepStrictEqual(batches, [100, 100, 40])
      const one = yield* Claims.makeLookup()
      const single = yield* Effect.forEach(keys, one.get, { concurrency: 50 })
      assert.deepStrictEqual(
        answers.map((a) => Option.map(a, (c) => [c.claim_id, BigDecimal.format(c.claim_amount)])),
        single.map((a) => Option.map(a, (c) => [c.claim_id, BigDecimal.format(c.claim_amount)]))
      )
      // 24 missing among the distinct keys, one more among the repeated ten
      assert.strictEqual(answers.filter(Option.isSome).length, 250 - 24 - 1)
      const expected = Claims.seedRows(240)
      for (const [i, answer] of answers.slice(0, 240).entries()) {
        if (i % 10 === 9) continue
        const claim = Option.getOrThrow(answer)
        assert.strictEqual(claim.claim_id, expected[i]!.claim_id)
        assert.isTrue(BigDecimal.equals(claim.claim_amount, BigDecimal.fromStringUnsafe(expected[i]!.claim_amount)))
      }
    })
  )

  it.effect("getMany - behind a cache and a policy, a repeated chunk costs no statement", () =>
    Effect.gen(function* () {
      const { resolver, batching, batches } = counted(yield* Claims.makeResolver, { maxBatchSize: 50 })
      const policy = yield* Policy.make({ name: "claims-many", timeout: "5 seconds" })
      const claims = yield* Lookup.cached(Lookup.batched(Lookup.withPolicy(resolver, policy), batching), {
        maxEntries: 1_000,
        ttl: "1 minute",
        notFoundTtl: "1 minute"
      })
      const keys = [...Array.from({ length: 120 }, (_, i) => Claims.claimId(i + 1)), "NOPE-1"]
      const first = yield* claims.getMany(keys)
      assert.deepStrictEqual(batches, [50, 50, 21])
      const second = yield* claims.getMany([...keys].reverse())
      assert.deepStrictEqual(batches, [50, 50, 21])
      assert.deepStrictEqual(
        second.map((a) => Option.map(a, (c) => c.claim_id)),
        [...first].reverse().map((a) => Option.map(a, (c) => c.claim_id))
      )
    })
  )

  it.effect(
    "getMany - an amount that arrives as a float fails the batch as Unavailable, never as a rounded value",
    () =>
      Effect.gen(function* () {
        const floats = yield* PgLookup.make({
          name: "claims-float",
          source: {
            query: (sql, keys) =>
              sql.unsafe(
                `SELECT claim_id, member_id, claim_amount::float8 AS claim_amount, claim_status, NULL::float8 AS created_date
                 FROM claims WHERE claim_id = ANY($1::varchar[])`,
                [keys as unknown as Array<string>]
              )
          },
          decoder: Claims.decoder,
          key: (claim) => claim.claim_id
        })
        const error = yield* Effect.flip(floats.getMany(["CLM-000001", "CLM-000002"]))
        assert.isTrue(
          error.reason._tag === "Unavailable" && error.reason.detail.includes("claim_amount: expected a decimal")
        )
        assert.isFalse(error.isRetryable)
      })
  )

  it.effect("make - concurrent lookups of one key issue one query for one key", () =>
    Effect.gen(function* () {
      const { lookup, batches } = counted(yield* Claims.makeResolver)
      const answers = yield* Effect.forEach(
        Array.from({ length: 50 }, () => "CLM-000042"),
        lookup.get,
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(batches, [1])
      assert.isTrue(answers.every((a) => Option.isSome(a) && a.value.claim_id === "CLM-000042"))
    })
  )

  it.effect("make - SQL-looking, quoted, unicode and 10 KB keys are only keys", () =>
    Effect.gen(function* () {
      const claims = yield* Claims.makeLookup()
      const keys = [
        "' OR 1=1 --",
        "CLM-000001' OR '1'='1",
        "'; DROP TABLE claims; --",
        '"claim_id"',
        "\\x00\\'",
        "ключ-索引-🔑",
        "x".repeat(10_240)
      ]
      const answers = yield* Effect.forEach(keys, claims.get, { concurrency: "unbounded" })
      assert.isTrue(answers.every(Option.isNone))
      assert.isTrue(Option.isSome(yield* claims.get("CLM-000001")))
    })
  )

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

  it.effect("make - a server statement timeout fails as Timeout", () =>
    Effect.gen(function* () {
      const slow = yield* PgLookup.make<string, { claim_id: string }>({
        name: "slow",
        source: {
          query: (sql, keys) =>
            sql.unsafe("SELECT claim_id FROM claims, pg_sleep(2) WHERE claim_id = ANY($1::text[])", [
              keys as unknown as Array<string>
            ])
        },
        schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id })),
        key: (row) => row.claim_id
      })
      const error = yield* Effect.flip(slow.get("CLM-000001"))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      const chunkError = yield* Effect.flip(slow.getMany(["CLM-000001", "CLM-000002"]))
      assert.strictEqual(chunkError.reason._tag, "Timeout")
    }).pipe(Effect.provide(TestDatabase.client({ poolSize: 1, statementTimeout: "100 millis" }), { local: true }))
  )

  it.effect("make - a bad query is Unavailable and not retryable", () =>
    Effect.gen(function* () {
      const broken = yield* PgLookup.make({
        name: "broken",
        source: { table: "no_such_table", keyColumn: "claim_id", columns: ["claim_id"] },
        schema: Claims.Claim.mapFields((f) => ({ claim_id: f.claim_id })),
        key: (row) => row.claim_id
      })
      const error = yield* Effect.flip(broken.get("CLM-000001"))
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isFalse(error.isRetryable)
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
