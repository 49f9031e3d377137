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

const options = enrichOptions(concurrency)
const records = paymentRecords(payments)

const program = Effect.gen(function* () {
  const url = yield* seededPostgres("sluice_enrich_duckdb_bench", payments)
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

  const { rates, ratios } = yield* compare("postgres", "duckdb", payments, (name) =>
    timeEnrich({
      label: name,
      records,
      fetchSize,
      concurrency: options.concurrency,
      ordering: options.ordering,
      lookup: ClaimsLookup.claimsLookup(name === "postgres" ? pg : duck, options, "chunk")
    })
  )
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
