/**
 * `sluice cdc route` end to end through Kafka, against the same routing
 * written by hand with kafkajs and against the raw pipe, every figure from
 * one run on one machine:
 *
 *   pnpm bench cdc-route     (or: node packages/runner/bench/cdc-route.bench.ts --help)
 *
 * Parts: the embedded broker as a `sluice broker` child process; Debezium
 * change events of `CdcGenerator` (as `sluice demo cdc` writes them, the
 * attributes a JSON string as Debezium writes a `jsonb` column), about 400 B
 * and about 8 KB of attributes, pre-produced to a 6-partition input topic
 * per size. Each job runs as a child process of its own with a fresh consumer
 * group and fresh output topics, until its group has committed the whole
 * input:
 *
 * 1. raw pipe (`bench/jobs/rawPipe.ts`): kafkajs eachBatch consume → produce,
 *    no work in between, the ceiling;
 * 2. by hand, nested / flat (`jobs/cdcRouteByHand.ts`): kafkajs eachBatch,
 *    JSON.parse of the event and of its attribute text (as the router: once
 *    each), the ten rules of `jobs/cdcRouteRules.ts` as if/else, the output
 *    with `filterMetadata`, one sendBatch, commit; with what the router does
 *    for the same guarantees and figures: an idempotent producer, integers
 *    beyond 2^53 detected, counts per rule and topic, a routing-time histogram;
 * 3. `sluice cdc route` with the same ten rules in the nested model and in
 *    the flat model (first match, unmatched records to a default topic).
 *
 * Measured per run over the outputs' own timestamps (first to last output, so
 * process start-up is not counted): events/s, and the job process's CPU time
 * in that window per event (µs/event, from /proc). Ratios are against the
 * hand-written job of the same model and against the raw pipe of the same
 * payload size. The per-topic counts of each Sluice run are checked against
 * the hand-written run of its model. Results go to stdout and to
 * `bench/results/cdc-route.json`. Linux only (/proc).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { type Admin, Kafka, logLevel, type Producer } from "kafkajs"
import { cpuProfileFlags } from "../../../bench/support/cpuProfile.ts"
import { drainTopics } from "../../../bench/support/drainTopics.ts"
import { freePort } from "../../../bench/support/freePort.ts"
import { type NodeChild, spawnNode, stopAll } from "../../../bench/support/nodeChild.ts"
import * as ProcessStats from "../../../bench/support/processStats.ts"
import { type InputRecord, produceAll } from "../../../bench/support/produceRecords.ts"
import * as ThreadCpu from "../../../bench/support/threadCpu.ts"
import { waitForCommitted } from "../../../bench/support/topicOffsets.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as DemoCommand from "../src/jobs/cdc/DemoCommand.ts"
import * as RouteRules from "./jobs/cdcRouteRules.ts"

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "40000" },
    "events-large": { type: "string", default: "8000" },
    rounds: { type: "string", default: "1" },
    only: { type: "string" },
    "cpu-prof": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(`node packages/runner/bench/cdc-route.bench.ts [--events N (about 400 B each; 40000)]
  [--events-large N (about 8 KB each; 8000)] [--rounds N (1)] [--out FILE]
  [--only TEXT (only the runs whose label, e.g. "sluice, flat", contains TEXT)]
  [--cpu-prof DIR (profile every sluice and hand-written run into DIR)]`)
  process.exit(0)
}

const PARTITIONS = 6
const ROUNDS = Number(flags.rounds)
const RUN_TIMEOUT_MS = 600_000
const root = join(import.meta.dirname, "..", "..", "..")
const sluiceBin = join(root, "packages", "runner", "bin", "sluice.js")
const outFile = flags.out ?? join(root, "bench", "results", "cdc-route.json")
const rulesDir = mkdtempSync(join(tmpdir(), "sluice-cdc-route-bench-"))

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

type Kind = "raw" | "by-hand" | "sluice"
type Model = "nested" | "flat"

interface RunResult {
  readonly label: string
  readonly kind: Kind
  readonly model: Model | undefined
  readonly payloadBytes: number
  readonly round: number
  readonly events: number
  readonly completed: boolean
  readonly eventsPerSecond: number
  readonly cpuMicrosPerEvent: number
  /**
   * CPU milliseconds per thread name over the process's whole life, start-up
   * included: `MainThread`, and `V8Worker` (concurrent garbage collection and
   * compilation), which is where the router's extra CPU at 8 KB went.
   */
  readonly threadCpuMillis: Readonly<Record<string, number>>
  /** The one-minute load average when the run started. */
  readonly load: number
  /** Outputs per topic, without the run's suffix. */
  readonly perTopic: Readonly<Record<string, number>>
}

interface Context {
  readonly kafka: Kafka
  readonly admin: Admin
  readonly brokers: string
}

let runNumber = 0

const labelOf = (kind: Kind, model: Model | undefined) =>
  kind === "raw" ? "raw pipe" : `${kind === "sluice" ? "sluice" : "by hand"}, ${model}`

const startJob = async (
  ctx: Context,
  kind: Kind,
  model: Model | undefined,
  input: string,
  group: string,
  suffix: string
): Promise<{ readonly child: NodeChild; readonly outputs: ReadonlyArray<string> }> => {
  const outputs = kind === "raw" ? [`raw-copy-${suffix}`] : RouteRules.topics.map((t) => `${t}-${suffix}`)
  await ctx.admin.createTopics({
    topics: outputs.map((topic) => ({ topic, numPartitions: PARTITIONS })),
    waitForLeaders: true
  })
  if (kind === "raw") {
    const args = ["--brokers", ctx.brokers, "--input", input, "--output", outputs[0]!, "--group", group]
    return { child: spawnNode(join(root, "bench", "jobs", "rawPipe.ts"), args), outputs }
  }
  if (kind === "by-hand") {
    const args = ["--brokers", ctx.brokers, "--input", input, "--group", group, "--suffix", suffix]
    const script = join(import.meta.dirname, "jobs", "cdcRouteByHand.ts")
    const nodeFlags = cpuProfileFlags(flags["cpu-prof"], `${suffix}-by-hand`)
    return { child: spawnNode(script, [...args, "--model", model!], { nodeFlags }), outputs }
  }
  const rules = join(rulesDir, `${suffix}.yaml`)
  writeFileSync(rules, RouteRules.ruleFile(model!, suffix))
  const child = spawnNode(sluiceBin, ["cdc", "route", "--rules", rules], {
    nodeFlags: cpuProfileFlags(flags["cpu-prof"], `${suffix}-sluice`),
    env: {
      KAFKA_BOOTSTRAP_SERVERS: ctx.brokers,
      RAW_EVENTS_TOPIC: input,
      CDC_DLQ_TOPIC: `dlq-${suffix}`,
      CDC_GROUP_ID: group,
      CLIENT_ID: group,
      METRICS_PORT: String(await freePort())
    }
  })
  return { child, outputs }
}

/** Runs one job over a pre-produced input until its group has committed all of it. */
const run = async (
  ctx: Context,
  spec: { readonly kind: Kind; readonly model?: Model; readonly input: string; readonly size: number },
  events: number,
  round: number
): Promise<RunResult> => {
  const id = ++runNumber
  const suffix = `r${id}`
  const group = `bench-cdc-route-${id}`
  const label = labelOf(spec.kind, spec.model)
  const load = loadavg()[0]!
  log(`run ${id}: ${label}, ${spec.size} B, ${events} events`)
  const started = await startJob(ctx, spec.kind, spec.model, spec.input, group, suffix)
  const stats = ProcessStats.watch(started.child.pid)
  const done = await waitForCommitted(ctx.admin, group, spec.input, events, {
    timeoutMillis: RUN_TIMEOUT_MS,
    abort: started.child.exited
  })
  if (!done.reached) log(`run ${id} stopped at ${done.committed} of ${events}:\n${started.child.output().stderr}`)
  let first = Number.POSITIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  const perTopic: Record<string, number> = {}
  const count = await drainTopics(ctx.kafka, started.outputs, (record) => {
    if (record.timestamp < first) first = record.timestamp
    if (record.timestamp > last) last = record.timestamp
    const topic = record.topic.slice(0, record.topic.length - suffix.length - 1)
    perTopic[topic] = (perTopic[topic] ?? 0) + 1
  })
  const cpuMillis = stats.cpuBetween(first, last)
  stats.stop()
  const threadCpuMillis = ThreadCpu.byThreadName(started.child.pid)
  await started.child.stop()
  const windowMs = Math.max(1, last - first)
  const result: RunResult = {
    label,
    kind: spec.kind,
    model: spec.model,
    payloadBytes: spec.size,
    round,
    events: count,
    completed: done.reached && count === events,
    eventsPerSecond: count < 2 ? 0 : ((count - 1) * 1000) / windowMs,
    cpuMicrosPerEvent: count === 0 ? Number.NaN : (cpuMillis * 1000) / count,
    threadCpuMillis,
    load,
    perTopic
  }
  log(
    `run ${id}: ${count} outputs, ${result.eventsPerSecond.toFixed(0)} events/s, ${result.cpuMicrosPerEvent.toFixed(1)} CPU µs/event; CPU ms since start: main thread ${threadCpuMillis.MainThread ?? "?"}, V8 workers ${threadCpuMillis.V8Worker ?? "?"}`
  )
  return result
}

const recordAt =
  (size: number) =>
  (i: number): InputRecord => {
    const { key, value } = DemoCommand.changeEvent(
      CdcGenerator.event({ seed: 17, minBytes: size, maxBytes: size }, i),
      "sluice"
    )
    return { key: Buffer.from(key), value: Buffer.from(value), headers: {} }
  }

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a")

const sameCounts = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0))
}

const main = async () => {
  const sizes = [
    { size: 400, events: Number(flags.events) },
    { size: 8192, events: Number(flags["events-large"]) }
  ]
  const broker = spawnNode(sluiceBin, ["broker", "--port", "0"])
  const brokers = (await broker.waitFor(/listening on (\S+)/, 60_000))[1]!
  log(`broker ${brokers} (pid ${broker.pid})`)
  const kafka = new Kafka({ brokers: [brokers], clientId: "bench", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const ctx: Context = { kafka, admin, brokers }
  const producer: Producer = kafka.producer()
  await producer.connect()
  for (const { size, events } of sizes) {
    const topic = `raw-business-events-${size}`
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true })
    log(`producing ${events} change events of about ${size} B of attributes to ${topic}`)
    await produceAll(producer, topic, events, recordAt(size))
  }
  await producer.disconnect()

  const runs: Array<RunResult> = []
  const specs = [
    { kind: "raw" },
    { kind: "by-hand", model: "nested" },
    { kind: "sluice", model: "nested" },
    { kind: "by-hand", model: "flat" },
    { kind: "sluice", model: "flat" }
  ] as const
  for (let round = 0; round < ROUNDS; round++) {
    for (const { size, events } of sizes) {
      // A rotating order, so no job always runs first (on a cold broker) or last.
      for (let i = 0; i < specs.length; i++) {
        const spec = specs[(i + round) % specs.length]!
        if (
          flags.only !== undefined &&
          !labelOf(spec.kind, "model" in spec ? spec.model : undefined).includes(flags.only)
        )
          continue
        runs.push(await run(ctx, { ...spec, input: `raw-business-events-${size}`, size }, events, round))
      }
    }
  }
  await admin.disconnect()
  await broker.stop()

  const lines: Array<string> = []
  const print = (line: string) => {
    lines.push(line)
    console.log(line)
  }
  print(`cdc route through Kafka: ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}, ${ROUNDS} round(s)`)
  print("")
  print("| payload | job | events/s | CPU µs/event | events/s vs by hand | CPU vs by hand | events/s vs raw pipe |")
  print("|---|---|---:|---:|---:|---:|---:|")
  const summary: Array<Record<string, unknown>> = []
  for (const { size } of sizes) {
    const of = (kind: Kind, model?: Model) =>
      runs.filter((r) => r.payloadBytes === size && r.kind === kind && r.model === model)
    const perRound = (kind: Kind, model: Model | undefined, reference: Kind, refModel: Model | undefined) => {
      const mine = of(kind, model)
      const ref = of(reference, refModel)
      return {
        rate: median(mine.map((r, i) => r.eventsPerSecond / (ref[i]?.eventsPerSecond ?? Number.NaN))),
        cpu: median(mine.map((r, i) => r.cpuMicrosPerEvent / (ref[i]?.cpuMicrosPerEvent ?? Number.NaN)))
      }
    }
    for (const spec of specs) {
      const model = "model" in spec ? spec.model : undefined
      const mine = of(spec.kind, model)
      if (mine.length === 0) continue
      const rate = median(mine.map((r) => r.eventsPerSecond))
      const cpu = median(mine.map((r) => r.cpuMicrosPerEvent))
      const vsHand = spec.kind === "raw" ? undefined : perRound(spec.kind, model, "by-hand", model)
      const vsRaw = perRound(spec.kind, model, "raw", undefined)
      print(
        `| ${size} B | ${mine[0]!.label} | ${fmt(rate)} | ${fmt(cpu, 1)} | ${vsHand === undefined ? "" : `${fmt(vsHand.rate, 2)}×`} | ${vsHand === undefined ? "" : `${fmt(vsHand.cpu, 2)}×`} | ${fmt(vsRaw.rate, 2)}× |`
      )
      summary.push({
        payloadBytes: size,
        job: mine[0]!.label,
        eventsPerSecond: rate,
        cpuMicrosPerEvent: cpu,
        vsHand,
        vsRaw
      })
    }
  }
  // Each round's ratio on its own, with the load it ran under: the machine is shared.
  print("")
  print(
    "per round, sluice against the hand-written job of its model (events/s ratio, CPU ratio, load at the sluice run):"
  )
  for (const { size } of sizes) {
    for (const model of ["nested", "flat"] as const) {
      const mine = runs.filter((r) => r.payloadBytes === size && r.kind === "sluice" && r.model === model)
      const cells = mine.map((r) => {
        const hand = runs.find(
          (h) => h.kind === "by-hand" && h.model === model && h.payloadBytes === size && h.round === r.round
        )
        if (hand === undefined) return `round ${r.round}: no hand-written run`
        return `round ${r.round}: ${fmt(r.eventsPerSecond / hand.eventsPerSecond, 2)}×, CPU ${fmt(r.cpuMicrosPerEvent / hand.cpuMicrosPerEvent, 2)}×, load ${fmt(r.load, 1)}`
      })
      if (cells.length > 0) print(`- ${size} B ${model}: ${cells.join("; ")}`)
    }
  }
  const incomplete = runs.filter((r) => !r.completed)
  const disagreements = runs
    .filter((r) => r.kind === "sluice")
    .filter((r) => {
      const hand = runs.find(
        (h) => h.kind === "by-hand" && h.model === r.model && h.payloadBytes === r.payloadBytes && h.round === r.round
      )
      return hand === undefined || !sameCounts(hand.perTopic, r.perTopic)
    })
  print("")
  print(
    incomplete.length === 0
      ? "every run read and wrote the whole input"
      : `INCOMPLETE: ${incomplete.map((r) => `${r.label} ${r.payloadBytes} B round ${r.round}: ${r.events}`).join("; ")}`
  )
  print(
    disagreements.length === 0
      ? "per-topic counts: every sluice run equals the hand-written run of its model"
      : `COUNTS DIFFER: ${disagreements.map((r) => `${r.label} ${r.payloadBytes} B round ${r.round}`).join("; ")}`
  )
  mkdirSync(join(outFile, ".."), { recursive: true })
  writeFileSync(outFile, `${JSON.stringify({ summary, runs }, null, 2)}\n`)
  console.log(`\nwritten to ${outFile}`)
  return incomplete.length === 0 && disagreements.length === 0
}

// Interrupted: the children (broker, jobs) must not outlive the benchmark.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130))
  })
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  async (error) => {
    console.error(error)
    await stopAll()
    process.exit(1)
  }
)
