/**
 * Claims lookups against the real PostgreSQL, every figure a ratio against a
 * baseline measured in the same run (absolute numbers depend on the machine).
 *
 *   node packages/lookup/bench/lookup.bench.ts [lookups] [claims]
 *
 * Each scenario answers the same `lookups` random claim ids (about 5% of them
 * missing) with a pool of 16 connections:
 *
 * - per-key: plain postgres.js, one prepared `WHERE claim_id = $1` per key,
 *   16 in flight (the baseline).
 * - hand-batched: plain postgres.js, hand-made batches of 100 keys with
 *   `= ANY($1)`, 16 in flight.
 * - sluice: `Claims.makeLookup` (batches of 100, rows decoded with the
 *   schema, exact decimals), 1,600 `get`s in flight, no cache.
 * - sluice-cached: the same behind `Lookup.cached`, with a workload where
 *   about 90% of the keys are already in the cache.
 *
 * The database (`DATABASE_URL`, else 127.0.0.1:5432, else an embedded one) gets
 * a fresh bench database that is dropped at the end. Results go to stdout as a
 * table and to `bench/results/lookup.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import postgres from "postgres"
import * as Claims from "../src/Claims.ts"
import * as EmbeddedPostgres from "../src/EmbeddedPostgres.ts"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"

const lookups = Number(process.argv[2] ?? 20_000)
const claims = Number(process.argv[3] ?? 100_000)
const POOL = 16
const BATCH = 100

// A fixed PRNG so every run asks for the same keys.
let state = 7
const random = () => {
  state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0
  return state / 4_294_967_296
}
const randomKey = () =>
  random() < 0.05 ? `MISSING-${Math.floor(random() * 1e9)}` : Claims.claimId(1 + Math.floor(random() * claims))
const keys = Array.from({ length: lookups }, randomKey)

const SELECT = `SELECT claim_id, member_id, claim_amount::text AS claim_amount, claim_status,
  floor(extract(epoch FROM created_date) * 1000)::float8 AS created_date FROM claims`

/** Runs `work` over `items` with `concurrency` workers; returns elapsed ms. */
const pool = async <A>(items: ReadonlyArray<A>, concurrency: number, work: (a: A) => Promise<unknown>) => {
  let next = 0
  const start = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++]!
        await work(item)
      }
    })
  )
  return performance.now() - start
}

/** A warm-up run, then the best of three. */
const best = async (run: () => Promise<number>) => {
  await run()
  let min = Number.POSITIVE_INFINITY
  for (let i = 0; i < 3; i++) min = Math.min(min, await run())
  return min
}

const chunks = <A>(items: ReadonlyArray<A>, size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const program = Effect.gen(function* () {
  const adminUrl = yield* EmbeddedPostgres.resolveDatabaseUrl
  const name = `sluice_lookup_bench_${Math.random().toString(36).slice(2, 8)}`
  const admin = yield* Effect.acquireRelease(
    Effect.sync(() => postgres(Redacted.value(adminUrl), { max: 1, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )
  yield* Effect.acquireRelease(
    Effect.promise(() => admin.unsafe(`CREATE DATABASE ${name}`)),
    () => Effect.promise(() => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  )
  const dbUrl = new URL(Redacted.value(adminUrl))
  dbUrl.pathname = `/${name}`
  const url = Redacted.make(dbUrl.toString())
  const sql = yield* Effect.acquireRelease(
    Effect.sync(() => postgres(Redacted.value(url), { max: POOL, prepare: true, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )
  yield* Claims.migrate(sql)
  yield* Claims.seed(sql, { count: claims })
  yield* Effect.promise(() => sql.unsafe("ANALYZE claims"))

  const perKeyMs = yield* Effect.promise(() =>
    best(() => pool(keys, POOL, (key) => sql.unsafe(`${SELECT} WHERE claim_id = $1`, [key], { prepare: true })))
  )
  const handBatchMs = yield* Effect.promise(() =>
    best(() =>
      pool(chunks(keys, BATCH), POOL, (batch) =>
        sql.unsafe(`${SELECT} WHERE claim_id = ANY($1::varchar[])`, [batch], { prepare: true })
      )
    )
  )

  const client = yield* PgLookup.makeClient({ url, poolSize: POOL })
  const lookup = yield* Claims.makeLookup({ maxBatchSize: BATCH, batchWindow: "1 millis" }).pipe(
    Effect.provideService(PgLookup.PgClient, client)
  )
  const inFlight = POOL * BATCH
  const timeEffect = (effect: Effect.Effect<unknown, unknown>) => async () => {
    const start = performance.now()
    await Effect.runPromise(effect)
    return performance.now() - start
  }
  const sluiceMs = yield* Effect.promise(() =>
    best(timeEffect(Effect.forEach(keys, lookup.get, { concurrency: inFlight, discard: true })))
  )

  const fetchMs = yield* Effect.promise(() =>
    best(
      timeEffect(
        Effect.forEach(
          chunks(keys, BATCH),
          (batch) => lookup.fetch(batch as unknown as readonly [string, ...Array<string>]),
          { concurrency: POOL, discard: true }
        )
      )
    )
  )

  // ~90% hits: the hot set is loaded once, then 9 of 10 keys come from it.
  const hot = keys.slice(0, Math.ceil(lookups / 10))
  const cachedLookup = yield* Lookup.cached(lookup, {
    maxEntries: claims,
    ttl: "10 minutes",
    notFoundTtl: "10 minutes"
  })
  yield* Effect.forEach(hot, cachedLookup.get, { concurrency: inFlight, discard: true })
  const mixed = keys.map((_key, i) => (i % 10 === 9 ? randomKey() : hot[i % hot.length]!))
  const runMixed = Effect.forEach(mixed, (key) => cachedLookup.get(key), { concurrency: inFlight, discard: true })
  // Fresh cold keys every run so the 10% misses really reach the database.
  const cachedRun = async () => {
    for (let i = 9; i < mixed.length; i += 10) mixed[i] = randomKey()
    return timeEffect(runMixed)()
  }
  const cachedMs = yield* Effect.promise(() => best(cachedRun))

  const rows = [
    { scenario: "per-key (postgres.js, 16 in flight)", ms: perKeyMs },
    { scenario: "hand-batched ANY($1) x100 (16 in flight)", ms: handBatchMs },
    { scenario: "sluice Lookup, uncached", ms: sluiceMs },
    { scenario: "sluice Lookup, ~90% cache hits", ms: cachedMs },
    { scenario: "sluice lookup.fetch x100 (16 in flight)", ms: fetchMs }
  ].map((r) => ({
    ...r,
    lookupsPerSecond: Math.round((lookups / r.ms) * 1000),
    vsPerKey: perKeyMs / r.ms,
    vsHandBatched: handBatchMs / r.ms
  }))

  console.log(`\nclaims lookups: ${lookups} keys over ${claims} seeded claims, pool ${POOL}, batches of ${BATCH}\n`)
  console.log(
    `${"scenario".padEnd(44)} ${"ms".padStart(9)} ${"lookups/s".padStart(11)} ${"vs per-key".padStart(11)} ${"vs hand-batched".padStart(16)}`
  )
  for (const r of rows) {
    console.log(
      `${r.scenario.padEnd(44)} ${r.ms.toFixed(1).padStart(9)} ${String(r.lookupsPerSecond).padStart(11)} ${`${r.vsPerKey.toFixed(2)}x`.padStart(11)} ${`${r.vsHandBatched.toFixed(2)}x`.padStart(16)}`
    )
  }
  const out = join(import.meta.dirname, "..", "..", "..", "bench", "results")
  mkdirSync(out, { recursive: true })
  writeFileSync(
    join(out, "lookup.json"),
    `${JSON.stringify({ lookups, claims, pool: POOL, batch: BATCH, rows }, null, 2)}\n`
  )
  console.log(`\nwritten to bench/results/lookup.json`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
