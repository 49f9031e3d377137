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
 * - hand-batched + decode: the same with every row decoded by `Claims.Claim`
 *   (exact decimals and timestamps), the work Sluice does per row; a reference.
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
import { Effect, Redacted, Schema } from "effect"
import postgres from "postgres"
import * as Claims from "../src/Claims.ts"
import * as EmbeddedPostgres from "../src/EmbeddedPostgres.ts"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"

const lookups = Number(process.argv[2] ?? 20_000)
const claims = Number(process.argv[3] ?? 100_000)
const POOL = 16
const BATCH = 100
const ROUNDS = 5

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

  const decodeRows = Schema.decodeUnknownSync(Schema.Array(Claims.Claim))
  const scenarios: Array<{ readonly name: string; readonly run: () => Promise<number> }> = [
    {
      name: "per-key",
      run: () => pool(keys, POOL, (key) => sql.unsafe(`${SELECT} WHERE claim_id = $1`, [key], { prepare: true }))
    },
    {
      name: "hand-batched",
      run: () =>
        pool(chunks(keys, BATCH), POOL, (batch) =>
          sql.unsafe(`${SELECT} WHERE claim_id = ANY($1::varchar[])`, [batch], { prepare: true })
        )
    },
    {
      name: "hand-batched-decoded",
      run: () =>
        pool(chunks(keys, BATCH), POOL, async (batch) =>
          decodeRows(await sql.unsafe(`${SELECT} WHERE claim_id = ANY($1::varchar[])`, [batch], { prepare: true }))
        )
    },
    { name: "sluice", run: timeEffect(Effect.forEach(keys, lookup.get, { concurrency: inFlight, discard: true })) },
    {
      name: "sluice-cached",
      run: () => {
        // Fresh cold keys every run so the 10% misses really reach the database.
        for (let i = 9; i < mixed.length; i += 10) mixed[i] = randomKey()
        return timeEffect(runMixed)()
      }
    },
    {
      name: "sluice-fetch",
      run: timeEffect(
        Effect.forEach(
          chunks(keys, BATCH),
          (batch) => lookup.fetch(batch as unknown as readonly [string, ...Array<string>]),
          { concurrency: POOL, discard: true }
        )
      )
    }
  ]
  // Rounds interleave the scenarios so a busy moment on the machine hits all of
  // them alike; each keeps its best round. The first round is a warm-up.
  const bestMs = new Map<string, number>()
  for (let round = 0; round <= ROUNDS; round++) {
    for (const scenario of scenarios) {
      const ms = yield* Effect.promise(scenario.run)
      if (round > 0) bestMs.set(scenario.name, Math.min(bestMs.get(scenario.name) ?? Number.POSITIVE_INFINITY, ms))
    }
  }
  const perKeyMs = bestMs.get("per-key")!
  const handBatchMs = bestMs.get("hand-batched")!
  const handDecodedMs = bestMs.get("hand-batched-decoded")!
  const sluiceMs = bestMs.get("sluice")!
  const cachedMs = bestMs.get("sluice-cached")!
  const fetchMs = bestMs.get("sluice-fetch")!

  const rows = [
    { scenario: "per-key (postgres.js, 16 in flight)", ms: perKeyMs },
    { scenario: "hand-batched ANY($1) x100 (16 in flight)", ms: handBatchMs },
    { scenario: "  same, rows decoded with the Claim schema", ms: handDecodedMs },
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
    `${JSON.stringify({ lookups, claims, pool: POOL, batch: BATCH, rounds: ROUNDS, rows }, null, 2)}\n`
  )
  console.log(`\nwritten to bench/results/lookup.json`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
