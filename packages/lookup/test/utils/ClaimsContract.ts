/**
 * The claims lookup contract every resolver of this package keeps, as one
 * suite run against each database (`PgLookup.integration.test.ts`,
 * `DuckDbLookup.integration.test.ts`): seeded claims are found with their
 * exact fields, missing keys are `Option.none`, a batch is one statement,
 * decimals round-trip exactly, keys are only ever parameters, and failures
 * are classified alike (a float amount or a bad query is non-retryable
 * `Unavailable`, a statement past its bound is `Timeout`).
 */
import { assert, layer } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { BigDecimal, DateTime, Effect, type Layer, Option, type Scope } from "effect"
import * as Lookup from "../../src/Lookup.ts"
import * as Claims from "./Claims.ts"
import { extraClaims, SEEDED } from "./TestDatabase.ts"

/** What a database gives the suite: resolvers over the seeded claims table. */
export interface Backend<R> {
  readonly name: string
  readonly env: Layer.Layer<R, unknown>
  /** The claims resolver (amount as exact text, timestamp as epoch milliseconds). */
  readonly claims: Effect.Effect<Lookup.Resolver<string, Claims.Claim>, never, R>
  /** The same query with the amount read as a binary float. */
  readonly floats: Effect.Effect<Lookup.Resolver<string, Claims.Claim>, never, R>
  /** A table source (generated statement) selecting claim_id and member_id. */
  readonly members: Effect.Effect<Lookup.Resolver<string, { claim_id: string; member_id: string }>, never, R>
  /** A table source on a table that does not exist. */
  readonly broken: Effect.Effect<Lookup.Resolver<string, { claim_id: string }>, never, R>
  /** A resolver whose statement runs for seconds, on a client bounded to 100 ms a statement. */
  readonly slow: Effect.Effect<Lookup.Resolver<string, { claim_id: string }>, unknown, R | Scope.Scope>
}

/** Wraps a resolver's fetch so the test can count the statements it sends, and batches it. */
export const counted = <K, V>(resolver: Lookup.Resolver<K, V>, options: Lookup.BatchOptions = {}) => {
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

const batched = <K, V>(resolver: Lookup.Resolver<K, V>) =>
  Lookup.batched(resolver, { maxBatchSize: 100, batchWindow: "1 millis" })

/** Runs the contract against `backend`. */
export const claimsContract = <R>(backend: Backend<R>): void =>
  layer(backend.env, { timeout: 120_000, excludeTestServices: true })(`${backend.name} claims contract`, (it) => {
    it.effect("finds a seeded claim with its exact fields", () =>
      Effect.gen(function* () {
        const claims = batched(yield* backend.claims)
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

    it.effect("a missing claim is Option.none, not an error", () =>
      Effect.gen(function* () {
        const claims = batched(yield* backend.claims)
        assert.isTrue(Option.isNone(yield* claims.get("CLM-999999")))
      })
    )

    it.effect("a mixed batch answers each key on its own, in one statement", () =>
      Effect.gen(function* () {
        const { lookup, batches } = counted(yield* backend.claims)
        const keys = ["CLM-000001", "NOPE-1", "CLM-000002", "NOPE-2", "CLM-001000"]
        const answers = yield* Effect.forEach(keys, lookup.get, { concurrency: "unbounded" })
        assert.deepStrictEqual(
          answers.map((a) => Option.map(a, (c) => c.claim_id)),
          [
            Option.some("CLM-000001"),
            Option.none(),
            Option.some("CLM-000002"),
            Option.none(),
            Option.some("CLM-001000")
          ]
        )
        assert.deepStrictEqual(batches, [5])
      })
    )

    it.effect("decimals round-trip exactly", () =>
      Effect.gen(function* () {
        const claims = batched(yield* backend.claims)
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
        const sample = Claims.seedRows(SEEDED).filter((_, i) => (i + 1) % 250 === 0)
        const loaded = yield* Effect.forEach(sample, (row) => claims.get(row.claim_id), { concurrency: "unbounded" })
        sample.forEach((row, i) => {
          const claim = Option.getOrThrow(loaded[i]!)
          assert.isTrue(BigDecimal.equals(claim.claim_amount, BigDecimal.fromStringUnsafe(row.claim_amount)))
        })
      })
    )

    it.effect("1,000 concurrent lookups of distinct keys take at most ceil(1000 / maxBatchSize) statements", () =>
      Effect.gen(function* () {
        const maxBatchSize = 100
        const { lookup, batches } = counted(yield* backend.claims, { maxBatchSize, batchWindow: "5 millis" })
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
        const resolver = yield* backend.claims
        const { lookup, batches } = counted(resolver, { maxBatchSize: 100 })
        // 240 distinct keys (every 10th missing), 10 of them asked twice
        const distinct = Array.from({ length: 240 }, (_, i) => (i % 10 === 9 ? `NOPE-${i}` : Claims.claimId(i + 1)))
        const keys = [...distinct, ...distinct.slice(0, 10)]
        const answers = yield* lookup.getMany(keys)
        assert.deepStrictEqual(batches, [100, 100, 40])
        const single = yield* Effect.forEach(keys, batched(resolver).get, { concurrency: 50 })
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

    it.effect("getMany - behind a policy, batching and a cache, a repeated chunk costs no statement", () =>
      Effect.gen(function* () {
        const { resolver, batching, batches } = counted(yield* backend.claims, { maxBatchSize: 50 })
        const policy = yield* Policy.make({ name: `${backend.name}-claims-many`, timeout: "5 seconds" })
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

    it.effect("an amount that arrives as a float fails the batch as Unavailable, never as a rounded value", () =>
      Effect.gen(function* () {
        const floats = batched(yield* backend.floats)
        const error = yield* Effect.flip(floats.getMany(["CLM-000001", "CLM-000002"]))
        assert.isTrue(
          error.reason._tag === "Unavailable" && error.reason.detail.includes("claim_amount: expected a decimal")
        )
        assert.isFalse(error.isRetryable)
      })
    )

    it.effect("concurrent lookups of one key issue one statement for one key", () =>
      Effect.gen(function* () {
        const { lookup, batches } = counted(yield* backend.claims)
        const answers = yield* Effect.forEach(
          Array.from({ length: 50 }, () => "CLM-000042"),
          lookup.get,
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(batches, [1])
        assert.isTrue(answers.every((a) => Option.isSome(a) && a.value.claim_id === "CLM-000042"))
      })
    )

    it.effect("SQL-looking, quoted, unicode and 10 KB keys are only keys", () =>
      Effect.gen(function* () {
        const claims = batched(yield* backend.claims)
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

    it.effect("a table source reads the named columns", () =>
      Effect.gen(function* () {
        const members = batched(yield* backend.members)
        const row = yield* members.get("CLM-000003")
        assert.strictEqual(Option.getOrThrow(row).member_id, Claims.seedRows(3)[2]!.member_id)
      })
    )

    it.effect("a statement past its bound fails as Timeout, for one key and for a chunk", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const slow = batched(yield* backend.slow)
          const error = yield* Effect.flip(slow.get("CLM-000001"))
          assert.strictEqual(error.reason._tag, "Timeout")
          assert.isTrue(error.isRetryable)
          const chunkError = yield* Effect.flip(slow.getMany(["CLM-000001", "CLM-000002"]))
          assert.strictEqual(chunkError.reason._tag, "Timeout")
        })
      )
    )

    it.effect("a bad query is Unavailable and not retryable", () =>
      Effect.gen(function* () {
        const broken = batched(yield* backend.broken)
        const error = yield* Effect.flip(broken.get("CLM-000001"))
        assert.strictEqual(error.reason._tag, "Unavailable")
        assert.isFalse(error.isRetryable)
      })
    )
  })
