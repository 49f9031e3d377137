/**
 * The claims enrich job, exactly-once against at-least-once, in one run:
 *
 *   pnpm bench claimsExactlyOnce      (or: node bench/claimsExactlyOnce.bench.ts --help)
 *
 * The embedded broker runs as a `sluice broker` child process, PostgreSQL
 * holds a fresh database with 100,000 seeded claims, and 100,000 generated
 * payments are produced once to a 6-partition input. Then, alternating for
 * `--rounds` rounds, `sluice claims enrich` runs over the whole input with
 * `--processing-guarantee at-least-once` and with `exactly-once`, each run
 * with a fresh consumer group and fresh output topics, at 0% cache (TTLs 0:
 * every payment is looked up). Throughput is outputs over the span of their
 * own timestamps; the reported ratio is the median of the rounds' ratios.
 *
 * Latency: each guarantee then runs while payments are produced at half the
 * median at-least-once throughput, and a `read_committed` consumer of the
 * outputs records when each output became visible to it. End-to-end latency
 * is that moment minus the input's timestamp: for exactly-once it includes
 * waiting for the transaction's commit, which is what a reader sees. The
 * first `--warmup-seconds` of payments warm the job up (a cold job builds a
 * backlog while it compiles its hot paths); their latency is reported apart,
 * and the percentiles and CPU figures are those of the seconds after.
 *
 * `--split` adds a `read_uncommitted` reader of the same outputs, so each
 * output's latency splits in two: until it was appended (the pipeline, and
 * for exactly-once the wait of an output kept aside for the next
 * transaction), and from then until a `read_committed` reader saw it (the
 * wait for the partition's cut and its commit). The second reader takes CPU
 * from the same two cores, so the split runs are not the headline figures.
 *
 * `--timeline` prints the p95 of each second of each latency run as a chart
 * (the JSON has each second's percentiles either way): whether a tail is
 * steady, or a few seconds when the job fell behind and caught up.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import * as Claims from "@sluice/runner/jobs/claims/ClaimsTable"
import * as Generator from "@sluice/runner/jobs/claims/Generator"
import { Effect } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"
import postgres from "postgres"
import { createDatabase } from "./support/benchDatabase.ts"
import { cpuProfileFlags } from "./support/cpuProfile.ts"
import { freePort } from "./support/freePort.ts"
import { type NodeChild, spawnNode, stopAll } from "./support/nodeChild.ts"
import { type Percentiles, percentiles } from "./support/percentiles.ts"
import * as ProcessStats from "./support/processStats.ts"
import { type InputRecord, produceAll, producePaced, sequenceHeader } from "./support/produceRecords.ts"
import * as Timeline from "./support/timeline.ts"
import { waitForCommitted } from "./support/topicOffsets.ts"

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    claims: { type: "string", default: "100000" },
    rounds: { type: "string", default: "3" },
    "latency-seconds": { type: "string", default: "20" },
    "warmup-seconds": { type: "string", default: "5" },
    rate: { type: "string" },
    "sluice-root": { type: "string" },
    "cpu-prof": { type: "string" },
    split: { type: "boolean", default: false },
    timeline: { type: "boolean", default: false },
    "transaction-scope": { type: "string", default: "partition" },
    "commit-interval": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(
    "node bench/claimsExactlyOnce.bench.ts [--events N] [--claims N] [--rounds N] [--latency-seconds S] [--warmup-seconds S] [--rate N] [--split] [--timeline] [--sluice-root DIR] [--cpu-prof DIR] [--transaction-scope partition|member] [--commit-interval D] [--out FILE]\n" +
      "  --rounds N       saturated rounds; 0 runs the latency phase alone (then --rate is needed)\n" +
      "  --rate N         the fixed rate of the latency runs (default: half the at-least-once median)\n" +
      "  --split          also read the outputs read_uncommitted: latency until appended, and from then until visible\n" +
      "  --timeline       chart the p95 of each second of the latency runs\n" +
      "  --sluice-root D  run the jobs of another checkout of the repository (a before/after comparison)\n" +
      "  --cpu-prof DIR   write a V8 CPU profile of the job of each latency run to DIR\n" +
      "  --transaction-scope S  the exactly-once job's transactions: partition (default) or member (KIP-447)\n" +
      "  --commit-interval D    the exactly-once job's commit interval (its default: 50ms)"
  )
  process.exit(0)
}

const EVENTS = Number(flags.events)
const CLAIMS = Number(flags.claims)
const ROUNDS = Number(flags.rounds)
if (ROUNDS < 1 && flags.rate === undefined) {
  console.error("--rounds 0 needs --rate: there is no at-least-once maximum to halve")
  process.exit(2)
}
const LATENCY_SECONDS = Number(flags["latency-seconds"])
const SPLIT = flags.split === true
const TRANSACTION_SCOPE = flags["transaction-scope"]
if (TRANSACTION_SCOPE !== "partition" && TRANSACTION_SCOPE !== "member") {
  console.error(`--transaction-scope must be partition or member, not "${TRANSACTION_SCOPE}"`)
  process.exit(2)
}
const WARMUP_SECONDS = Number(flags["warmup-seconds"])
const PARTITIONS = 6
const root = join(import.meta.dirname, "..")
const sluiceBin = join(flags["sluice-root"] ?? root, "packages", "runner", "bin", "sluice.js")
const outFile = flags.out ?? join(root, "bench", "results", "claims-exactly-once.json")
const generatorOptions = { seed: 2027, claims: CLAIMS, validClaimRate: 0.9, invalidRate: 0 }
const guarantees = ["at-least-once", "exactly-once"] as const
type Guarantee = (typeof guarantees)[number]

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

const recordAt = (options: Generator.Options) => (i: number) => {
  const r = Generator.record(options, i, Date.now())
  return {
    key: Buffer.from(r.key),
    value: Buffer.from(r.value),
    headers: Object.fromEntries(r.headers.map(([name, value]) => [name, Buffer.from(value)]))
  } satisfies InputRecord
}

interface Context {
  readonly kafka: Kafka
  readonly admin: Admin
  readonly brokers: string
  readonly brokerPid: number
  readonly databaseUrl: string
}

/**
 * CPU milliseconds of each process over the fixed-rate phase: the job and
 * the broker (the system under test), and this process, which is the load
 * generator and the read_committed reader.
 */
interface CpuSplit {
  readonly seconds: number
  readonly job: number
  readonly broker: number
  readonly bench: number
}

const cpuMeter = (jobPid: number, brokerPid: number) => {
  const cpuOf = (pid: number) => ProcessStats.sample(pid)?.cpuMillis ?? Number.NaN
  const ownCpu = () => {
    const u = process.cpuUsage()
    return (u.user + u.system) / 1000
  }
  const started = performance.now()
  const job = cpuOf(jobPid)
  const broker = cpuOf(brokerPid)
  const bench = ownCpu()
  return (): CpuSplit => ({
    seconds: (performance.now() - started) / 1000,
    job: cpuOf(jobPid) - job,
    broker: cpuOf(brokerPid) - broker,
    bench: ownCpu() - bench
  })
}

// p50 / p95 / p99, as the tables print them.
const triple = (x: Percentiles | undefined) => (x === undefined ? "" : `${x.p50} / ${x.p95} / ${x.p99}`)

// Cores busy, on average, over the phase.
const cores = (millis: number, seconds: number) => (millis / 1000 / seconds).toFixed(2)

let runNumber = 0

const startJob = async (ctx: Context, guarantee: Guarantee, input: string, profile?: string) => {
  const id = ++runNumber
  const group = `bench-eos-${process.pid}-${id}`
  const outputs = [`enriched-payments-${id}`, `failed-payments-${id}`, `payment-events-dlq-${id}`]
  await ctx.admin.createTopics({
    topics: outputs.map((topic) => ({ topic, numPartitions: PARTITIONS })),
    waitForLeaders: true
  })
  const metricsPort = await freePort()
  const child = spawnNode(
    sluiceBin,
    ["claims", "enrich", "--processing-guarantee", guarantee, "--cache-ttl", "0ms", "--cache-miss-ttl", "0ms"],
    {
      env: {
        KAFKA_BOOTSTRAP_SERVERS: ctx.brokers,
        DATABASE_URL: ctx.databaseUrl,
        PAYMENT_EVENTS_TOPIC: input,
        ENRICHED_PAYMENTS_TOPIC: outputs[0]!,
        FAILED_PAYMENTS_TOPIC: outputs[1]!,
        PAYMENT_EVENTS_DLQ_TOPIC: outputs[2]!,
        GROUP_ID: group,
        CLIENT_ID: group,
        METRICS_PORT: String(metricsPort),
        // The exactly-once job's transactions: per input partition or per member, and how often they commit.
        ...(guarantee === "exactly-once" ? { TRANSACTION_SCOPE: TRANSACTION_SCOPE } : {}),
        ...(guarantee === "exactly-once" && flags["commit-interval"] !== undefined
          ? { COMMIT_INTERVAL: flags["commit-interval"] }
          : {})
      },
      nodeFlags: cpuProfileFlags(profile === undefined ? undefined : flags["cpu-prof"], `${profile}-${id}`)
    }
  )
  return { child, group, outputs, metricsPort }
}

/**
 * A read_committed consumer of `topics` that calls `onRecord` with each
 * record's sequence header, its timestamp and when it arrived, until
 * `expected` records arrived. Transaction markers are never delivered, so the
 * count of inputs, not end offsets, says when it is done.
 */
const follow = async (
  kafka: Kafka,
  topics: ReadonlyArray<string>,
  expected: number,
  onRecord: (seq: number, timestamp: number, arrivedAt: number) => void,
  readUncommitted = false
) => {
  const consumer = kafka.consumer({
    groupId: `bench-eos-reader-${process.pid}-${Math.random().toString(36).slice(2)}`,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxWaitTimeInMs: 20,
    readUncommitted
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  // Latency counts from the moment the reader is a member of its group: a
  // reader still joining would see the first outputs late.
  const joined = new Promise<void>((resolve) => {
    consumer.on(consumer.events.GROUP_JOIN, () => resolve())
  })
  let read = 0
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const arrivedAt = Date.now()
        for (const m of batch.messages) {
          onRecord(Number(m.headers?.[sequenceHeader]?.toString()), Number(m.timestamp), arrivedAt)
        }
        read += batch.messages.length
        if (read >= expected) resolve()
      }
    })
  })
  // Unreferenced timeouts: a pending one kept the finished run alive for up to two minutes.
  await Promise.race([joined, new Promise<void>((r) => setTimeout(r, 60_000).unref())])
  return {
    done: async (timeoutMillis: number) => {
      const timer = new Promise<void>((r) => setTimeout(r, timeoutMillis).unref())
      await Promise.race([done, timer])
      await consumer.disconnect()
      return read
    }
  }
}

interface Saturated {
  readonly guarantee: Guarantee
  readonly completed: boolean
  readonly outputs: number
  readonly eventsPerSecond: number
}

const saturated = async (ctx: Context, guarantee: Guarantee, input: string): Promise<Saturated> => {
  const job = await startJob(ctx, guarantee, input)
  const progress = await waitForCommitted(ctx.admin, job.group, input, EVENTS, {
    timeoutMillis: 600_000,
    abort: job.child.exited
  })
  await job.child.stop()
  let first = Number.POSITIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  const reader = await follow(ctx.kafka, job.outputs, EVENTS, (_seq, timestamp) => {
    if (timestamp < first) first = timestamp
    if (timestamp > last) last = timestamp
  })
  const outputs = await reader.done(180_000)
  const eventsPerSecond = outputs < 2 ? 0 : ((outputs - 1) * 1000) / Math.max(1, last - first)
  if (!progress.reached) log(`${guarantee}: stderr:\n${job.child.output().stderr.slice(-2000)}`)
  log(`${guarantee}: ${Math.round(eventsPerSecond)} events/s over ${outputs} outputs`)
  return { guarantee, completed: progress.reached && outputs >= EVENTS, outputs, eventsPerSecond }
}

interface Latency {
  readonly guarantee: Guarantee
  readonly rate: number
  readonly outputs: number
  readonly produced: number
  /** Outputs of the payments after the warm-up. */
  readonly visibleMs: Percentiles
  /** Outputs of the warm-up payments, reported apart. */
  readonly warmupVisibleMs: Percentiles
  /** With `--split`: when the outputs were appended (read_uncommitted), and how long after that they became visible. */
  readonly appendedMs?: Percentiles | undefined
  readonly commitWaitMs?: Percentiles | undefined
  /** Over the measured seconds, after the warm-up. */
  readonly cpu: CpuSplit
  /** The percentiles of each second of inputs, the warm-up's included. */
  readonly seconds: ReadonlyArray<Timeline.Second>
}

const fixedRate = async (ctx: Context, guarantee: Guarantee, rate: number): Promise<Latency> => {
  const input = `payment-events-live-${runNumber + 1}`
  await ctx.admin.createTopics({ topics: [{ topic: input, numPartitions: PARTITIONS }], waitForLeaders: true })
  // Generated and encoded before the paced phase: building them while pacing
  // took half of this process's CPU there, a core shared with the job and the broker.
  const warmup = Math.round(rate * WARMUP_SECONDS)
  const count = warmup + Math.max(1, Math.round(rate * LATENCY_SECONDS))
  const build = recordAt({ ...generatorOptions, seed: generatorOptions.seed + runNumber + 1 })
  const records = Array.from({ length: count }, (_, i) => build(i))
  const job = await startJob(ctx, guarantee, input, `${guarantee}-latency`)
  const readyBy = performance.now() + 60_000
  while (performance.now() < readyBy) {
    const ready = await fetch(`http://127.0.0.1:${job.metricsPort}/readyz`).then(
      (r) => r.ok,
      () => false
    )
    if (ready) break
    await new Promise((r) => setTimeout(r, 200))
  }
  const arrivals = new Map<number, number>()
  const reader = await follow(ctx.kafka, job.outputs, count, (seq, _timestamp, arrivedAt) => {
    arrivals.set(seq, arrivedAt)
  })
  const appends = new Map<number, number>()
  const uncommitted = SPLIT
    ? await follow(ctx.kafka, job.outputs, count, (seq, _timestamp, arrivedAt) => appends.set(seq, arrivedAt), true)
    : undefined
  const producer = ctx.kafka.producer()
  await producer.connect()
  // The CPU meter starts when the warm-up's payments have been sent (the
  // pacing keeps to the clock, so that is WARMUP_SECONDS after the start).
  let measure = cpuMeter(job.child.pid, ctx.brokerPid)
  const measuredFrom = setTimeout(() => {
    measure = cpuMeter(job.child.pid, ctx.brokerPid)
  }, WARMUP_SECONDS * 1000)
  const timestamps = await producePaced(producer, input, count, rate, (i) => records[i]!)
  const outputs = await reader.done(120_000)
  await uncommitted?.done(10_000)
  clearTimeout(measuredFrom)
  const cpu = measure()
  await producer.disconnect()
  await job.child.stop()
  const visible: Array<number> = []
  const warm: Array<number> = []
  const bySentAt: Array<readonly [number, number]> = []
  const appended: Array<number> = []
  const commitWait: Array<number> = []
  for (const [seq, arrivedAt] of arrivals) {
    const at = timestamps[seq]
    if (at === undefined) continue
    ;(seq < warmup ? warm : visible).push(arrivedAt - at)
    bySentAt.push([at, arrivedAt - at])
    const appendedAt = appends.get(seq)
    if (seq >= warmup && appendedAt !== undefined) {
      appended.push(appendedAt - at)
      commitWait.push(arrivedAt - appendedAt)
    }
  }
  const result = {
    guarantee,
    rate,
    outputs,
    produced: count,
    visibleMs: percentiles(visible),
    warmupVisibleMs: percentiles(warm),
    ...(SPLIT ? { appendedMs: percentiles(appended), commitWaitMs: percentiles(commitWait) } : {}),
    cpu,
    seconds: Timeline.perSecond(bySentAt, timestamps[0] ?? 0)
  }
  log(
    `${guarantee} at ${Math.round(rate)}/s: visible p50 ${result.visibleMs.p50} / p95 ${result.visibleMs.p95} / p99 ${result.visibleMs.p99} ms ` +
      `(warm-up p95 ${result.warmupVisibleMs.p95} ms); ` +
      `cores over ${cpu.seconds.toFixed(1)} s: job ${cores(cpu.job, cpu.seconds)}, broker ${cores(cpu.broker, cpu.seconds)}, ` +
      `generator + reader ${cores(cpu.bench, cpu.seconds)}` +
      (SPLIT
        ? `; appended p50 / p95 / p99 ${triple(result.appendedMs)} ms, then visible after ${triple(result.commitWaitMs)} ms`
        : "")
  )
  return result
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const main = async () => {
  const db = await createDatabase("sluice_bench_eos")
  let broker: NodeChild | undefined
  try {
    log(`database ${db.name}: seeding ${CLAIMS} claims`)
    const seedSql = postgres(db.url, { max: 2, onnotice: () => {} })
    await Effect.runPromise(Effect.andThen(Claims.migrate(seedSql), Claims.seed(seedSql, { count: CLAIMS })))
    await seedSql.unsafe("ANALYZE claims")
    await seedSql.end()
    broker = spawnNode(sluiceBin, ["broker", "--port", "0"])
    const brokers = (await broker.waitFor(/listening on (\S+)/, 60_000))[1]!
    const brokerPid = broker.pid
    const kafka = new Kafka({ brokers: [brokers], clientId: "bench-eos", logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.connect()
    const ctx: Context = { kafka, admin, brokers, brokerPid, databaseUrl: db.url }
    const input = "payment-events"
    await admin.createTopics({ topics: [{ topic: input, numPartitions: PARTITIONS }], waitForLeaders: true })
    const producer = kafka.producer()
    await producer.connect()
    log(`producing ${EVENTS} payments`)
    await produceAll(producer, input, EVENTS, recordAt(generatorOptions))
    await producer.disconnect()

    const rounds: Array<Record<Guarantee, Saturated>> = []
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, so neither always gets the warmer machine.
      const order = round % 2 === 0 ? guarantees : ([...guarantees].reverse() as ReadonlyArray<Guarantee>)
      const results: Partial<Record<Guarantee, Saturated>> = {}
      for (const g of order) results[g] = await saturated(ctx, g, input)
      rounds.push(results as Record<Guarantee, Saturated>)
    }
    const ratios = rounds.map((r) => r["exactly-once"].eventsPerSecond / r["at-least-once"].eventsPerSecond)
    const ratio = ratios.length === 0 ? Number.NaN : median(ratios)
    const rate =
      flags.rate === undefined ? median(rounds.map((r) => r["at-least-once"].eventsPerSecond)) / 2 : Number(flags.rate)
    const latency: Array<Latency> = []
    for (const g of guarantees) latency.push(await fixedRate(ctx, g, rate))
    await admin.disconnect()

    const throughput = [
      "| round | at-least-once events/s | exactly-once events/s | exactly-once × at-least-once |",
      "| --- | ---: | ---: | ---: |",
      ...rounds.map(
        (r, i) =>
          `| ${i + 1}${r["at-least-once"].completed && r["exactly-once"].completed ? "" : " (incomplete)"} | ` +
          `${Math.round(r["at-least-once"].eventsPerSecond)} | ${Math.round(r["exactly-once"].eventsPerSecond)} | ${ratios[i]!.toFixed(2)} |`
      ),
      `| median | | | **${ratio.toFixed(2)}×** (goal ≥ 0.8×) |`,
      ""
    ]
    const lines = [
      ...(rounds.length === 0 ? [] : throughput),
      `| at ${Math.round(rate)} payments/s (${flags.rate === undefined ? "half the at-least-once median" : "--rate"}) | outputs | visible p50 / p95 / p99 ms | warm-up p95 ms |${SPLIT ? " appended p50 / p95 / p99 ms | then visible after p50 / p95 / p99 ms |" : ""}`,
      `| --- | ---: | ---: | ---: |${SPLIT ? " ---: | ---: |" : ""}`,
      ...latency.map(
        (l) =>
          `| ${l.guarantee} | ${l.outputs} of ${l.produced} | ${triple(l.visibleMs)} | ${l.warmupVisibleMs.p95} |` +
          (SPLIT ? ` ${triple(l.appendedMs)} | ${triple(l.commitWaitMs)} |` : "")
      ),
      "",
      `Latency is over the ${LATENCY_SECONDS} s after ${WARMUP_SECONDS} s of warm-up at the same rate.`,
      "",
      "| cores busy over the measured seconds | job | broker | generator + reader |",
      "| --- | ---: | ---: | ---: |",
      ...latency.map(
        (l) =>
          `| ${l.guarantee} | ${cores(l.cpu.job, l.cpu.seconds)} | ${cores(l.cpu.broker, l.cpu.seconds)} | ` +
          `${cores(l.cpu.bench, l.cpu.seconds)} |`
      )
    ]
    console.log(`\nClaims enrich, exactly-once vs at-least-once, 0% cache, ${EVENTS} payments\n\n${lines.join("\n")}\n`)
    if (flags.timeline) {
      const runs = latency.map((l) => ({ name: l.guarantee, seconds: l.seconds }))
      console.log(`Each second's p95 (w: warm-up)\n\n${Timeline.chart(runs, WARMUP_SECONDS)}\n`)
    }
    mkdirSync(join(root, "bench", "results"), { recursive: true })
    writeFileSync(outFile, `${JSON.stringify({ events: EVENTS, rounds, ratios, ratio, latency }, null, 2)}\n`)
  } finally {
    await stopAll()
    await db.drop()
  }
}

await main()
