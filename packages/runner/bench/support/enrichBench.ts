/**
 * What the enrich benchmarks share: the CLI's default enrich flags, one
 * payment per distinct claim (so every lookup misses the cache), a fresh
 * PostgreSQL database seeded with those claims, one timed run of
 * `EnrichJob.run` over an in-memory broker, and the alternating rounds that
 * turn two variants into a ratio measured in the same run.
 */
import * as InMemory from "@sluice/core/InMemory"
import { BigDecimal, DateTime, Duration, Effect, Redacted, Stream } from "effect"
import postgres from "postgres"
import { scopedDatabase } from "../../../../bench/support/benchDatabase.ts"
import type * as ClaimsLookup from "../../src/jobs/claims/ClaimsLookup.ts"
import * as Claims from "../../src/jobs/claims/ClaimsTable.ts"
import * as EnrichJob from "../../src/jobs/claims/EnrichJob.ts"
import * as PaymentEvent from "../../src/jobs/claims/PaymentEvent.ts"

/** How many rounds each variant runs after its warm-up run. */
export const ROUNDS = 5

/** The CLI's default enrich flags, at the given concurrency. */
export const enrichOptions = (concurrency: number): ClaimsLookup.EnrichOptions => ({
  concurrency,
  ordering: "key",
  cacheSize: 10_000,
  cacheTtl: Duration.minutes(1),
  cacheMissTtl: Duration.seconds(5),
  lookupTimeout: Duration.seconds(5),
  retryAttempts: 3,
  retryBackoff: Duration.millis(100),
  breakerThreshold: 0.5,
  breakerWindow: 20,
  breakerCooldown: Duration.seconds(10),
  onDbUnavailable: "route"
})

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `count` payment events, the `n`-th for the `n`-th seeded claim. */
export const paymentRecords = (count: number): Array<InMemory.ProducerRecord> =>
  Array.from({ length: count }, (_, i) => {
    const claim_id = Claims.claimId(i + 1)
    return {
      key: claim_id,
      value: PaymentEvent.encode({
        payment_id: `PAY-${i}`,
        claim_id,
        payment_amount: BigDecimal.make(BigInt(10_000 + i), 2),
        payment_date: DateTime.makeUnsafe(1_700_000_000_000),
        processor_id: "PROC-1"
      })
    }
  })

/** A fresh bench database named `name` holding `count` seeded, analysed claims; dropped with the scope. */
export const seededPostgres = (name: string, count: number) =>
  Effect.gen(function* () {
    const { url } = yield* scopedDatabase(name)
    const sql = yield* Effect.acquireRelease(
      Effect.sync(() => postgres(Redacted.value(url), { max: 4, onnotice: () => {} })),
      (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
    )
    yield* Claims.migrate(sql)
    yield* Claims.seed(sql, { count })
    yield* Effect.promise(() => sql.unsafe("ANALYZE claims"))
    return url
  })

/**
 * Milliseconds one `EnrichJob.run` takes over `records`, fetched in chunks of
 * `fetchSize`, with a lookup made fresh for the run (an empty cache). Dies
 * unless every record is enriched, so a figure is never of a broken run.
 */
export const timeEnrich = <RL, E, R>(options: {
  readonly label: string
  readonly records: ReadonlyArray<InMemory.ProducerRecord>
  readonly fetchSize: number
  readonly concurrency: number
  readonly ordering: ClaimsLookup.EnrichOptions["ordering"]
  readonly maxChunkSize?: number | undefined
  readonly lookup: Effect.Effect<EnrichJob.ClaimsLookup<RL>, E, R>
}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "payment-events", 6)
      yield* InMemory.produce(broker, "payment-events", options.records)
      const lookup = yield* options.lookup
      const start = performance.now()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const source = yield* InMemory.source(broker, { topic: "payment-events", group: "enrich" })
          yield* EnrichJob.run({
            records: Stream.rechunk(source, options.fetchSize),
            sinks: {
              enriched: InMemory.sink(broker, "enriched-payments"),
              failed: InMemory.sink(broker, "failed-payments"),
              deadLetters: InMemory.sink(broker, "payment-events-dlq")
            },
            lookup,
            concurrency: options.concurrency,
            maxChunkSize: options.maxChunkSize,
            ordering: options.ordering
          })
        })
      )
      const ms = performance.now() - start
      const enriched = yield* InMemory.messages(broker, "enriched-payments")
      if (enriched.length !== options.records.length) {
        return yield* Effect.die(
          new Error(`${options.label}: ${enriched.length} of ${options.records.length} payments enriched`)
        )
      }
      return ms
    })
  )

/**
 * Runs `slow` and `fast` once each to warm up, then `ROUNDS` rounds of both in
 * alternating order; returns each one's throughput per round and the per-round
 * ratios `slow time / fast time` (above 1 when `fast` is faster).
 */
export const compare = <A extends string, B extends string, E, R>(
  slow: A,
  fast: B,
  payments: number,
  runOnce: (name: A | B) => Effect.Effect<number, E, R>
) =>
  Effect.gen(function* () {
    yield* runOnce(fast)
    yield* runOnce(slow)
    const rates = { [slow]: [], [fast]: [] } as unknown as Record<A | B, Array<number>>
    const ratios: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      const order: ReadonlyArray<A | B> = round % 2 === 0 ? [slow, fast] : [fast, slow]
      const ms = new Map<A | B, number>()
      for (const name of order) {
        const elapsed = yield* runOnce(name)
        ms.set(name, elapsed)
        rates[name].push(payments / (elapsed / 1000))
      }
      ratios.push(ms.get(slow)! / ms.get(fast)!)
    }
    return { rates, ratios }
  })
