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
import { PgLookup } from "@sluice/lookup"
import { Effect } from "effect"
import * as ClaimsDatabase from "../src/jobs/claims/ClaimsDatabase.ts"
import * as ClaimsLookup from "../src/jobs/claims/ClaimsLookup.ts"
import {
  compare,
  enrichOptions,
  median,
  paymentRecords,
  ROUNDS,
  seededPostgres,
  timeEnrich
} from "./support/enrichBench.ts"

const payments = Number(process.argv[2] ?? 20_000)
const fetchSize = Number(process.argv[3] ?? 500)
const concurrency = Number(process.argv[4] ?? 64)
const maxChunkSize = process.argv[5] === undefined ? undefined : Number(process.argv[5])

const options = enrichOptions(concurrency)
const records = paymentRecords(payments)

const program = Effect.gen(function* () {
  const url = yield* seededPostgres("sluice_enrich_bench", payments)
  const pg = yield* PgLookup.makeClient({ url })

  const { rates, ratios } = yield* compare("record", "chunk", payments, (path) =>
    timeEnrich({
      label: path,
      records,
      fetchSize,
      concurrency: options.concurrency,
      ordering: options.ordering,
      maxChunkSize,
      lookup: ClaimsLookup.claimsLookup(ClaimsDatabase.postgres(pg), options, path)
    })
  )
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
