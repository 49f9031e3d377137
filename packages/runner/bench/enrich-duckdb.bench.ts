/**
 * The claims enrich job at 0% cache hits with the claims in PostgreSQL and in
 * a DuckDB file, as a ratio measured in the same run (absolute numbers depend
 * on the machine).
 *
 *   node packages/runner/bench/enrich-duckdb.bench.ts [payments] [fetchSize] [concurrency]
 *
 * Both run `EnrichJob.run` with the CLI's lookup (`claimsLookup` over
 * `ClaimsDatabase`: cache, policy and batched query, looked up per chunk, the
 * default flags: concurrency 64, key ordering) over the same payments, each
 * for a distinct claim so every lookup misses the cache. Records come from an
 * in-memory broker regrouped into chunks of `fetchSize` (500) and go to
 * in-memory sinks, so the figure is the job and the database, not Kafka. Each
 * round runs both, in alternating order, with a fresh lookup; the median of
 * the per-round ratios is reported. PostgreSQL is a fresh database on
 * `DATABASE_URL` (else 127.0.0.1:5432), dropped at the end; the DuckDB file is
 * seeded by `ClaimsDatabase.seed`, then opened read-only as the job opens it.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
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
  const { url } = yield* scopedDatabase("sluice_enrich_duckdb_bench")
  const sql = yield* Effect.acquireRelease(
    Effect.sync(() => postgres(Redacted.value(url), { max: 4, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )
  yield* Claims.migrate(sql)
  yield* Claims.seed(sql, { count: payments })
  yield* Effect.promise(() => sql.unsafe("ANALYZE claims"))
  const pg = ClaimsDatabase.postgres(yield* PgLookup.makeClient({ url }))

  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-enrich-duckdb-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const path = join(dir, "claims.duckdb")
  yield* Effect.scoped(
    Effect.gen(function* () {
      const writer = yield* ClaimsDatabase.openDuckDb(path, { readOnly: false })
      yield* ClaimsDatabase.migrate(writer)
      yield* ClaimsDatabase.seed(writer, { count: payments })
    })
  )
  const duck = yield* ClaimsDatabase.openDuckDb(path, { readOnly: true, statementTimeout: options.lookupTimeout })

  const runOnce = (database: ClaimsDatabase.ClaimsDatabase) =>
    Effect.gen(function* () {
      const broker = yield* InMemory.make
      yield* InMemory.createTopic(broker, "payment-events", 6)
      yield* InMemory.produce(broker, "payment-events", records)
      const lookup = yield* ClaimsLookup.claimsLookup(database, options, "chunk")
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
            ordering: options.ordering
          })
        })
      )
      const ms = performance.now() - start
      const enriched = yield* InMemory.messages(broker, "enriched-payments")
      if (enriched.length !== payments) {
        return yield* Effect.die(new Error(`${database._tag}: ${enriched.length} of ${payments} payments enriched`))
      }
      return ms
    })

  yield* runOnce(pg)
  yield* runOnce(duck)
  const ratios: Array<number> = []
  const rates: Record<"postgres" | "duckdb", Array<number>> = { postgres: [], duckdb: [] }
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (["postgres", "duckdb"] as const) : (["duckdb", "postgres"] as const)
    const ms: Record<string, number> = {}
    for (const name of order) {
      ms[name] = yield* runOnce(name === "postgres" ? pg : duck)
      rates[name].push(payments / (ms[name]! / 1000))
    }
    ratios.push(ms.postgres! / ms.duckdb!)
  }
  console.log(
    `${payments} payments, distinct claims (0% cache hits), fetches of ${fetchSize}, concurrency ${concurrency}, looked up per chunk`
  )
  console.log(`postgres   ${median(rates.postgres).toFixed(0).padStart(8)} payments/s (median)`)
  console.log(`duckdb     ${median(rates.duckdb).toFixed(0).padStart(8)} payments/s (median)`)
  console.log(
    `duckdb vs postgres: ${median(ratios).toFixed(2)}x (median of ${ROUNDS} rounds: ${ratios.map((r) => r.toFixed(2)).join(" ")})`
  )
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
