/**
 * The event trigger end to end, every figure from one run on one machine:
 *
 *   pnpm bench trigger            (or: node packages/runner/bench/trigger.bench.ts --help)
 *
 * Parts, each a child process of its own: the embedded broker (`sluice
 * broker`), the fake Profile API and webhook receiver on loopback (`sluice
 * trigger fake-services`), and the job under test. The input is generated
 * user events (`sluice trigger generate`'s generator) pre-produced to a
 * 6-partition topic. Each job runs with a fresh consumer group until the
 * group has committed the whole input:
 *
 * 1. raw pipe: kafkajs eachBatch consume → produce, no work (the ceiling);
 * 2. hand-written loop: kafkajs eachBatch, a `Map` profile cache with a
 *    10-minute TTL, the same CEL filter, a webhook POST per passing event
 *    (`jobs/triggerLoop.ts`);
 * 3. `sluice trigger run`, state in memory, the Profile API rate limit
 *    lifted (the loop has none).
 *
 * Measured per run, between the group's first commit and its last (start-up
 * left out): events/s, and CPU µs per event of the job process. Rounds
 * alternate the three; the ratios are per round, against the loop and the
 * raw pipe of the same round. The table goes to stdout, the same as JSON to
 * `bench/results/trigger.json`.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { type Admin, Kafka, logLevel } from "kafkajs"
import { freePort } from "../../../bench/support/freePort.ts"
import { type NodeChild, spawnNode, stopAll } from "../../../bench/support/nodeChild.ts"
import * as ProcessStats from "../../../bench/support/processStats.ts"
import { scrape, sumOf } from "../../../bench/support/prometheusText.ts"
import * as Generator from "../src/jobs/trigger/Generator.ts"

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "40000" },
    users: { type: "string", default: "4000" },
    rounds: { type: "string", default: "2" },
    "cpu-prof": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(
    "node packages/runner/bench/trigger.bench.ts [--events N] [--users N] [--rounds N] [--out FILE]\n" +
      "  [--cpu-prof DIR (a V8 CPU profile of every sluice run; see bench/tools/cpuProfileSummary.ts)]"
  )
  process.exit(0)
}

const EVENTS = Number(flags.events)
const USERS = Number(flags.users)
const ROUNDS = Number(flags.rounds)
const PARTITIONS = 6
const SEED = 2026
const API_SEED = 42
const FILTER = `event.eventType == "page_view" && user.country == "US"`
const RUN_TIMEOUT_MS = 600_000
const root = join(import.meta.dirname, "..", "..", "..")
const sluiceBin = join(root, "packages", "runner", "bin", "sluice.js")
const outFile = flags.out ?? join(root, "bench", "results", "trigger.json")

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

type Kind = "raw pipe" | "hand-written loop" | "sluice trigger"

/** One phase of a run: the first pass over the input (state cold) or the second (state warm). */
interface Phase {
  readonly events: number
  readonly eventsPerSecond: number
  readonly cpuMicrosPerEvent: number
  /** Profile API calls per 1,000 events (sluice only, from its metrics). */
  readonly apiCallsPer1000?: number
}

interface RunResult {
  readonly kind: Kind
  readonly round: number
  readonly completed: boolean
  readonly cold: Phase
  readonly warm: Phase
  /** Actions over both passes. */
  readonly delivered?: number
}

interface Context {
  readonly admin: Admin
  readonly brokers: string
  readonly input: string
  readonly profileApi: string
  readonly webhook: string
  readonly filterPath: string
  /** Each partition's end offset after the first pass. */
  readonly firstPassEnds: ReadonlyMap<number, number>
}

let runNumber = 0

const start = async (ctx: Context, kind: Kind, group: string): Promise<{ child: NodeChild; metricsPort?: number }> => {
  if (kind === "raw pipe") {
    const output = `trigger-raw-out-${group}`
    await ctx.admin.createTopics({ topics: [{ topic: output, numPartitions: PARTITIONS }], waitForLeaders: true })
    const child = spawnNode(join(root, "bench", "jobs", "rawPipe.ts"), [
      "--brokers",
      ctx.brokers,
      "--input",
      ctx.input,
      "--output",
      output,
      "--group",
      group
    ])
    return { child }
  }
  if (kind === "hand-written loop") {
    const child = spawnNode(join(import.meta.dirname, "jobs", "triggerLoop.ts"), [
      "--brokers",
      ctx.brokers,
      "--input",
      ctx.input,
      "--group",
      group,
      "--profile-api",
      ctx.profileApi,
      "--webhook",
      `${ctx.webhook}/events`,
      "--filter",
      FILTER
    ])
    return { child }
  }
  const metricsPort = await freePort()
  const child = spawnNode(sluiceBin, ["trigger", "run"], {
    env: {
      KAFKA_BOOTSTRAP_SERVERS: ctx.brokers,
      TRIGGER_INPUT_TOPIC: ctx.input,
      TRIGGER_GROUP_ID: group,
      CLIENT_ID: group,
      PROFILE_API_BASE_URL: ctx.profileApi,
      PROFILE_API_RATE_LIMIT: "1000000",
      ACTIONS_WEBHOOK_URL: `${ctx.webhook}/events`,
      FILTER_SCRIPT_PATH: ctx.filterPath,
      METRICS_PORT: String(metricsPort)
    },
    nodeFlags:
      flags["cpu-prof"] === undefined
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${flags["cpu-prof"]}`, `--cpu-prof-name=trigger-${group}.cpuprofile`]
  })
  return { child, metricsPort }
}

/**
 * Runs one job over the input until its group has committed all of it: the
 * events twice over, the first pass with the state cold, the second warm
 * (each user's events are in one partition, so its second pass comes after
 * its first). A phase is timed from its first commit to its last.
 */
const run = async (ctx: Context, kind: Kind, round: number): Promise<RunResult> => {
  const group = `bench-trigger-${process.pid}-${++runNumber}`
  log(`${kind} (round ${round}): starting, group ${group}`)
  const started = await start(ctx, kind, group)
  const watcher = ProcessStats.watch(started.child.pid, 100)
  let exited = false
  void started.child.exited.then(() => {
    exited = true
  })
  const calls = async () =>
    started.metricsPort === undefined
      ? undefined
      : sumOf((await scrape(started.metricsPort)) ?? "", "sluice_trigger_profile_calls_total")
  const deadline = Date.now() + RUN_TIMEOUT_MS
  type Mark = { readonly at: number; readonly committed: number; readonly calls?: number | undefined }
  let first: Mark | undefined
  let middle: Mark | undefined
  let last: Mark = { at: Date.now(), committed: 0 }
  while (!exited && Date.now() < deadline) {
    const [entry] = await ctx.admin.fetchOffsets({ groupId: group, topics: [ctx.input] })
    const byPartition = new Map((entry?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]))
    const committed = [...byPartition.values()].reduce((a, b) => a + b, 0)
    const at = Date.now()
    if (first === undefined && committed > 0) first = { at, committed, calls: 0 }
    // The cold pass ends when every partition is past its first-pass events; no call after that is a first one.
    const coldDone = [...ctx.firstPassEnds].every(([p, end]) => (byPartition.get(p) ?? 0) >= end)
    if (middle === undefined && coldDone) middle = { at, committed, calls: await calls() }
    last = { at, committed }
    if (committed >= 2 * EVENTS) break
    await new Promise((r) => setTimeout(r, 100))
  }
  last = { ...last, calls: await calls() }
  const delivered =
    started.metricsPort === undefined
      ? undefined
      : sumOf((await scrape(started.metricsPort)) ?? "", "sluice_trigger_actions_total")
  await started.child.stop()
  watcher.stop()
  const completed = last.committed >= 2 * EVENTS
  // Rates over [from, to]; API calls over the whole pass, since `base` (the pass's start).
  const phase = (from: Mark, to: Mark, base: Mark): Phase => {
    const events = to.committed - from.committed
    const seconds = Math.max(0.001, (to.at - from.at) / 1000)
    return {
      events,
      eventsPerSecond: events / seconds,
      cpuMicrosPerEvent: (watcher.cpuBetween(from.at, to.at) * 1000) / Math.max(1, events),
      ...(to.calls === undefined || base.calls === undefined
        ? {}
        : { apiCallsPer1000: ((to.calls - base.calls) * 1000) / Math.max(1, to.committed - base.committed) })
    }
  }
  const mid = middle ?? last
  const origin: Mark = { at: 0, committed: 0, calls: 0 }
  const result: RunResult = {
    kind,
    round,
    completed,
    // The raw pipe keeps no state: one rate over the whole input stands for both passes.
    cold: kind === "raw pipe" ? phase(first ?? mid, last, origin) : phase(first ?? mid, mid, origin),
    warm: kind === "raw pipe" ? phase(first ?? mid, last, origin) : phase(mid, last, mid),
    ...(kind === "raw pipe"
      ? {}
      : { delivered: delivered ?? Number(/delivered (\d+)/.exec(started.child.output().stdout)?.[1] ?? Number.NaN) })
  }
  log(
    `${kind} (round ${round}): cold ${Math.round(result.cold.eventsPerSecond)} events/s, ${Math.round(result.cold.cpuMicrosPerEvent)} µs CPU/event; ` +
      `warm ${Math.round(result.warm.eventsPerSecond)} events/s, ${Math.round(result.warm.cpuMicrosPerEvent)} µs CPU/event` +
      `${completed ? "" : ` — INCOMPLETE (${last.committed}/${2 * EVENTS}); stderr: ${started.child.output().stderr.slice(-1500)}`}`
  )
  return result
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0
    ? Number.NaN
    : s.length % 2 === 1
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const broker = spawnNode(sluiceBin, ["broker", "--port", "0", "--partitions", String(PARTITIONS)])
  const brokers = (await broker.waitFor(/listening on (\S+)/, 60_000))[1]!
  const [apiPort, hookPort] = [await freePort(), await freePort()]
  const services = spawnNode(sluiceBin, [
    "trigger",
    "fake-services",
    "--profile-api-port",
    String(apiPort),
    "--webhook-port",
    String(hookPort),
    "--profile-seed",
    String(API_SEED)
  ])
  await services.waitFor(/webhook receiver: (\S+)/, 60_000)
  log(`broker ${brokers}, fake services on ${apiPort} and ${hookPort}`)
  const kafka = new Kafka({ brokers: [brokers], clientId: "bench", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const input = `user-tracking-events-bench-${process.pid}`
  await admin.createTopics({ topics: [{ topic: input, numPartitions: PARTITIONS }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  const events = Generator.events({ seed: SEED, users: USERS }, EVENTS)
  // The events twice over: the second pass finds every user's state warm.
  let firstPassEnds = new Map<number, number>()
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < events.length; i += 1000) {
      await producer.send({ topic: input, acks: -1, messages: events.slice(i, i + 1000).map(Generator.toMessage) })
    }
    if (pass === 0) {
      firstPassEnds = new Map((await admin.fetchTopicOffsets(input)).map((p) => [p.partition, Number(p.high)]))
    }
  }
  await producer.disconnect()
  log(`${EVENTS} events of ${USERS} users produced twice to ${input}`)
  const dir = mkdtempSync(join(tmpdir(), "trigger-bench-"))
  const filterPath = join(dir, "filter.cel")
  writeFileSync(filterPath, `${FILTER}\n`)
  const ctx: Context = {
    admin,
    brokers,
    input,
    profileApi: `http://127.0.0.1:${apiPort}`,
    webhook: `http://127.0.0.1:${hookPort}`,
    filterPath,
    firstPassEnds
  }
  const results: Array<RunResult> = []
  const kinds: ReadonlyArray<Kind> = ["raw pipe", "hand-written loop", "sluice trigger"]
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternating order, so neither side always runs on the warmer (or busier) machine.
    for (const kind of round % 2 === 1 ? kinds : [...kinds].reverse()) results.push(await run(ctx, kind, round))
  }
  await admin.disconnect()
  await services.stop(10_000)
  await broker.stop(10_000)

  const of = (kind: Kind, round: number) => results.find((r) => r.kind === kind && r.round === round)!
  const rounds = Array.from({ length: ROUNDS }, (_, i) => i + 1)
  type PhaseName = "cold" | "warm"
  const ratio = (kind: Kind, base: Kind, p: PhaseName, field: "eventsPerSecond" | "cpuMicrosPerEvent") =>
    median(rounds.map((r) => of(kind, r)[p][field] / of(base, r)[p][field]))
  const rows = (["cold", "warm"] as const).flatMap((p) =>
    kinds.map((kind) => ({
      phase: p,
      kind,
      eventsPerSecond: median(rounds.map((r) => of(kind, r)[p].eventsPerSecond)),
      cpuMicrosPerEvent: median(rounds.map((r) => of(kind, r)[p].cpuMicrosPerEvent)),
      vsLoop: ratio(kind, "hand-written loop", p, "eventsPerSecond"),
      vsRaw: ratio(kind, "raw pipe", p, "eventsPerSecond"),
      cpuVsLoop: ratio(kind, "hand-written loop", p, "cpuMicrosPerEvent"),
      apiCallsPer1000: median(rounds.map((r) => of(kind, r)[p].apiCallsPer1000 ?? Number.NaN))
    }))
  )
  const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–")
  console.log(
    `\ntrigger: ${EVENTS} events of ${USERS} users, twice over (state cold, then warm), ${PARTITIONS} partitions,` +
      ` ${ROUNDS} round(s); medians over rounds; ${cpus().length} cores, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}\n`
  )
  console.log("| state | pipeline | events/s | vs loop | vs raw pipe | CPU µs/event | CPU vs loop | API calls/1k |")
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  for (const r of rows) {
    console.log(
      `| ${r.phase} | ${r.kind} | ${fmt(r.eventsPerSecond)} | ${fmt(r.vsLoop, 2)}× | ${fmt(r.vsRaw, 2)}× | ${fmt(r.cpuMicrosPerEvent)} | ${fmt(r.cpuVsLoop, 2)}× | ${fmt(r.apiCallsPer1000, 1)} |`
    )
  }
  const deliveredBy = (kind: Kind) =>
    results
      .filter((r) => r.kind === kind)
      .map((r) => r.delivered)
      .join(", ")
  console.log(
    `\nactions delivered per run (both passes): sluice ${deliveredBy("sluice trigger")}; loop ${deliveredBy("hand-written loop")}`
  )
  mkdirSync(join(outFile, ".."), { recursive: true })
  writeFileSync(
    outFile,
    JSON.stringify({ events: EVENTS, users: USERS, rounds: ROUNDS, results, summary: rows }, null, 2)
  )
  log(`results in ${outFile}`)
}

main()
  .catch(async (error) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(() => stopAll())
