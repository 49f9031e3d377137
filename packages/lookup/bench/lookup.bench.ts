/**
 * Claims lookups against the real PostgreSQL, every figure a ratio against
 * baselines measured in the same run (absolute numbers depend on the machine).
 *
 *   node packages/lookup/bench/lookup.bench.ts [lookups] [claims] [filter]
 *
 * Every scenario answers the same `lookups` random claim ids (about 5% of them
 * missing) over a pool of 16 connections and returns the rows:
 *
 * - per-key (baseline 1): plain postgres.js, one prepared `WHERE claim_id = $1`
 *   per key, 16 in flight.
 * - hand-batched (baseline 2): plain postgres.js, batches of 100 keys with
 *   `= ANY($1)`, 16 in flight, rows left as the driver returns them.
 * - hand-batched + Schema / + RowDecoder: the same with every row decoded to a
 *   `Claim` (exact decimals and timestamps), by the `Claim` schema or by
 *   `Claims.decoder`; references that show what decoding alone costs.
 * - sluice get: `Claims.makeLookup` (batches of 100, 1 ms window, rows decoded,
 *   exact decimals), 20,000 `get`s with 1,600 in flight, no cache.
 * - sluice getMany: the same lookup given chunks of keys, as a stream stage
 *   would: chunks of 100 with 16 in flight (the shape of baseline 2), and chunks
 *   of 1,600 one after the other (16 queries of 100 per chunk).
 * - sluice cached: the lookup behind `Lookup.cached`, on a workload where about
 *   90% of the keys are already in the cache and the rest are fresh each round,
 *   through `get` and through `getMany`.
 *
 * Rounds run every scenario once, in a rotating order, after a warm-up round;
 * each ratio is taken within a round (baseline ms / scenario ms) and the
 * median over the rounds is reported, so a busy moment on the machine does not
 * decide. `filter` keeps the baselines and the scenarios whose name contains it
 * (for profiling one of them with `node --cpu-prof`).
 *
 * The database (`DATABASE_URL`, else 127.0.0.1:5432, else an embedded one) gets
 * a fresh bench database that is dropped at the end. Results go to stdout as a
 * table and to `bench/results/lookup.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Redacted, Result, Schema } from "effect"
import postgres from "postgres"
import { scopedDatabase } from "../../../bench/support/benchDatabase.ts"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"
import * as Claims from "../test/utils/Claims.ts"

const lookups = Number(process.argv[2] ?? 20_000)
const claims = Number(process.argv[3] ?? 100_000)
const filter = process.argv[4]
const POOL = 16
const BATCH = 100
const ROUNDS = 7
const STREAM_CHUNK = POOL * BATCH

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

/** Runs `work` over `items` with `concurrency` workers. */
const pool = async <A>(items: ReadonlyArray<A>, concurrency: number, work: (a: A) => Promise<unknown>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++]!
        await work(item)
      }
    })
  )
}

const chunks = <A>(items: ReadonlyArray<A>, size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const program = Effect.gen(function* () {
  const { url } = yield* scopedDatabase("sluice_lookup_bench")
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
  const run = (effect: Effect.Effect<unknown, unknown>) => () => Effect.runPromise(effect)

  // ~90% hits: the hot set is loaded once, then 9 of 10 keys come from it and
  // the 10th is drawn afresh before every round, so misses reach the database.
  const hot = keys.slice(0, Math.ceil(lookups / 10))
  const cachedLookup = yield* Lookup.cached(lookup, {
    maxEntries: claims,
    ttl: "10 minutes",
    notFoundTtl: "10 minutes"
  })
  yield* cachedLookup.getMany(hot)
  const mixed = keys.map((_key, i) => (i % 10 === 9 ? randomKey() : hot[i % hot.length]!))
  const freshMisses = () => {
    for (let i = 9; i < mixed.length; i += 10) mixed[i] = randomKey()
  }

  const query = (batch: ReadonlyArray<string>) =>
    sql.unsafe(`${SELECT} WHERE claim_id = ANY($1::varchar[])`, [batch as Array<string>], { prepare: true })
  const schemaDecode = Schema.decodeUnknownSync(Schema.Array(Claims.Claim))
  const rowDecode = (rows: ReadonlyArray<unknown>) => Result.getOrThrow(Claims.decoder.decodeRows(rows))
  const batches = chunks(keys, BATCH)
  interface Scenario {
    readonly name: string
    readonly label: string
    readonly prepare?: () => void
    readonly run: () => Promise<unknown>
  }
  const all: Array<Scenario> = [
    {
      name: "per-key",
      label: "baseline 1: per-key postgres.js, 16 in flight",
      run: () => pool(keys, POOL, (key) => sql.unsafe(`${SELECT} WHERE claim_id = $1`, [key], { prepare: true }))
    },
    {
      name: "hand-batched",
      label: "baseline 2: hand-batched ANY($1) x100, 16 in flight",
      run: () => pool(batches, POOL, query)
    },
    {
      name: "hand-batched-schema",
      label: "  reference: + rows decoded by the Claim schema",
      run: () => pool(batches, POOL, async (batch) => schemaDecode(await query(batch)))
    },
    {
      name: "hand-batched-rowdecoder",
      label: "  reference: + rows decoded by Claims.decoder",
      run: () => pool(batches, POOL, async (batch) => rowDecode(await query(batch)))
    },
    {
      name: "sluice-get",
      label: "sluice get, uncached (1,600 in flight)",
      run: run(Effect.forEach(keys, lookup.get, { concurrency: inFlight, discard: true }))
    },
    {
      name: "sluice-getMany-100",
      label: "sluice getMany, uncached, chunks of 100 x16",
      run: run(Effect.forEach(batches, lookup.getMany, { concurrency: POOL, discard: true }))
    },
    {
      name: "sluice-getMany-1600",
      label: "sluice getMany, uncached, chunks of 1,600 x1",
      run: run(Effect.forEach(chunks(keys, STREAM_CHUNK), lookup.getMany, { discard: true }))
    },
    {
      name: "sluice-cached-get",
      label: "sluice get, ~90% cache hits",
      prepare: freshMisses,
      run: run(Effect.forEach(mixed, cachedLookup.get, { concurrency: inFlight, discard: true }))
    },
    {
      name: "sluice-cached-getMany",
      label: "sluice getMany, ~90% cache hits, chunks of 1,600",
      prepare: freshMisses,
      run: run(
        Effect.suspend(() => Effect.forEach(chunks(mixed, STREAM_CHUNK), cachedLookup.getMany, { discard: true }))
      )
    }
  ]
  const scenarios = all.filter(
    (s) => s.name === "per-key" || s.name === "hand-batched" || filter === undefined || s.name.includes(filter)
  )

  // The first round is a warm-up (prepared statements, JIT); every later round
  // runs each scenario once, starting one further along, and keeps its times.
  const times = new Map<string, Array<number>>(scenarios.map((s) => [s.name, []]))
  for (let round = 0; round <= ROUNDS; round++) {
    for (let i = 0; i < scenarios.length; i++) {
      const scenario = scenarios[(i + round) % scenarios.length]!
      scenario.prepare?.()
      const start = performance.now()
      yield* Effect.promise(scenario.run)
      const ms = performance.now() - start
      if (round > 0) times.get(scenario.name)!.push(ms)
    }
  }
  const perKey = times.get("per-key")!
  const handBatched = times.get("hand-batched")!
  const ratios = (baseline: ReadonlyArray<number>, ms: ReadonlyArray<number>) =>
    median(ms.map((m, round) => baseline[round]! / m))
  const rows = scenarios.map((s) => {
    const ms = times.get(s.name)!
    return {
      scenario: s.name,
      label: s.label,
      medianMs: median(ms),
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      lookupsPerSecond: Math.round((lookups / median(ms)) * 1000),
      vsPerKey: ratios(perKey, ms),
      vsHandBatched: ratios(handBatched, ms)
    }
  })

  console.log(
    `\nclaims lookups: ${lookups} keys over ${claims} seeded claims, pool ${POOL}, batches of ${BATCH}, median of ${ROUNDS} interleaved rounds\n`
  )
  console.log(
    `${"scenario".padEnd(52)} ${"median ms".padStart(10)} ${"lookups/s".padStart(10)} ${"vs per-key".padStart(11)} ${"vs hand-batched".padStart(16)}`
  )
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(52)} ${r.medianMs.toFixed(1).padStart(10)} ${String(r.lookupsPerSecond).padStart(10)} ${`${r.vsPerKey.toFixed(2)}x`.padStart(11)} ${`${r.vsHandBatched.toFixed(2)}x`.padStart(16)}`
    )
  }
  console.log("\ntargets for uncached sluice lookups: >= 5x per-key and >= 0.8x hand-batched")
  for (const r of rows.filter((r) => r.scenario.startsWith("sluice-get"))) {
    const met = r.vsPerKey >= 5 && r.vsHandBatched >= 0.8
    console.log(`  ${r.scenario.padEnd(22)} ${met ? "met" : "missed"}`)
  }
  const out = join(import.meta.dirname, "..", "..", "..", "bench", "results")
  mkdirSync(out, { recursive: true })
  writeFileSync(
    join(out, "lookup.json"),
    `${JSON.stringify({ lookups, claims, pool: POOL, batch: BATCH, rounds: ROUNDS, rows, times: Object.fromEntries(times) }, null, 2)}\n`
  )
  console.log(`\nwritten to bench/results/lookup.json`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
