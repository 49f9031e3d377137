/**
 * Claims lookups with no cache, DuckDB against PostgreSQL: the same claims
 * seeded in both, the same random keys (about 5% missing), looked up with
 * `getMany` in chunks of the batch size (1, 100, 500) through
 * `Lookup.batched` of each resolver, 16 chunks in flight. Figures are keys per
 * second and, per batch size, the DuckDB / PostgreSQL ratio taken within each
 * round (median over the rounds), so the machine's load cancels out.
 *
 *   node packages/lookup/bench/duckdb.bench.ts [keys] [claims]
 *
 * DuckDB runs in the process, so the event loop's delay is sampled during
 * every scenario (`perf_hooks.monitorEventLoopDelay`, 10 ms resolution): a
 * statement that blocked the loop would show as a large p99 or max next to
 * PostgreSQL's, whose client only waits on sockets.
 *
 * PostgreSQL is a fresh database on `DATABASE_URL` (else 127.0.0.1:5432),
 * dropped at the end; DuckDB is a file in a temporary directory, opened
 * read-only with 4 connections as the jobs open it. Batch size 1 answers a
 * tenth of the keys (it is one statement per key). Results go to stdout and
 * `bench/results/duckdb-lookup.json`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect, Redacted } from "effect"
import postgres from "postgres"
import { scopedDatabase } from "../../../bench/support/benchDatabase.ts"
import * as DuckDbLookup from "../src/DuckDbLookup.ts"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"
import * as Claims from "../test/utils/Claims.ts"
import { insert } from "../test/utils/DuckDbDatabase.ts"

const keyCount = Number(process.argv[2] ?? 5_000)
const claims = Number(process.argv[3] ?? 100_000)
const IN_FLIGHT = 16
const PG_POOL = 16
const DUCKDB_POOL = 4
const BATCHES = [1, 100, 500] as const
const ROUNDS = 3

// A fixed PRNG so every run asks for the same keys.
let state = 11
const random = () => {
  state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0
  return state / 4_294_967_296
}
const keys = Array.from({ length: keyCount }, () =>
  random() < 0.05 ? `MISSING-${Math.floor(random() * 1e9)}` : Claims.claimId(1 + Math.floor(random() * claims))
)

const chunks = <A>(items: ReadonlyArray<A>, size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const DUCKDB_SELECT = `SELECT claim_id, member_id, claim_amount::VARCHAR AS claim_amount, claim_status,
          epoch_ms(created_date)::DOUBLE AS created_date
     FROM claims SEMI JOIN (SELECT unnest($1::VARCHAR[]) AS batch_key) ON claim_id = batch_key`

interface Scenario {
  readonly database: "postgres" | "duckdb"
  readonly batch: number
  readonly keys: ReadonlyArray<string>
  readonly run: () => Effect.Effect<void, unknown>
}

const program = Effect.gen(function* () {
  // PostgreSQL
  const { url } = yield* scopedDatabase("sluice_duckdb_bench")
  const seeder = postgres(Redacted.value(url), { max: 2, onnotice: () => {} })
  yield* Claims.migrate(seeder)
  yield* Claims.seed(seeder, { count: claims })
  yield* Effect.promise(() => seeder.unsafe("ANALYZE claims"))
  yield* Effect.promise(() => seeder.end({ timeout: 2 }))
  const pg = yield* PgLookup.makeClient({ url, poolSize: PG_POOL, statementTimeout: "1 minute" })
  const pgResolver = yield* Claims.makeResolver.pipe(Effect.provideService(PgLookup.PgClient, pg))

  // DuckDB: written by one client, closed, then opened read-only.
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-duckdb-bench-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const path = join(dir, "claims.duckdb")
  yield* Effect.scoped(
    Effect.gen(function* () {
      const writer = yield* DuckDbLookup.makeClient({ path, readOnly: false, poolSize: 1 })
      yield* Effect.tryPromise(() => writer.sql.query(Claims.migration))
      const rows = Claims.seedRows(claims)
      for (const chunk of chunks(rows, 10_000)) yield* insert(writer.sql, chunk)
    })
  )
  // The bound is for a stuck statement, not for the queue of 16 chunks in front of 4 connections.
  const duck = yield* DuckDbLookup.makeClient({ path, poolSize: DUCKDB_POOL, statementTimeout: "1 minute" })
  const duckResolver = yield* DuckDbLookup.resolver({
    name: "claims",
    source: { query: (sql, keys, signal) => sql.query(DUCKDB_SELECT, [keys], { signal }) },
    decoder: Claims.decoder,
    key: (claim: Claims.Claim) => claim.claim_id
  }).pipe(Effect.provideService(DuckDbLookup.DuckDbClient, duck))

  const scenarios: Array<Scenario> = []
  for (const batch of BATCHES) {
    const asked = batch === 1 ? keys.slice(0, Math.ceil(keys.length / 10)) : keys
    for (const [database, resolver] of [
      ["postgres", pgResolver],
      ["duckdb", duckResolver]
    ] as const) {
      const lookup = Lookup.batched(resolver, { maxBatchSize: batch, batchWindow: "1 millis" })
      scenarios.push({
        database,
        batch,
        keys: asked,
        run: () => Effect.forEach(chunks(asked, batch), lookup.getMany, { concurrency: IN_FLIGHT, discard: true })
      })
    }
  }
  const nameOf = (s: Scenario) => `${s.database} x${s.batch}`

  // Round 0 warms up (prepared statements, caches, JIT); later rounds keep their times.
  const times = new Map<string, Array<number>>(scenarios.map((s) => [nameOf(s), []]))
  const delays = new Map<string, Array<{ p99: number; max: number }>>(scenarios.map((s) => [nameOf(s), []]))
  for (let round = 0; round <= ROUNDS; round++) {
    for (let i = 0; i < scenarios.length; i++) {
      const scenario = scenarios[(i + round) % scenarios.length]!
      const histogram = monitorEventLoopDelay({ resolution: 10 })
      histogram.enable()
      const start = performance.now()
      yield* scenario.run()
      const ms = performance.now() - start
      histogram.disable()
      if (round > 0) {
        times.get(nameOf(scenario))!.push(ms)
        delays.get(nameOf(scenario))!.push({ p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 })
      }
    }
  }

  const rows = scenarios.map((s) => {
    const ms = times.get(nameOf(s))!
    const pgMs = times.get(`postgres x${s.batch}`)!
    const delay = delays.get(nameOf(s))!
    return {
      scenario: nameOf(s),
      database: s.database,
      batch: s.batch,
      keys: s.keys.length,
      medianMs: median(ms),
      keysPerSecond: Math.round((s.keys.length / median(ms)) * 1000),
      vsPostgres: median(ms.map((m, round) => pgMs[round]! / m)),
      loopDelayP99Ms: median(delay.map((d) => d.p99)),
      loopDelayMaxMs: median(delay.map((d) => d.max))
    }
  })

  console.log(
    `\nclaims lookups, no cache: ${keyCount} keys (x1: ${Math.ceil(keyCount / 10)}) over ${claims} claims, ${IN_FLIGHT} chunks in flight, median of ${ROUNDS} interleaved rounds\n`
  )
  console.log(
    `${"scenario".padEnd(16)} ${"median ms".padStart(10)} ${"keys/s".padStart(9)} ${"vs postgres".padStart(12)} ${"loop p99 ms".padStart(12)} ${"loop max ms".padStart(12)}`
  )
  for (const r of rows) {
    console.log(
      `${r.scenario.padEnd(16)} ${r.medianMs.toFixed(1).padStart(10)} ${String(r.keysPerSecond).padStart(9)} ${`${r.vsPostgres.toFixed(2)}x`.padStart(12)} ${r.loopDelayP99Ms.toFixed(1).padStart(12)} ${r.loopDelayMaxMs.toFixed(1).padStart(12)}`
    )
  }
  const out = join(import.meta.dirname, "..", "..", "..", "bench", "results")
  mkdirSync(out, { recursive: true })
  writeFileSync(
    join(out, "duckdb-lookup.json"),
    `${JSON.stringify({ keys: keyCount, claims, inFlight: IN_FLIGHT, pgPool: PG_POOL, duckdbPool: DUCKDB_POOL, rounds: ROUNDS, rows, times: Object.fromEntries(times) }, null, 2)}\n`
  )
  console.log(`\nwritten to bench/results/duckdb-lookup.json`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
