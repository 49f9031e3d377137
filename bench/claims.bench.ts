/**
 * The claims enrichment end to end, every figure from one run on one machine:
 *
 *   pnpm bench claims            (or: node bench/claims.bench.ts --help)
 *
 * Parts: the embedded broker as a `sluice broker` child process, the real
 * PostgreSQL with a fresh database (100,000 seeded claims, dropped at the
 * end), generated payments (90% known claim ids) pre-produced to a
 * 6-partition `payment-events`. Each job runs as a child process of its own
 * (its CPU and memory are its own), with a fresh consumer group and fresh
 * output topics. The jobs:
 *
 * - raw pipe: kafkajs eachBatch consume → produce, no work (the ceiling);
 * - hand-written job: the claims work written by hand with kafkajs and
 *   postgres.js (`jobs/handJob.ts`: eachBatch, one `= ANY($1)` query per
 *   batch, exact decimals, the same dead letters, one sendBatch, commit), the
 *   reference Sluice's cost is stated against; it and the raw pipe fetch
 *   with the sizes Sluice's source uses by default (`jobs/fetchSizes.ts`);
 * - naive job: eachMessage, one SELECT and one send per payment, over a
 *   prefix of the input (it is slow);
 * - `sluice claims enrich` at 0% cache hits (TTLs 0) and at ~90% (see
 *   `hotSequence`), each in `ordered` and `unordered` mode.
 *
 * Two kinds of run, every one repeated `--rounds` times (2 by default; the
 * jobs alternate within a round, so a burst of load from elsewhere spoils
 * one round's figures, not one job's), figures shown as min–max:
 *
 * 1. saturation: the job over the pre-produced input until its group has
 *    committed all of it; throughput over the outputs' own timestamps (first
 *    to last output, so start-up is not counted), and ratios to the
 *    hand-written job and the raw pipe of the same round;
 * 2. fixed rate: the hand-written job and `sluice claims enrich` (ordered, 0%
 *    cache) each started on an empty topic, then payments produced at 2.5k,
 *    5k and 10k/s: the first `--warmup-seconds` warm the job up and are
 *    reported apart, the next `--rate-seconds` are measured (end-to-end
 *    latency, CPU µs per event). Before the first rate, each job sits idle
 *    for `--idle-seconds` with no traffic: its idle CPU.
 *
 * Measured per run: end-to-end latency (output timestamp minus input
 * timestamp), statements per 1,000 events counted at the server, peak RSS
 * (`VmHWM`) and CPU time of the job process. The tables go to stdout, the
 * same as JSON to `bench/results/claims.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import * as Claims from "@sluice/runner/jobs/claims/ClaimsTable"
import * as Generator from "@sluice/runner/jobs/claims/Generator"
import { Effect } from "effect"
import { type Admin, Kafka, logLevel, type Producer } from "kafkajs"
import postgres from "postgres"
import { adminUrl, createDatabase } from "./support/benchDatabase.ts"
import { drainTopics } from "./support/drainTopics.ts"
import { freePort } from "./support/freePort.ts"
import { hotSequence } from "./support/hotSequence.ts"
import { imageNodeFlags, splitFlags } from "./support/imageNodeFlags.ts"
import { type NodeChild, spawnNode, stopAll } from "./support/nodeChild.ts"
import { type Percentiles, percentiles } from "./support/percentiles.ts"
import * as ProcessStats from "./support/processStats.ts"
import { type InputRecord, produceAll, producePaced, sequenceHeader } from "./support/produceRecords.ts"
import { scrape, sumOf } from "./support/prometheusText.ts"
import * as QueryCounter from "./support/queryCounter.ts"
import { formatSpread, type Spread, spread } from "./support/spread.ts"
import { waitForCommitted } from "./support/topicOffsets.ts"

const { values: flags } = parseArgs({
  allowNegative: true,
  options: {
    events: { type: "string", default: "100000" },
    claims: { type: "string", default: "100000" },
    "naive-events": { type: "string", default: "5000" },
    rounds: { type: "string", default: "2" },
    rates: { type: "string", default: "2500,5000,10000" },
    "warmup-seconds": { type: "string", default: "5" },
    "rate-seconds": { type: "string", default: "10" },
    "idle-seconds": { type: "string", default: "10" },
    concurrency: { type: "string" },
    "cpu-prof": { type: "string" },
    only: { type: "string" },
    // Unset: the heap flags the container image sets (deploy/Dockerfile), so
    // CPU and peak RSS are measured as the job is deployed; "" runs it with
    // V8's defaults.
    "job-node-flags": { type: "string" },
    "sluice-flags": { type: "string", default: "" },
    saturation: { type: "boolean", default: true },
    "fixed-jobs": { type: "string", default: "hand,sluice" },
    out: { type: "string" },
    "sluice-root": { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(`node bench/claims.bench.ts [--events N] [--claims N] [--naive-events N] [--rounds N]
  [--rates R1,R2,... (events/s of the fixed-rate runs; "" for none)] [--warmup-seconds S] [--rate-seconds S]
  [--idle-seconds S (no traffic before the first rate; 0 to skip)]
  [--concurrency N (passed to sluice)] [--sluice-flags="FLAGS" (more flags for every sluice run)]
  [--cpu-prof DIR (profile every sluice run)]
  [--only TEXT (only the sluice saturation runs whose label contains TEXT)] [--no-saturation (fixed rates only)]
  [--fixed-jobs hand,sluice (the jobs of the fixed-rate runs)] [--out FILE]
  [--job-node-flags "FLAGS" (Node flags of the sluice job; default: the image's heap flags)]
  [--sluice-root DIR (run the sluice job of another checkout, for before/after runs)]`)
  process.exit(0)
}

const EVENTS = Number(flags.events)
const CLAIMS = Number(flags.claims)
const NAIVE_EVENTS = Math.min(EVENTS, Number(flags["naive-events"]))
const ROUNDS = Math.max(1, Number(flags.rounds))
const RATES = flags.rates
  .split(",")
  .filter((r) => r.trim() !== "")
  .map(Number)
const WARMUP_SECONDS = Number(flags["warmup-seconds"])
const RATE_SECONDS = Number(flags["rate-seconds"])
const IDLE_SECONDS = Number(flags["idle-seconds"])
const FIXED_JOBS = new Set(flags["fixed-jobs"].split(",").map((j) => j.trim()))
const JOB_NODE_FLAGS = flags["job-node-flags"] === undefined ? imageNodeFlags() : splitFlags(flags["job-node-flags"])
const EXTRA_SLUICE_FLAGS = splitFlags(flags["sluice-flags"])
const PARTITIONS = 6
const HOT_REPEAT_RATE = 0.9
const HOT_WINDOW = 5_000
const RUN_TIMEOUT_MS = 300_000
const root = join(import.meta.dirname, "..")
// Another checkout's job, so a change is measured against the code before it with the same bench.
const sluiceBin = join(flags["sluice-root"] ?? root, "packages", "runner", "bin", "sluice.js")
const outFile = flags.out ?? join(root, "bench", "results", "claims.json")
const generatorOptions = { seed: 2026, claims: CLAIMS, validClaimRate: 0.9, invalidRate: 0 }

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)
const round = (x: number, digits = 0) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------
// Inputs

const toInput = (r: Generator.GeneratedRecord): InputRecord => ({
  key: Buffer.from(r.key),
  value: Buffer.from(r.value),
  headers: Object.fromEntries(r.headers.map(([name, value]) => [name, Buffer.from(value)]))
})

/** Uniform input: record i is the generator's record i. */
const uniformRecord = (options: Generator.Options) => (i: number) => toInput(Generator.record(options, i, Date.now()))

/** Hot input: record i is the generator's record `order[i]`, ~90% of them seen within the last 5,000. */
const hotRecord = (options: Generator.Options, count: number) => {
  const order = hotSequence(count, { repeatRate: HOT_REPEAT_RATE, window: HOT_WINDOW, seed: options.seed })
  const made = new Map<number, InputRecord>()
  return (i: number) => {
    const index = order[i]!
    let record = made.get(index)
    if (record === undefined) {
      record = toInput(Generator.record(options, index, Date.now()))
      made.set(index, record)
    }
    return record
  }
}

// ---------------------------------------------------------------------------
// Jobs

type Kind = "raw" | "hand" | "naive" | "sluice"
type CacheMode = "0%" | "90%"
type Ordering = "ordered" | "unordered"

interface Context {
  readonly kafka: Kafka
  readonly admin: Admin
  readonly brokers: string
  readonly databaseUrl: string
  readonly counter: ReturnType<typeof QueryCounter.make>
}

let runNumber = 0

const sluiceFlags = (cache: CacheMode, ordering: Ordering): Array<string> => [
  "--ordering",
  ordering,
  "--cache-size",
  "100000",
  ...(cache === "0%" ? ["--cache-ttl", "0ms", "--cache-miss-ttl", "0ms"] : ["--cache-ttl", "10m"]),
  ...(flags.concurrency === undefined ? [] : ["--concurrency", flags.concurrency]),
  ...EXTRA_SLUICE_FLAGS
]

const createTopics = async (admin: Admin, topics: ReadonlyArray<string>) => {
  await admin.createTopics({
    topics: topics.map((topic) => ({ topic, numPartitions: PARTITIONS })),
    waitForLeaders: true
  })
}

interface JobSpec {
  readonly kind: Kind
  readonly label: string
  readonly input: string
  readonly cache?: CacheMode
  readonly ordering?: Ordering
}

interface Started {
  readonly child: NodeChild
  readonly outputs: ReadonlyArray<string>
  readonly metricsPort?: number
  readonly flags?: ReadonlyArray<string>
  /** Resolves once the job has joined its group (sluice: `/readyz` answers). */
  readonly ready: () => Promise<void>
}

const untilReady = async (metricsPort: number) => {
  // Ready means Kafka and the database answer and partitions are assigned.
  const readyBy = performance.now() + 60_000
  while (performance.now() < readyBy) {
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(
      (r) => r.ok,
      () => false
    )
    if (ready) return
    await sleep(200)
  }
  throw new Error(`the job on metrics port ${metricsPort} was not ready within 60 s`)
}

const startJob = async (ctx: Context, spec: JobSpec, group: string, id: number): Promise<Started> => {
  const enriched = `enriched-payments-${id}`
  const failed = `failed-payments-${id}`
  const dlq = `payment-events-dlq-${id}`
  const joined = (child: NodeChild) => async () => {
    await child.waitFor(/joined the group/, 60_000)
  }
  if (spec.kind === "raw") {
    await createTopics(ctx.admin, [enriched])
    const child = spawnNode(join(root, "bench", "jobs", "rawPipe.ts"), [
      ...["--brokers", ctx.brokers, "--input", spec.input, "--output", enriched, "--group", group]
    ])
    return { child, outputs: [enriched], ready: joined(child) }
  }
  await createTopics(ctx.admin, [enriched, failed, dlq])
  if (spec.kind === "naive" || spec.kind === "hand") {
    const script = spec.kind === "naive" ? "naiveJob.ts" : "handJob.ts"
    const child = spawnNode(join(root, "bench", "jobs", script), [
      ...["--brokers", ctx.brokers, "--database-url", ctx.databaseUrl, "--input", spec.input],
      ...["--enriched", enriched, "--failed", failed, "--group", group],
      ...(spec.kind === "hand" ? ["--dlq", dlq] : [])
    ])
    return { child, outputs: [enriched, failed, dlq], ready: joined(child) }
  }
  const metricsPort = await freePort()
  const profile = flags["cpu-prof"]
  const jobFlags = sluiceFlags(spec.cache!, spec.ordering!)
  const child = spawnNode(sluiceBin, ["claims", "enrich", ...jobFlags], {
    env: {
      KAFKA_BOOTSTRAP_SERVERS: ctx.brokers,
      DATABASE_URL: ctx.databaseUrl,
      PAYMENT_EVENTS_TOPIC: spec.input,
      ENRICHED_PAYMENTS_TOPIC: enriched,
      FAILED_PAYMENTS_TOPIC: failed,
      PAYMENT_EVENTS_DLQ_TOPIC: dlq,
      GROUP_ID: group,
      CLIENT_ID: group,
      METRICS_PORT: String(metricsPort)
    },
    nodeFlags: [
      ...JOB_NODE_FLAGS,
      ...(profile === undefined
        ? []
        : [
            "--cpu-prof",
            `--cpu-prof-dir=${profile}`,
            `--cpu-prof-name=${spec.label.replace(/[^a-z0-9]+/gi, "-")}-${id}.cpuprofile`
          ])
    ]
  })
  return { child, outputs: [enriched, failed, dlq], metricsPort, flags: jobFlags, ready: () => untilReady(metricsPort) }
}

interface Analysed {
  readonly count: number
  readonly first: number
  readonly last: number
  readonly windowMs: number
  readonly eventsPerSecond: number
  readonly latencyMs: Percentiles
  /** Fixed-rate runs: latency of the outputs of the warm-up inputs (sequence below `warmup`). */
  readonly warmupLatencyMs: Percentiles
  /** Fixed-rate runs: outputs of the measured inputs, and the last of their timestamps. */
  readonly measuredCount: number
  readonly measuredLast: number
}

/** Latencies and throughput of a run's outputs, matched to inputs by the sequence header. */
const analyse = async (
  ctx: Context,
  outputs: ReadonlyArray<string>,
  inputTimestamps: Float64Array,
  warmup = 0
): Promise<Analysed> => {
  const latencies: Array<number> = []
  const warm: Array<number> = []
  let first = Number.POSITIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  let measuredLast = Number.NEGATIVE_INFINITY
  const count = await drainTopics(ctx.kafka, outputs, (record) => {
    const seq = Number(record.headers[sequenceHeader])
    const input = inputTimestamps[seq]
    if (input !== undefined) {
      if (seq < warmup) warm.push(record.timestamp - input)
      else {
        latencies.push(record.timestamp - input)
        if (record.timestamp > measuredLast) measuredLast = record.timestamp
      }
    }
    if (record.timestamp < first) first = record.timestamp
    if (record.timestamp > last) last = record.timestamp
  })
  const windowMs = Math.max(1, last - first)
  return {
    count,
    first,
    last,
    windowMs,
    eventsPerSecond: count < 2 ? 0 : ((count - 1) * 1000) / windowMs,
    latencyMs: percentiles(latencies),
    warmupLatencyMs: percentiles(warm),
    measuredCount: latencies.length,
    measuredLast
  }
}

// ---------------------------------------------------------------------------
// Saturation runs

interface RunResult {
  readonly label: string
  readonly kind: Kind
  readonly round: number
  readonly cache?: CacheMode
  readonly ordering?: Ordering
  readonly inputTopic: string
  /** Inputs the run had to commit before it was stopped. */
  readonly target: number
  readonly completed: boolean
  readonly outputs: number
  readonly eventsPerSecond: number
  readonly windowMs: number
  /** Output timestamp minus input timestamp (mostly time waiting in the topic: the input was produced before). */
  readonly latencyMs: Percentiles
  readonly statements: number
  readonly statementsPer1000: number
  readonly cacheHitRate?: number
  readonly clientQueries?: number
  readonly peakRssMb: number
  /** CPU time of the job process, start-up included. */
  readonly cpuSeconds: number
  /** CPU time of the job process between its first and last output, per output. */
  readonly cpuMicrosPerEvent: number
  readonly exitCode: number | null
  readonly sluiceFlags?: ReadonlyArray<string>
}

/** Runs one job over a pre-produced input until its group has committed `target` records. */
const saturated = async (
  ctx: Context,
  spec: JobSpec & { readonly round: number; readonly inputTimestamps: Float64Array; readonly target: number }
): Promise<RunResult> => {
  const id = ++runNumber
  const group = `bench-${spec.kind}-${process.pid}-${id}`
  await ctx.counter.waitForNoBackends()
  const statementsBefore = await ctx.counter.transactions()
  log(`${spec.label} (round ${spec.round}): starting (group ${group})`)
  const started = await startJob(ctx, spec, group, id)
  const watcher = ProcessStats.watch(started.child.pid)
  const progress = await waitForCommitted(ctx.admin, group, spec.input, spec.target, {
    timeoutMillis: RUN_TIMEOUT_MS,
    abort: started.child.exited
  })
  const metrics = started.metricsPort === undefined ? undefined : await scrape(started.metricsPort)
  const stats = watcher.current()
  const exitCode = await started.child.stop()
  watcher.stop()
  if (!progress.reached) {
    log(
      `${spec.label}: committed only ${progress.committed} of ${spec.target}; stderr:\n${started.child.output().stderr.slice(-3000)}`
    )
  }
  await ctx.counter.waitForNoBackends()
  const statements = (await ctx.counter.transactions()) - statementsBefore
  const analysed = await analyse(ctx, started.outputs, spec.inputTimestamps)
  const hits = metrics === undefined ? Number.NaN : sumOf(metrics, "sluice_lookup_cache_hits_total")
  const misses = metrics === undefined ? Number.NaN : sumOf(metrics, "sluice_lookup_cache_misses_total")
  const result: RunResult = {
    label: spec.label,
    kind: spec.kind,
    round: spec.round,
    ...(spec.cache === undefined ? {} : { cache: spec.cache }),
    ...(spec.ordering === undefined ? {} : { ordering: spec.ordering }),
    inputTopic: spec.input,
    target: spec.target,
    completed: progress.reached,
    outputs: analysed.count,
    eventsPerSecond: analysed.eventsPerSecond,
    windowMs: analysed.windowMs,
    latencyMs: analysed.latencyMs,
    statements,
    statementsPer1000: analysed.count === 0 ? Number.NaN : (statements * 1000) / analysed.count,
    ...(spec.kind === "sluice"
      ? {
          cacheHitRate: hits / (hits + misses),
          clientQueries: metrics === undefined ? Number.NaN : sumOf(metrics, "sluice_lookup_batch_size_count"),
          sluiceFlags: started.flags!
        }
      : {}),
    peakRssMb: (stats?.peakRssBytes ?? Number.NaN) / 2 ** 20,
    cpuSeconds: (stats?.cpuMillis ?? Number.NaN) / 1000,
    cpuMicrosPerEvent: (watcher.cpuBetween(analysed.first, analysed.last) * 1000) / Math.max(1, analysed.count),
    exitCode
  }
  log(
    `${spec.label} (round ${spec.round}): ${Math.round(result.eventsPerSecond)} events/s over ${result.outputs} outputs, ` +
      `${round(result.statementsPer1000, 1)} statements/1k, ${round(result.cpuMicrosPerEvent)} µs CPU/event, ` +
      `peak RSS ${round(result.peakRssMb)} MB, exit ${exitCode}`
  )
  return result
}

// ---------------------------------------------------------------------------
// Fixed-rate runs

interface RateResult {
  readonly label: string
  readonly kind: Kind
  readonly round: number
  readonly rate: number
  readonly produced: number
  readonly outputs: number
  readonly completed: boolean
  /** Latency of the outputs of the measured inputs (after the warm-up). */
  readonly latencyMs: Percentiles
  /** Latency of the outputs of the warm-up inputs, reported apart. */
  readonly warmupLatencyMs: Percentiles
  /** CPU of the job from the first measured input to its last output, per measured output. */
  readonly cpuMicrosPerEvent: number
  /** CPU of the job with no traffic, share of one core; measured before the round's first rate only. */
  readonly idleCpuPercent?: number
  readonly peakRssMb: number
  readonly sluiceFlags?: ReadonlyArray<string>
}

/**
 * Starts the job on an empty topic and waits until it has joined its group,
 * optionally measures its CPU while nothing arrives, then produces payments
 * at `rate` for the warm-up and the measured seconds.
 */
const fixedRate = async (
  ctx: Context,
  spec: Omit<JobSpec, "input"> & { readonly round: number; readonly rate: number; readonly idleSeconds: number }
): Promise<RateResult> => {
  const id = ++runNumber
  const group = `bench-rate-${spec.kind}-${process.pid}-${id}`
  const input = `payment-events-live-${id}`
  const warmup = Math.round(spec.rate * WARMUP_SECONDS)
  const count = warmup + Math.max(1, Math.round(spec.rate * RATE_SECONDS))
  const options = { ...generatorOptions, seed: generatorOptions.seed + id }
  const recordAt = spec.cache === "90%" ? hotRecord(options, count) : uniformRecord(options)
  await createTopics(ctx.admin, [input])
  const label = `${spec.label} at ${spec.rate}/s`
  log(`${label} (round ${spec.round}): starting`)
  const started = await startJob(ctx, { ...spec, input }, group, id)
  const watcher = ProcessStats.watch(started.child.pid)
  await started.ready()
  let idleCpuPercent: number | undefined
  if (spec.idleSeconds > 0) {
    // Start-up work (JIT, the first fetches) settles first.
    await sleep(3_000)
    const from = ProcessStats.sample(started.child.pid)
    const at = performance.now()
    await sleep(spec.idleSeconds * 1000)
    const to = ProcessStats.sample(started.child.pid)
    idleCpuPercent =
      from === undefined || to === undefined
        ? Number.NaN
        : ((to.cpuMillis - from.cpuMillis) * 100) / (performance.now() - at)
    log(`${label}: idle CPU ${idleCpuPercent.toFixed(2)}% of a core over ${spec.idleSeconds} s`)
  }
  const producer = ctx.kafka.producer()
  await producer.connect()
  const timestamps = await producePaced(producer, input, count, spec.rate, recordAt)
  await producer.disconnect()
  const progress = await waitForCommitted(ctx.admin, group, input, count, {
    timeoutMillis: 120_000,
    abort: started.child.exited
  })
  const stats = watcher.current()
  await started.child.stop()
  watcher.stop()
  const analysed = await analyse(ctx, started.outputs, timestamps, warmup)
  const result: RateResult = {
    label: spec.label,
    kind: spec.kind,
    round: spec.round,
    rate: spec.rate,
    produced: count,
    outputs: analysed.count,
    completed: progress.reached,
    latencyMs: analysed.latencyMs,
    warmupLatencyMs: analysed.warmupLatencyMs,
    cpuMicrosPerEvent:
      (watcher.cpuBetween(timestamps[warmup] ?? Number.NaN, analysed.measuredLast) * 1000) /
      Math.max(1, analysed.measuredCount),
    ...(idleCpuPercent === undefined ? {} : { idleCpuPercent }),
    peakRssMb: (stats?.peakRssBytes ?? Number.NaN) / 2 ** 20,
    ...(started.flags === undefined ? {} : { sluiceFlags: started.flags })
  }
  log(
    `${label} (round ${spec.round}): p95 ${result.latencyMs.p95} ms, p99 ${result.latencyMs.p99} ms ` +
      `(warm-up p95 ${result.warmupLatencyMs.p95} ms), ${round(result.cpuMicrosPerEvent)} µs CPU/event over ${result.outputs} outputs`
  )
  return result
}

// ---------------------------------------------------------------------------
// Calibration of the statement counters

const calibrate = async (databaseUrl: string, counter: ReturnType<typeof QueryCounter.make>) => {
  const statements = 100
  const keysPerStatement = 50
  const measure = async (run: (sql: postgres.Sql) => Promise<void>) => {
    const scansBefore = await QueryCounter.tableScans(databaseUrl, "claims")
    await counter.waitForNoBackends()
    const before = await counter.transactions()
    const sql = postgres(databaseUrl, { max: 1, prepare: true, onnotice: () => {} })
    await run(sql)
    await sql.end()
    await counter.waitForNoBackends()
    const transactions = (await counter.transactions()) - before
    const tableScans = (await QueryCounter.tableScans(databaseUrl, "claims")) - scansBefore
    return { statements, transactions, tableScans }
  }
  const single = await measure(async (sql) => {
    for (let i = 1; i <= statements; i++) await sql`SELECT member_id FROM claims WHERE claim_id = ${Claims.claimId(i)}`
  })
  const batched = await measure(async (sql) => {
    for (let i = 0; i < statements; i++) {
      const keys = Array.from({ length: keysPerStatement }, (_, k) => Claims.claimId(1 + i * keysPerStatement + k))
      await sql.unsafe("SELECT member_id FROM claims WHERE claim_id = ANY($1::varchar[])", [keys], { prepare: true })
    }
  })
  return { keysPerStatement, single, batched }
}

// ---------------------------------------------------------------------------
// Report

const fmt = (x: number | null | undefined, digits = 0) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits)

const labels = <T extends { readonly label: string }>(runs: ReadonlyArray<T>) => [...new Set(runs.map((r) => r.label))]

const of = <T extends { readonly label: string }>(runs: ReadonlyArray<T>, label: string) =>
  runs.filter((r) => r.label === label)

/** The per-round ratio `f(run) / f(reference of the same round)`, as a spread over rounds. */
const ratio = <T extends { readonly round: number }>(
  runs: ReadonlyArray<T>,
  references: ReadonlyArray<T>,
  f: (r: T) => number
): Spread =>
  spread(
    runs.map((r) => {
      const ref = references.find((x) => x.round === r.round)
      return ref === undefined ? Number.NaN : f(r) / f(ref)
    })
  )

const saturationTable = (runs: ReadonlyArray<RunResult>) => {
  const hand = runs.filter((r) => r.kind === "hand")
  const raw = runs.filter((r) => r.kind === "raw")
  const lines = [
    "| run | events/s | × hand-written | × raw pipe | CPU µs / event | CPU × hand-written | statements / 1k | cache hits | peak RSS MB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  for (const label of labels(runs)) {
    const rs = of(runs, label)
    const incomplete = rs.some((r) => !r.completed) ? " (incomplete)" : ""
    lines.push(
      `| ${label}${incomplete} | ${formatSpread(spread(rs.map((r) => r.eventsPerSecond)))} | ` +
        `${formatSpread(
          ratio(rs, hand, (r) => r.eventsPerSecond),
          2
        )} | ${formatSpread(
          ratio(rs, raw, (r) => r.eventsPerSecond),
          2
        )} | ` +
        `${formatSpread(spread(rs.map((r) => r.cpuMicrosPerEvent)))} | ${formatSpread(
          ratio(rs, hand, (r) => r.cpuMicrosPerEvent),
          2
        )} | ` +
        `${formatSpread(spread(rs.map((r) => r.statementsPer1000)), 1)} | ` +
        `${rs[0]!.cacheHitRate === undefined ? "-" : `${formatSpread(spread(rs.map((r) => r.cacheHitRate! * 100)))}%`} | ` +
        `${formatSpread(spread(rs.map((r) => r.peakRssMb)))} |`
    )
  }
  return lines.join("\n")
}

const rateTable = (runs: ReadonlyArray<RateResult>) => {
  const lines = [
    "| job | rate / s | e2e p50 ms | e2e p95 ms | e2e p99 ms | warm-up p95 ms | CPU µs / event | CPU × hand-written | idle CPU % of a core | peak RSS MB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  for (const rate of [...new Set(runs.map((r) => r.rate))]) {
    const atRate = runs.filter((r) => r.rate === rate)
    const hand = atRate.filter((r) => r.kind === "hand")
    for (const label of labels(atRate)) {
      const rs = of(atRate, label)
      const incomplete = rs.some((r) => !r.completed) ? " (incomplete)" : ""
      const idle = rs.filter((r) => r.idleCpuPercent !== undefined).map((r) => r.idleCpuPercent!)
      lines.push(
        `| ${label}${incomplete} | ${rate} | ${formatSpread(spread(rs.map((r) => r.latencyMs.p50)))} | ` +
          `${formatSpread(spread(rs.map((r) => r.latencyMs.p95)))} | ${formatSpread(spread(rs.map((r) => r.latencyMs.p99)))} | ` +
          `${formatSpread(spread(rs.map((r) => r.warmupLatencyMs.p95)))} | ${formatSpread(spread(rs.map((r) => r.cpuMicrosPerEvent)))} | ` +
          `${formatSpread(
            ratio(rs, hand, (r) => r.cpuMicrosPerEvent),
            2
          )} | ${idle.length === 0 ? "-" : formatSpread(spread(idle), 2)} | ` +
          `${formatSpread(spread(rs.map((r) => r.peakRssMb)))} |`
      )
    }
  }
  return lines.join("\n")
}

interface Target {
  readonly target: string
  readonly run: string
  readonly measured: string
  readonly met: boolean
}

// Ratios are judged on their median over the rounds, latencies, statements and
// memory on their worst round; the measured column shows the spread.
const targets = (runs: ReadonlyArray<RunResult>, rates: ReadonlyArray<RateResult>): Array<Target> => {
  const out: Array<Target> = []
  const hand = runs.filter((r) => r.kind === "hand")
  const raw = runs.filter((r) => r.kind === "raw")
  const naive = runs.filter((r) => r.kind === "naive")
  const sluice = runs.filter((r) => r.kind === "sluice")
  const ratioTarget = (target: string, run: string, s: Spread, met: (median: number) => boolean) =>
    out.push({ target, run, measured: `${formatSpread(s, 2)}× (median ${fmt(s.median, 2)}×)`, met: met(s.median) })
  for (const label of labels(sluice.filter((r) => r.cache === "0%"))) {
    const rs = of(sluice, label)
    ratioTarget(
      "events/s ≥ 0.9× hand-written, 0% cache",
      label,
      ratio(rs, hand, (r) => r.eventsPerSecond),
      (m) => m >= 0.9
    )
    ratioTarget(
      "CPU / event ≤ 1.1× hand-written, 0% cache",
      label,
      ratio(rs, hand, (r) => r.cpuMicrosPerEvent),
      (m) => m <= 1.1
    )
    ratioTarget(
      "events/s ≥ 0.8× raw pipe, 0% cache",
      label,
      ratio(rs, raw, (r) => r.eventsPerSecond),
      (m) => m >= 0.8
    )
    ratioTarget(
      "events/s ≥ 10× naive, 0% cache",
      label,
      ratio(rs, naive, (r) => r.eventsPerSecond),
      (m) => m >= 10
    )
  }
  for (const label of labels(sluice)) {
    const rs = of(sluice, label)
    const statements = spread(rs.map((r) => r.statementsPer1000))
    out.push({
      target: "≤ 20 statements / 1,000 events",
      run: label,
      measured: formatSpread(statements, 1),
      met: statements.max <= 20
    })
    const rss = spread(rs.map((r) => r.peakRssMb))
    out.push({ target: "peak RSS < 300 MB", run: label, measured: `${formatSpread(rss)} MB`, met: rss.max < 300 })
  }
  const topRate = Math.max(...rates.map((r) => r.rate))
  const sluiceAtTop = rates.filter((r) => r.kind === "sluice" && r.rate === topRate)
  if (sluiceAtTop.length > 0) {
    const label = `${sluiceAtTop[0]!.label} at ${topRate}/s`
    const p95 = spread(sluiceAtTop.map((r) => r.latencyMs.p95))
    const p99 = spread(sluiceAtTop.map((r) => r.latencyMs.p99))
    out.push({
      target: `p95 < 100 ms at ${topRate}/s`,
      run: label,
      measured: `${formatSpread(p95)} ms`,
      met: p95.max < 100
    })
    out.push({
      target: `p99 < 250 ms at ${topRate}/s`,
      run: label,
      measured: `${formatSpread(p99)} ms`,
      met: p99.max < 250
    })
    ratioTarget(
      `CPU / event ≤ 1.2× hand-written at ${topRate}/s`,
      label,
      ratio(
        sluiceAtTop,
        rates.filter((r) => r.kind === "hand" && r.rate === topRate),
        (r) => r.cpuMicrosPerEvent
      ),
      (m) => m <= 1.2
    )
  }
  const idle = spread(
    rates.filter((r) => r.kind === "sluice" && r.idleCpuPercent !== undefined).map((r) => r.idleCpuPercent!)
  )
  if (Number.isFinite(idle.max)) {
    out.push({
      target: "idle CPU < 2% of a core",
      run: "sluice claims enrich, no traffic",
      measured: `${formatSpread(idle, 2)}%`,
      met: idle.max < 2
    })
  }
  return out
}

// ---------------------------------------------------------------------------

const main = async () => {
  const began = performance.now()
  const loadAtStart = loadavg()
  const db = await createDatabase("sluice_bench_claims")
  let broker: NodeChild | undefined
  const counter = QueryCounter.make(adminUrl, db.name)
  try {
    log(`database ${db.name}: seeding ${CLAIMS} claims`)
    const seedSql = postgres(db.url, { max: 2, onnotice: () => {} })
    await Effect.runPromise(Effect.andThen(Claims.migrate(seedSql), Claims.seed(seedSql, { count: CLAIMS })))
    await seedSql.unsafe("ANALYZE claims")
    await seedSql.end()
    const calibration = await calibrate(db.url, counter)
    log(
      `calibration: ${calibration.single.statements} single-key statements → ${calibration.single.transactions} transactions, ` +
        `${calibration.single.tableScans} table scans; ${calibration.batched.statements} statements of ` +
        `${calibration.keysPerStatement} keys → ${calibration.batched.transactions} transactions, ${calibration.batched.tableScans} table scans`
    )

    broker = spawnNode(sluiceBin, ["broker", "--port", "0"])
    const brokers = (await broker.waitFor(/listening on (\S+)/, 60_000))[1]!
    log(`broker ${brokers} (pid ${broker.pid})`)
    const kafka = new Kafka({ brokers: [brokers], clientId: "bench", logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const ctx: Context = { kafka, admin, brokers, databaseUrl: db.url, counter }

    const uniformTopic = "payment-events"
    const hotTopic = "payment-events-hot"
    await createTopics(admin, [uniformTopic, hotTopic])
    const producer: Producer = kafka.producer()
    await producer.connect()
    log(`producing ${EVENTS} payments to ${uniformTopic} and ${EVENTS} to ${hotTopic}`)
    const uniformTimestamps = await produceAll(producer, uniformTopic, EVENTS, uniformRecord(generatorOptions))
    const hotTimestamps = await produceAll(producer, hotTopic, EVENTS, hotRecord(generatorOptions, EVENTS))
    await producer.disconnect()

    const uniform = { input: uniformTopic, inputTimestamps: uniformTimestamps, target: EVENTS }
    const runs: Array<RunResult> = []
    const rates: Array<RateResult> = []
    for (let round = 1; round <= ROUNDS; round++) {
      if (flags.saturation) await saturationRound(round)
      for (const [i, rate] of RATES.entries()) {
        const idleSeconds = i === 0 ? IDLE_SECONDS : 0
        if (FIXED_JOBS.has("hand")) {
          rates.push(await fixedRate(ctx, { kind: "hand", label: "hand-written job", round, rate, idleSeconds }))
        }
        if (FIXED_JOBS.has("sluice")) {
          rates.push(
            await fixedRate(ctx, {
              kind: "sluice",
              label: "sluice ordered, 0% cache",
              cache: "0%",
              ordering: "ordered",
              round,
              rate,
              idleSeconds
            })
          )
        }
      }
    }
    async function saturationRound(round: number) {
      runs.push(await saturated(ctx, { kind: "raw", label: "raw pipe (kafkajs eachBatch)", round, ...uniform }))
      runs.push(
        await saturated(ctx, { kind: "hand", label: "hand-written job (kafkajs eachBatch)", round, ...uniform })
      )
      runs.push(
        await saturated(ctx, {
          kind: "naive",
          label: `naive job (first ${NAIVE_EVENTS} events)`,
          round,
          ...uniform,
          target: NAIVE_EVENTS
        })
      )
      for (const cache of ["0%", "90%"] as const) {
        for (const ordering of ["ordered", "unordered"] as const) {
          const label = `sluice ${ordering}, ${cache} cache`
          if (flags.only !== undefined && !label.includes(flags.only)) continue
          runs.push(
            await saturated(ctx, {
              kind: "sluice",
              label,
              round,
              cache,
              ordering,
              ...(cache === "0%" ? uniform : { input: hotTopic, inputTimestamps: hotTimestamps, target: EVENTS })
            })
          )
        }
      }
    }
    await admin.disconnect()

    const goals = targets(runs, rates)
    const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(1)).join(" ")
    console.log(
      `\nclaims end to end: ${EVENTS} payments (${PARTITIONS} partitions, ~90% known claims), ${CLAIMS} claims in PostgreSQL, ` +
        `embedded broker in its own process, ${ROUNDS} rounds; ${cpus().length} cores, load average ${load(loadAtStart)} at the start, ` +
        `${load(loadavg())} at the end\n`
    )
    console.log(saturationTable(runs))
    console.log(
      [
        "",
        "- Every figure is min–max over the rounds; a ratio is taken within a round (the job against the baseline run just before it).",
        `- events/s: outputs over the span of their own timestamps (job start-up not counted). The naive job runs over the first ${NAIVE_EVENTS} events only.`,
        `- statements / 1k: transactions of the bench database at the server (pg_stat_database) per 1,000 outputs; calibrated: ` +
          `${calibration.batched.statements} statements of ${calibration.keysPerStatement} keys → ${calibration.batched.transactions} transactions.`,
        `- 90% cache: input where ~90% of payments repeat a claim seen within the last ${HOT_WINDOW} (cache 100,000 entries, TTL 10m);`,
        "  0% cache: uniform input, cache TTLs 0. cache hits are read from the job's /metrics.",
        "- peak RSS: VmHWM of the job process. CPU µs / event: its user+system time between its first and last output, per output.",
        `- the sluice job's Node flags: ${JOB_NODE_FLAGS.length === 0 ? "V8's defaults" : JOB_NODE_FLAGS.join(" ")}` +
          " (the baselines run with V8's defaults).",
        ""
      ].join("\n")
    )
    if (rates.length > 0) {
      console.log(rateTable(rates))
      console.log(
        [
          "",
          `- Fixed rate: the job is started on an empty topic, then payments arrive at the rate for ${WARMUP_SECONDS} s of warm-up`,
          `  (its latency is the warm-up column) and ${RATE_SECONDS} s measured. e2e latency: output timestamp minus input timestamp.`,
          "  CPU µs / event: the job's CPU from the first measured input to its last output, per measured output.",
          `- idle CPU: the job's CPU over ${IDLE_SECONDS} s with no traffic, after it joined its group (before the first rate).`,
          ""
        ].join("\n")
      )
    }
    console.log("| target | run | measured | met |\n| --- | --- | ---: | :---: |")
    for (const g of goals) console.log(`| ${g.target} | ${g.run} | ${g.measured} | ${g.met ? "yes" : "NO"} |`)
    const result = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        loadavgAtStart: loadAtStart.map((l) => round(l, 2)),
        loadavgAtEnd: loadavg().map((l) => round(l, 2))
      },
      config: {
        events: EVENTS,
        claims: CLAIMS,
        partitions: PARTITIONS,
        naiveEvents: NAIVE_EVENTS,
        rounds: ROUNDS,
        rates: RATES,
        warmupSeconds: WARMUP_SECONDS,
        rateSeconds: RATE_SECONDS,
        idleSeconds: IDLE_SECONDS,
        generator: generatorOptions,
        hotInput: { repeatRate: HOT_REPEAT_RATE, window: HOT_WINDOW }
      },
      calibration,
      runs,
      fixedRateRuns: rates,
      targets: goals,
      benchSeconds: round((performance.now() - began) / 1000)
    }
    mkdirSync(join(outFile, ".."), { recursive: true })
    writeFileSync(
      outFile,
      `${JSON.stringify(result, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`
    )
    log(`wrote ${outFile} after ${Math.round((performance.now() - began) / 1000)} s`)
  } finally {
    await stopAll()
    await broker?.stop(10_000)
    await counter.close()
    await db.drop()
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
