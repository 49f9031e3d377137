/**
 * The commerce jobs of seed 002 end to end, every figure from one run on one
 * machine (issue 16's benchmark):
 *
 *   pnpm bench commerce     (or: node packages/runner/bench/commerce.bench.ts --help)
 *
 * Parts: the embedded broker as a `sluice broker` child process, the
 * machine's PostgreSQL (`DATABASE_URL`, else 127.0.0.1:5432) with a fresh
 * database per run, and `--events` order change events (`jobs/commerceOrders.ts`:
 * `--customers` customers, a million orders over 100 days by default, with
 * out-of-order and late orders, updates, deletes and tombstones)
 * pre-produced to a one-partition orders topic, as Debezium creates it.
 *
 * Each round runs, in a rotating order, three variants of the sales job and
 * of the segmentation (RFM) job, each job a child process of its own with a
 * fresh consumer group, one after the other (so each job has the machine to
 * itself) until it has committed the whole input:
 *
 * 1. by hand (`jobs/commerceByHand.ts`): kafkajs eachBatch, `Map`s, integer
 *    cents, a multi-row `INSERT … VALUES … ON CONFLICT` per batch, no
 *    durability;
 * 2. `sluice commerce sales|segments` with the state in memory;
 * 3. the same with `--state-dir` (durable state: LMDB plus changelog topics,
 *    offsets committed once the changelog holds the change).
 *
 * The segmentation job re-keys by customer through an internal topic of
 * `--partitions` partitions (the hand job computes the same watermark without
 * one); it is done when the internal topic's group has committed its whole
 * topic too. Measured per job, from its group's first commit to its last
 * (start-up left out): events/s, and the job process's CPU µs per event
 * (from /proc). "both" is the two jobs one after the other: events over the
 * sum of their times, and the sum of their CPU per event. Ratios are against
 * the hand job of the same round; the table shows the median and min–max
 * over rounds. After each run its tables are compared with the hand run's of
 * the same round, row for row.
 *
 * Then the PostgreSQL sink alone: `--sink-rows` `customer_segments` rows over
 * `--customers` keys in chunks of 1,000, through `PgUpsertSink` (a `Stream`
 * of envelopes, rows encoded and deduplicated, one `unnest` upsert per chunk,
 * receipts acknowledged) against the bare loop of the hand job (one
 * `INSERT … VALUES … ON CONFLICT` per chunk), on an emptied table, in
 * alternating order. Results go to stdout and `bench/results/commerce.json`.
 * Linux only (/proc).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Envelope, Receipt } from "@sluice/core"
import { PgUpsertSink } from "@sluice/sinks"
import { BigDecimal, DateTime, Effect, Stream } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"
import postgres from "postgres"
import { createDatabase } from "../../../bench/support/benchDatabase.ts"
import { freePort } from "../../../bench/support/freePort.ts"
import { type NodeChild, spawnNode, stopAll } from "../../../bench/support/nodeChild.ts"
import * as ProcessStats from "../../../bench/support/processStats.ts"
import { committedSum, endOffsetSum } from "../../../bench/support/topicOffsets.ts"
import * as Tables from "../src/jobs/commerce/Tables.ts"
import * as Hand from "./jobs/commerceHand.ts"
import * as Orders from "./jobs/commerceOrders.ts"

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    customers: { type: "string", default: "100000" },
    rounds: { type: "string", default: "2" },
    partitions: { type: "string", default: "6" },
    "sink-rows": { type: "string", default: "200000" },
    "sink-rounds": { type: "string", default: "3" },
    only: { type: "string" },
    "cpu-prof": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(`node packages/runner/bench/commerce.bench.ts [--events N (1000000)] [--customers N (100000)]
  [--rounds N (2)] [--partitions N (6, the segments job's re-keying topic)]
  [--sink-rows N (200000)] [--sink-rounds N (3)] [--only TEXT (variants whose name contains TEXT)] [--out FILE]
  [--cpu-prof DIR (a V8 CPU profile of every sluice run; see bench/tools/cpuProfileSummary.ts)]`)
  process.exit(0)
}

const EVENTS = Number(flags.events)
const CUSTOMERS = Number(flags.customers)
const ROUNDS = Number(flags.rounds)
const PARTITIONS = Number(flags.partitions)
const SINK_ROWS = Number(flags["sink-rows"])
const SINK_ROUNDS = Number(flags["sink-rounds"])
const CHUNK = 1000
const PREFIX = "bench.public"
const INPUT = `${PREFIX}.orders`
const RUN_TIMEOUT_MS = 3_600_000
const root = join(import.meta.dirname, "..", "..", "..")
const sluiceBin = join(root, "packages", "runner", "bin", "sluice.js")
const outFile = flags.out ?? join(root, "bench", "results", "commerce.json")

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

type Variant = "by hand" | "sluice, memory" | "sluice, durable"
type JobName = "sales" | "segments"
const variants: ReadonlyArray<Variant> = ["by hand", "sluice, memory", "sluice, durable"]

interface JobRun {
  readonly variant: Variant
  readonly job: JobName
  readonly round: number
  readonly completed: boolean
  readonly events: number
  readonly seconds: number
  readonly cpuMillis: number
  readonly eventsPerSecond: number
  readonly cpuMicrosPerEvent: number
}

interface RoundRun {
  readonly variant: Variant
  readonly round: number
  readonly jobs: ReadonlyArray<JobRun>
  /** The run's tables as text, for the comparison with the hand run. */
  readonly tables: { readonly sales: string; readonly segments: string }
}

let runNumber = 0

const startJob = async (
  ctx: { readonly brokers: string },
  variant: Variant,
  job: JobName,
  group: string,
  databaseUrl: string,
  changes: string,
  stateDir: string
): Promise<NodeChild> => {
  if (variant === "by hand") {
    const args = ["--job", job, "--brokers", ctx.brokers, "--database-url", databaseUrl, "--input", INPUT]
    args.push("--group", `${group}-${job}`, "--changes", changes, "--partitions", String(PARTITIONS))
    return spawnNode(join(import.meta.dirname, "jobs", "commerceByHand.ts"), args)
  }
  const profile = flags["cpu-prof"]
  return spawnNode(sluiceBin, ["commerce", job, ...(job === "segments" ? ["--partitions", String(PARTITIONS)] : [])], {
    nodeFlags:
      profile === undefined
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${profile}`, `--cpu-prof-name=${group}-${job}.cpuprofile`],
    env: {
      KAFKA_BOOTSTRAP_SERVERS: ctx.brokers,
      CDC_TOPIC_PREFIX: PREFIX,
      COMMERCE_GROUP_ID: group,
      COMMERCE_DLQ_TOPIC: `${group}-dlq`,
      SEGMENT_CHANGES_TOPIC: changes,
      CLIENT_ID: group,
      DATABASE_URL: databaseUrl,
      METRICS_PORT: String(await freePort()),
      ...(variant === "sluice, durable" ? { COMMERCE_STATE_DIR: stateDir } : {})
    }
  })
}

/** Runs one job over the whole input; done when its groups have committed everything they read. */
const runJob = async (
  ctx: { readonly admin: Admin; readonly brokers: string },
  variant: Variant,
  job: JobName,
  round: number,
  group: string,
  databaseUrl: string,
  stateDir: string
): Promise<JobRun> => {
  const child = await startJob(ctx, variant, job, group, databaseUrl, `${group}-changes`, stateDir)
  const watcher = ProcessStats.watch(child.pid, 100)
  let exited = false
  void child.exited.then(() => {
    exited = true
  })
  // The re-keying topic of sluice's segments job, and its group (CommerceCommand's `rekey`).
  const internal = variant !== "by hand" && job === "segments" ? `${group}-segments-by-customer` : undefined
  const deadline = Date.now() + RUN_TIMEOUT_MS
  let first: { at: number; committed: number } | undefined
  let last = { at: Date.now(), committed: 0 }
  let done = false
  while (!exited && Date.now() < deadline) {
    const committed = await committedSum(ctx.admin, `${group}-${job}`, INPUT)
    const at = Date.now()
    if (first === undefined && committed > 0) first = { at, committed }
    last = { at, committed }
    if (committed >= EVENTS) {
      done =
        internal === undefined ||
        (await committedSum(ctx.admin, internal, internal)) >= (await endOffsetSum(ctx.admin, internal))
      if (done) break
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const start = first ?? last
  const cpuMillis = watcher.cpuBetween(start.at, last.at)
  watcher.stop()
  if (!done) log(`${variant} ${job} INCOMPLETE at ${last.committed}/${EVENTS}: ${child.output().stderr.slice(-2000)}`)
  await child.stop(10_000)
  const events = last.committed - (first === undefined ? 0 : first.committed)
  const seconds = Math.max(0.001, (last.at - start.at) / 1000)
  const result: JobRun = {
    variant,
    job,
    round,
    completed: done,
    events,
    seconds,
    cpuMillis,
    eventsPerSecond: events / seconds,
    cpuMicrosPerEvent: (cpuMillis * 1000) / Math.max(1, events)
  }
  log(
    `${variant} ${job} (round ${round}): ${Math.round(result.eventsPerSecond)} events/s, ${result.cpuMicrosPerEvent.toFixed(1)} CPU µs/event over ${seconds.toFixed(1)} s`
  )
  return result
}

const tableText = async (url: string) => {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const sales = await sql.unsafe(
      `SELECT metric_id, window_start::text, window_end::text, total_revenue::text, order_count,
              avg_order_value::text, unique_customers FROM realtime_sales_metrics ORDER BY metric_id`
    )
    const segments = await sql.unsafe(
      `SELECT customer_id::text, segment, recency_days, frequency, monetary_value::text, last_order_at::text,
              as_of::text FROM customer_segments ORDER BY customer_id`
    )
    return { sales: JSON.stringify(sales), segments: JSON.stringify(segments) }
  } finally {
    await sql.end({ timeout: 5 })
  }
}

const createTables = async (url: string) => {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    for (const table of [Tables.salesMetrics, Tables.customerSegments])
      await Effect.runPromise(PgUpsertSink.createTable(sql, table))
  } finally {
    await sql.end({ timeout: 5 })
  }
}

const runVariant = async (
  ctx: { readonly admin: Admin; readonly brokers: string },
  variant: Variant,
  round: number
): Promise<RoundRun> => {
  const group = `bench-commerce-${process.pid}-${++runNumber}`
  const db = await createDatabase("commerce_bench")
  const stateDir = mkdtempSync(join(tmpdir(), "commerce-bench-state-"))
  try {
    if (variant === "by hand") {
      await createTables(db.url)
      await ctx.admin.createTopics({ topics: [{ topic: `${group}-changes`, numPartitions: 6 }], waitForLeaders: true })
    }
    log(`${variant} (round ${round}): group ${group}, database ${db.name}`)
    const jobs: Array<JobRun> = []
    for (const job of ["sales", "segments"] as const)
      jobs.push(await runJob(ctx, variant, job, round, group, db.url, stateDir))
    const tables = await tableText(db.url)
    // The run's topics go, so the broker does not hold every run's internal and changelog topics.
    const topics = (await ctx.admin.listTopics()).filter((t) => t.startsWith(group))
    await ctx.admin.deleteTopics({ topics }).catch(() => undefined)
    return { variant, round, jobs, tables }
  } finally {
    rmSync(stateDir, { recursive: true, force: true })
    await db.drop()
  }
}

const produceInput = async (kafka: Kafka, admin: Admin) => {
  await admin.createTopics({ topics: [{ topic: INPUT, numPartitions: 1 }], waitForLeaders: true })
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  let batch: Array<{ key: string; value: string | null }> = []
  let sent = 0
  // One send at a time keeps the topic in the generator's order.
  const flush = async () => {
    if (batch.length === 0) return
    await producer.send({ topic: INPUT, acks: -1, messages: batch })
    sent += batch.length
    batch = []
    if (sent % 100_000 < 2000) log(`produced ${sent} of ${EVENTS}`)
  }
  for (const record of Orders.records({ ...Orders.defaults, customers: CUSTOMERS }, EVENTS)) {
    batch.push(record)
    if (batch.length === 2000) await flush()
  }
  await flush()
  await producer.disconnect()
}

/** The sink on its own: rows/s of `PgUpsertSink` and of the bare VALUES loop, alternating. */
const sinkBench = async () => {
  interface Plain {
    readonly customer: number
    readonly frequency: number
    readonly cents: number
    readonly last: number
  }
  const plain: Array<Plain> = Array.from({ length: SINK_ROWS }, (_, i) => ({
    customer: (i % CUSTOMERS) + 1,
    frequency: 1 + (i % 17),
    cents: (i * 7919) % 10_000_000,
    last: Orders.defaults.start + i * 1000
  }))
  const segmentOf = (p: Plain) => (p.frequency >= 5 ? "VIP" : p.frequency >= 3 ? "Regular" : "New")
  const db = await createDatabase("commerce_sink_bench")
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    await Effect.runPromise(PgUpsertSink.createTable(sql, Tables.customerSegments))
    const iso = (ms: number) => new Date(ms).toISOString()
    const bare = async () => {
      for (let i = 0; i < plain.length; i += CHUNK) {
        const rows = plain
          .slice(i, i + CHUNK)
          .map(
            (p): Hand.TextRow => [
              String(p.customer),
              segmentOf(p),
              "0",
              String(p.frequency),
              `${Math.floor(p.cents / 100)}.${String(p.cents % 100).padStart(2, "0")}`,
              iso(p.last),
              iso(p.last)
            ]
          )
        const { text, params } = Hand.valuesUpsert(Tables.customerSegments, rows)
        await sql.unsafe(text, params)
      }
    }
    const origin: Envelope.Origin = { topic: "bench", partition: 0, offset: 0n, key: null, headers: [], timestamp: 0 }
    let acked = 0
    const sink = PgUpsertSink.make(
      sql,
      Tables.customerSegments,
      (p: Plain): PgUpsertSink.Row => ({
        customer_id: p.customer,
        segment: segmentOf(p),
        recency_days: 0,
        frequency: p.frequency,
        monetary_value: BigDecimal.make(BigInt(p.cents), 2),
        last_order_at: DateTime.makeUnsafe(p.last),
        as_of: DateTime.makeUnsafe(p.last)
      })
    )
    const viaSink = () =>
      Effect.runPromise(
        Stream.fromIterable(plain).pipe(
          Stream.map((p) =>
            Envelope.make(
              origin,
              p,
              Receipt.makeUnsafe(() => acked++)
            )
          ),
          Stream.rechunk(CHUNK),
          Stream.run(sink)
        )
      )
    const scenarios = [
      { name: "bare multi-row INSERT … VALUES … ON CONFLICT loop", run: bare },
      { name: "sluice PgUpsertSink", run: viaSink }
    ]
    const rates = new Map<string, Array<number>>(scenarios.map((s) => [s.name, []]))
    // Round 0 warms up (JIT, table, connection) and is not counted.
    for (let round = 0; round <= SINK_ROUNDS; round++) {
      for (let i = 0; i < scenarios.length; i++) {
        const scenario = scenarios[(i + round) % scenarios.length]!
        await sql.unsafe("TRUNCATE customer_segments")
        const start = performance.now()
        await scenario.run()
        const ms = performance.now() - start
        if (round > 0) rates.get(scenario.name)!.push((SINK_ROWS * 1000) / ms)
      }
    }
    const [check] = await sql.unsafe("SELECT count(*)::int AS n FROM customer_segments")
    if (check!.n !== Math.min(CUSTOMERS, SINK_ROWS)) throw new Error(`sink bench: ${check!.n} rows`)
    if (acked !== SINK_ROWS * (SINK_ROUNDS + 1)) throw new Error(`sink bench: ${acked} acks`)
    const base = rates.get(scenarios[0]!.name)!
    return scenarios.map((s) => {
      const mine = rates.get(s.name)!
      return { name: s.name, rowsPerSecond: mine, vsBare: mine.map((r, i) => r / base[i]!) }
    })
  } finally {
    await sql.end({ timeout: 5 })
    await db.drop()
  }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–")
const spread = (xs: ReadonlyArray<number>, digits = 0, unit = "") =>
  xs.length === 0
    ? "–"
    : `${fmt(median(xs), digits)}${unit} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`

const main = async () => {
  const started = Date.now()
  const loadAtStart = loadavg()
  const broker = spawnNode(sluiceBin, ["broker", "--port", "0"])
  const brokers = (await broker.waitFor(/listening on (\S+)/, 60_000))[1]!
  log(`broker ${brokers} (pid ${broker.pid})`)
  const kafka = new Kafka({ brokers: [brokers], clientId: "bench", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  log(`producing ${EVENTS} order events of ${CUSTOMERS} customers to ${INPUT}`)
  await produceInput(kafka, admin)
  const ctx = { admin, brokers }
  const runs: Array<RoundRun> = []
  const selected = variants.filter((v) => flags.only === undefined || v === "by hand" || v.includes(flags.only))
  for (let round = 1; round <= ROUNDS; round++) {
    // A rotating order, so no variant always runs first or last.
    for (let i = 0; i < selected.length; i++)
      runs.push(await runVariant(ctx, selected[(i + round - 1) % selected.length]!, round))
  }
  await admin.disconnect()
  await broker.stop(10_000)
  log("the PostgreSQL sink on its own")
  const sink = await sinkBench()

  // Per job and variant: events/s and CPU µs/event, and per round the ratio to the hand job of the same round.
  const figure = (run: RoundRun, job: JobName | "both") => {
    if (job !== "both") {
      const j = run.jobs.find((x) => x.job === job)!
      return { rate: j.eventsPerSecond, cpu: j.cpuMicrosPerEvent }
    }
    const seconds = run.jobs.reduce((a, j) => a + j.seconds, 0)
    return { rate: EVENTS / seconds, cpu: run.jobs.reduce((a, j) => a + j.cpuMicrosPerEvent, 0) }
  }
  const rows = (["sales", "segments", "both"] as const).flatMap((job) =>
    selected.map((variant) => {
      const mine = runs.filter((r) => r.variant === variant)
      const hand = (round: number) => runs.find((r) => r.variant === "by hand" && r.round === round)!
      return {
        job,
        variant,
        eventsPerSecond: mine.map((r) => figure(r, job).rate),
        cpuMicrosPerEvent: mine.map((r) => figure(r, job).cpu),
        rateVsHand: mine.map((r) => figure(r, job).rate / figure(hand(r.round), job).rate),
        cpuVsHand: mine.map((r) => figure(r, job).cpu / figure(hand(r.round), job).cpu)
      }
    })
  )
  const load = loadavg()
  console.log(
    `\ncommerce: ${EVENTS} order events, ${CUSTOMERS} customers, ${ROUNDS} round(s), segments re-keyed over ${PARTITIONS} partitions;` +
      ` ${cpus().length} cores, load ${loadAtStart.map((l) => l.toFixed(1)).join(" ")} at start, ${load.map((l) => l.toFixed(1)).join(" ")} at end;` +
      ` median (min–max) over rounds\n`
  )
  console.log("| job | variant | events/s | CPU µs/event | events/s vs by hand | CPU vs by hand |")
  console.log("| --- | --- | ---: | ---: | ---: | ---: |")
  for (const r of rows)
    console.log(
      `| ${r.job} | ${r.variant} | ${spread(r.eventsPerSecond)} | ${spread(r.cpuMicrosPerEvent, 1)} | ${r.variant === "by hand" ? "" : spread(r.rateVsHand, 2, "×")} | ${r.variant === "by hand" ? "" : spread(r.cpuVsHand, 2, "×")} |`
    )
  console.log(
    `\nPostgreSQL, ${SINK_ROWS} customer_segments rows over ${Math.min(CUSTOMERS, SINK_ROWS)} keys in chunks of ${CHUNK}, ${SINK_ROUNDS} round(s):\n`
  )
  console.log("| writer | rows/s | vs bare loop |")
  console.log("| --- | ---: | ---: |")
  for (const s of sink) console.log(`| ${s.name} | ${spread(s.rowsPerSecond)} | ${spread(s.vsBare, 2, "×")} |`)

  const incomplete = runs.flatMap((r) => r.jobs.filter((j) => !j.completed))
  const differing = runs
    .filter((r) => r.variant !== "by hand")
    .flatMap((r) => {
      const hand = runs.find((h) => h.variant === "by hand" && h.round === r.round)!
      return (["sales", "segments"] as const)
        .filter((t) => r.tables[t] !== hand.tables[t])
        .map((t) => `${r.variant} round ${r.round}: ${t}`)
    })
  console.log(
    `\n${incomplete.length === 0 ? "every job read the whole input" : `INCOMPLETE: ${incomplete.map((j) => `${j.variant} ${j.job} round ${j.round}`).join("; ")}`}`
  )
  console.log(
    differing.length === 0
      ? "tables: every sluice run's realtime_sales_metrics and customer_segments equal the hand run's of its round, row for row"
      : `TABLES DIFFER: ${differing.join("; ")}`
  )
  console.log(`total time ${((Date.now() - started) / 1000).toFixed(0)} s`)
  mkdirSync(join(outFile, ".."), { recursive: true })
  writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        events: EVENTS,
        customers: CUSTOMERS,
        rounds: ROUNDS,
        partitions: PARTITIONS,
        load: { start: loadAtStart, end: load },
        summary: rows,
        sink,
        runs: runs.map((r) => ({ variant: r.variant, round: r.round, jobs: r.jobs }))
      },
      null,
      2
    )}\n`
  )
  log(`results in ${outFile}`)
  return incomplete.length === 0 && differing.length === 0
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130))
  })
}

main().then(
  async (ok) => {
    await stopAll()
    process.exit(ok ? 0 : 1)
  },
  async (error) => {
    console.error(error)
    await stopAll()
    process.exit(1)
  }
)
