/**
 * The claims enrich job against the real PostgreSQL at 0% cache hits, claims
 * looked up per chunk (what the CLI does) against per record, as a ratio
 * measured in the same run (absolute numbers depend on the machine).
 *
 *   node packages/runner/bench/enrich.bench.ts [payments] [fetchSize] [concurrency] [maxChunkSize]
 *
 * Both paths run `EnrichJob.run` with the CLI's lookup (`claimsLookup`: cache,
 * policy and batched query, the default flags: concurrency 64, key ordering;
 * the job's default chunk size unless `maxChunkSize` is given)
 * over the same payments, each for a distinct claim so every lookup misses
 * the cache and reaches the database. Records come from an in-memory broker
 * regrouped into chunks of `fetchSize` (500 by default), as a Kafka consumer's
 * fetches arrive, and go to in-memory sinks, so the figure is the job and the
 * database, not Kafka. Each round runs both paths, in alternating order, with
 * a fresh lookup (an empty cache); the median of the per-round ratios is
 * reported. The database (`DATABASE_URL`, else 127.0.0.1:5432, else an
 * embedded one) gets a fresh bench database that is dropped at the end.
 */
import * as InMemory from "@sluice/core/InMemory"
import { PgLookup } from "@sluice/lookup"
import { BigDecimal, DateTime, Duration, Effect, Redacted, Stream } from "effect"
import postgres from "postgres"
import { scopedDatabase } from "../../../bench/support/benchDatabase.ts"
import * as ClaimsDatabase from "../src/jobs/claims/ClaimsDatabase.ts"
import * as ClaimsLookup from "../src/jobs/claims/ClaimsLookup.ts"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as EnrichJob from "../src/jobs/claims/EnrichJob.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"

const payments = Number(process.argv[2] ?? 20_000)
const fetchSize = Number(process.argv[3] ?? 500)
const concurrency = Number(process.argv[4] ?? 64)
const maxChunkSize = process.argv[5] === undefined ? undefined : Number(process.argv[5])
const ROUNDS = 5

const options: ClaimsLookup.EnrichOptions = {
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
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const records = Array.from({ length: payments }, (_, i) => {
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

const program = Effect.gen(function* () {
  const { url } = yield* scopedDatabase("sluice_enrich_bench")
  const sql = yield* Effect.acquireRelease(
    Effect.sync(() => postgres(Redacted.value(url), { max: 4, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )
  yield* Claims.migrate(sql)
  yield* Claims.seed(sql, { count: payments })
  yield* Effect.promise(() => sql.unsafe("ANALYZE claims"))
  const pg = yield* PgLookup.makeClient({ url })

  const runOnce = (path: "chunk" | "record") =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "payment-events", 6)
      yield* InMemory.produce(broker, "payment-events", records)
      const lookup = yield* ClaimsLookup.claimsLookup(ClaimsDatabase.postgres(pg), options, path)
      const start = performance.now()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const source = yield* InMemory.source(broker, { topic: "payment-events", group: "enrich" })
          yield* EnrichJob.run({
            records: Stream.rechunk(source, fetchSize),
            sinks: {
              enriched: InMemory.sink(broker, "enriched-payments"),
              failed: InMemory.sink(broker, "failed-payments"),
              deadLetters: InMemory.sink(broker, "payment-events-dlq")
            },
            lookup,
            concurrency: options.concurrency,
            maxChunkSize,
            ordering: options.ordering
          })
        })
      )
      const ms = performance.now() - start
      const enriched = yield* InMemory.messages(broker, "enriched-payments")
      if (enriched.length !== payments) {
        return yield* Effect.die(new Error(`${path}: ${enriched.length} of ${payments} payments enriched`))
      }
      return ms
    })

  yield* runOnce("chunk")
  yield* runOnce("record")
  const ratios: Array<number> = []
  const rates: Record<"chunk" | "record", Array<number>> = { chunk: [], record: [] }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (["record", "chunk"] as const) : (["chunk", "record"] as const)
    const ms: Record<string, number> = {}
    for (const path of order) {
      ms[path] = yield* runOnce(path)
      rates[path].push(payments / (ms[path]! / 1000))
    }
    ratios.push(ms.record! / ms.chunk!)
  }
  console.log(
    `${payments} payments, distinct claims (0% cache hits), fetches of ${fetchSize}, concurrency ${concurrency}, chunks of at most ${maxChunkSize ?? Math.ceil(concurrency / 2)}`
  )
  console.log(`per record   ${median(rates.record).toFixed(0).padStart(8)} payments/s (median)`)
  console.log(`per chunk    ${median(rates.chunk).toFixed(0).padStart(8)} payments/s (median)`)
  console.log(
    `per chunk vs per record: ${median(ratios).toFixed(2)}x (median of ${ROUNDS} rounds: ${ratios.map((r) => r.toFixed(2)).join(" ")})`
  )
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
