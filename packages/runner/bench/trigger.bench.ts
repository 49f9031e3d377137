/**
 * The event trigger end to end, every figure from one run on one machine:
 *
 *   pnpm bench trigger            (or: node packages/runner/bench/trigger.bench.ts --help)
 *
 * Parts, each a child process of its own: the embedded broker (`sluice
 * broker`), the fake Profile API on loopback (`sluice trigger
 * fake-services`), and the job under test; the fake webhook receiver of
 * `@sluice/testkit` runs in this process, counting what it accepts (without
 * keeping it: a full-size run POSTs hundreds of thousands of events). The input is generated
 * user events (`sluice trigger generate`'s generator) pre-produced to a
 * 6-partition topic. Each job runs with a fresh consumer group until the
 * group has committed the whole input:
 *
 * 1. raw pipe: kafkajs eachBatch consume → produce, no work (the ceiling);
 * 2. hand-written loop: kafkajs eachBatch, a `Map` profile cache with a
 *    10-minute TTL, the same CEL filter, a webhook POST per passing event,
 *    with the job's limits: each user's events in order, 64 users in flight
 *    (`jobs/triggerLoop.ts`);
 * 3. `sluice trigger run`, state in memory, the Profile API rate limit
 *    lifted (the loop has none).
 *
 * Measured per run, between the group's first commit and its last (start-up
 * left out): events/s, CPU µs per event of the job process, and webhook
 * deliveries/s (2xx answers of the receiver over the same span). Rounds
 * alternate the three; the ratios are per round, against the loop and the
 * raw pipe of the same round. The table goes to stdout, the same as JSON to
 * `bench/results/trigger.json`.
 *
 * The issue's size, 100k users and 1M events (each job then consumes 2M
 * records; about 15 minutes a round on an idle 2-core machine):
 *
 *   node packages/runner/bench/trigger.bench.ts --events 1000000 --users 100000 --rounds 1
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import * as FakeWebhook from "@sluice/testkit/FakeWebhook"
import { Effect, Exit, Scope } from "effect"
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
    kinds: { type: "string", default: "raw,loop,sluice" },
    "run-timeout-minutes": { type: "string" },
    "cpu-prof": { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(
    "node packages/runner/bench/trigger.bench.ts [--events N] [--users N] [--rounds N] [--out FILE]\n" +
      "  [--kinds raw,loop,sluice (the pipelines to run, in this order; a ratio against one left out is –)]\n" +
      "  [--run-timeout-minutes M (a run not done by then is reported INCOMPLETE; default 10, or 1 ms per record)]\n" +
      "  [--cpu-prof DIR (a V8 CPU profile of every sluice run; see bench/tools/cpuProfileSummary.ts)]"
  )
  process.exit(0)
}

const EVENTS = Number(flags.events)
const USERS = Number(flags.users)
const ROUNDS = Number(flags.rounds)
const kindsFlag = flags.kinds.split(",").map((k) => k.trim())
const PARTITIONS = 6
const SEED = 2026
const API_SEED = 42
const FILTER = `event.eventType == "page_view" && user.country == "US"`
// Each run consumes the events twice; allow it 1 ms per record and never less than 10 minutes.
const RUN_TIMEOUT_MS =
  flags["run-timeout-minutes"] === undefined
    ? Math.max(600_000, 2 * EVENTS)
    : Number(flags["run-timeout-minutes"]) * 60_000
// Batches of input produced at once: the input of a full-size run is 2M records.
const PRODUCE_BATCH = 1000
const PRODUCE_IN_FLIGHT = 8
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
  /** Requests the webhook receiver accepted (2xx) in the phase, and per second. */
  readonly deliveries: number
  readonly deliveriesPerSecond: number
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
  /** The in-process receiver; `url` is what the jobs POST to. */
  readonly webhook: FakeWebhook.FakeWebhook["Service"]
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
      ctx.webhook.url,
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
      ACTIONS_WEBHOOK_URL: ctx.webhook.url,
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
  // undefined when there is nothing to scrape (the loop, or a job that has exited).
  const calls = async () => {
    if (started.metricsPort === undefined) return undefined
    const text = await scrape(started.metricsPort)
    return text === undefined ? undefined : sumOf(text, "sluice_trigger_profile_calls_total")
  }
  const deliveries = () => Effect.runSync(ctx.webhook.deliveredCount)
  const deadline = Date.now() + RUN_TIMEOUT_MS
  type Mark = {
    readonly at: number
    readonly committed: number
    readonly deliveries: number
    readonly calls?: number | undefined
  }
  let first: Mark | undefined
  let middle: Mark | undefined
  let last: Mark = { at: Date.now(), committed: 0, deliveries: deliveries() }
  // The API call count as of the latest scrape, every 5 s: a run stopped before its end still has one.
  let lastCalls: number | undefined
  let scrapedAt = 0
  while (!exited && Date.now() < deadline) {
    const [entry] = await ctx.admin.fetchOffsets({ groupId: group, topics: [ctx.input] })
    const byPartition = new Map((entry?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]))
    const committed = [...byPartition.values()].reduce((a, b) => a + b, 0)
    const at = Date.now()
    const delivered = deliveries()
    if (first === undefined && committed > 0) first = { at, committed, deliveries: delivered, calls: 0 }
    // The cold pass ends when every partition is past its first-pass events; no call after that is a first one.
    const coldDone = [...ctx.firstPassEnds].every(([p, end]) => (byPartition.get(p) ?? 0) >= end)
    if (middle === undefined && coldDone) middle = { at, committed, deliveries: delivered, calls: await calls() }
    if (at - scrapedAt >= 5000) {
      scrapedAt = at
      lastCalls = (await calls()) ?? lastCalls
    }
    last = { at, committed, deliveries: delivered, calls: lastCalls }
    if (committed >= 2 * EVENTS) break
    await new Promise((r) => setTimeout(r, 100))
  }
  if (!exited) last = { ...last, calls: (await calls()) ?? lastCalls }
  const delivered =
    started.metricsPort === undefined
      ? undefined
      : sumOf((await scrape(started.metricsPort)) ?? "", "sluice_trigger_actions_total")
  await started.child.stop()
  watcher.stop()
  if (kind === "raw pipe") {
    // The copy is not read again; dropping it keeps the broker's memory to the input.
    await ctx.admin.deleteTopics({ topics: [`trigger-raw-out-${group}`] }).catch(() => undefined)
  }
  const completed = last.committed >= 2 * EVENTS
  // Rates over [from, to]; API calls over the whole pass, since `base` (the pass's start).
  const phase = (from: Mark, to: Mark, base: Mark): Phase => {
    const events = to.committed - from.committed
    const seconds = Math.max(0.001, (to.at - from.at) / 1000)
    return {
      events,
      eventsPerSecond: events / seconds,
      deliveries: to.deliveries - from.deliveries,
      deliveriesPerSecond: (to.deliveries - from.deliveries) / seconds,
      cpuMicrosPerEvent: (watcher.cpuBetween(from.at, to.at) * 1000) / Math.max(1, events),
      ...(to.calls === undefined || base.calls === undefined
        ? {}
        : { apiCallsPer1000: ((to.calls - base.calls) * 1000) / Math.max(1, to.committed - base.committed) })
    }
  }
  const mid = middle ?? last
  const origin: Mark = { at: 0, committed: 0, deliveries: 0, calls: 0 }
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
      `warm ${Math.round(result.warm.eventsPerSecond)} events/s, ${Math.round(result.warm.cpuMicrosPerEvent)} µs CPU/event; ` +
      `webhook ${Math.round(result.cold.deliveriesPerSecond)} / ${Math.round(result.warm.deliveriesPerSecond)} deliveries/s` +
      (kind === "sluice trigger"
        ? `; Profile API calls/1k ${result.cold.apiCallsPer1000?.toFixed(1)} / ${result.warm.apiCallsPer1000?.toFixed(1)}`
        : "") +
      `; load ${loadavg()[0]!.toFixed(1)}` +
      `${completed ? "" : ` — INCOMPLETE (${last.committed}/${2 * EVENTS}); stderr: ${started.child.output().stderr.slice(-1500)}`}`
  )
  return result
}

// Stands for a pipeline left out (`--kinds`): every figure and ratio against it is NaN, printed as –.
const none: Phase = {
  events: 0,
  eventsPerSecond: Number.NaN,
  cpuMicrosPerEvent: Number.NaN,
  deliveries: 0,
  deliveriesPerSecond: Number.NaN
}
const missing: RunResult = { kind: "raw pipe", round: 0, completed: false, cold: none, warm: none }

const writeResults = (content: unknown) => {
  mkdirSync(join(outFile, ".."), { recursive: true })
  writeFileSync(outFile, JSON.stringify(content, null, 2))
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
  const began = Date.now()
  const loadAtStart = loadavg()
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
  const hookScope = Effect.runSync(Scope.make())
  const webhook = await Effect.runPromise(
    FakeWebhook.make({ record: false }).pipe(Scope.provide(hookScope), Effect.orDie)
  )
  log(`broker ${brokers}, fake Profile API on ${apiPort}, webhook receiver on ${webhook.port}`)
  const kafka = new Kafka({ brokers: [brokers], clientId: "bench", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const input = `user-tracking-events-bench-${process.pid}`
  await admin.createTopics({ topics: [{ topic: input, numPartitions: PARTITIONS }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  const producing = Date.now()
  const messages = Generator.events({ seed: SEED, users: USERS }, EVENTS).map(Generator.toMessage)
  // The events twice over: the second pass finds every user's state warm, as the first pass is all
  // written before the second starts. Within a pass a few batches are in flight at once, so a user's
  // events may land out of order; no figure depends on that order (its first event is a miss, whichever).
  let firstPassEnds = new Map<number, number>()
  for (let pass = 0; pass < 2; pass++) {
    let next = 0
    const slot = async () => {
      for (let i = next; i < messages.length; i = next) {
        next += PRODUCE_BATCH
        await producer.send({ topic: input, acks: -1, messages: messages.slice(i, i + PRODUCE_BATCH) })
      }
    }
    await Promise.all(Array.from({ length: PRODUCE_IN_FLIGHT }, slot))
    if (pass === 0) {
      firstPassEnds = new Map((await admin.fetchTopicOffsets(input)).map((p) => [p.partition, Number(p.high)]))
    }
  }
  await producer.disconnect()
  log(
    `${EVENTS} events of ${USERS} users produced twice to ${input} in ${((Date.now() - producing) / 1000).toFixed(0)} s`
  )
  const dir = mkdtempSync(join(tmpdir(), "trigger-bench-"))
  const filterPath = join(dir, "filter.cel")
  writeFileSync(filterPath, `${FILTER}\n`)
  const ctx: Context = {
    admin,
    brokers,
    input,
    profileApi: `http://127.0.0.1:${apiPort}`,
    webhook,
    filterPath,
    firstPassEnds
  }
  const results: Array<RunResult> = []
  const kindNames: Record<string, Kind> = { raw: "raw pipe", loop: "hand-written loop", sluice: "sluice trigger" }
  // In the order given: the first runs first in odd rounds.
  const kinds: ReadonlyArray<Kind> = kindsFlag.flatMap((name) => (name in kindNames ? [kindNames[name]!] : []))
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternating order, so neither side always runs on the warmer (or busier) machine.
    for (const kind of round % 2 === 1 ? kinds : [...kinds].reverse()) {
      results.push(await run(ctx, kind, round))
      // What is done so far, in case a long run is stopped before the end.
      writeResults({ events: EVENTS, users: USERS, rounds: ROUNDS, partial: true, results })
    }
  }
  await admin.disconnect()
  await Effect.runPromise(Scope.close(hookScope, Exit.void))
  await services.stop(10_000)
  await broker.stop(10_000)

  const of = (kind: Kind, round: number) => results.find((r) => r.kind === kind && r.round === round) ?? missing
  const rounds = Array.from({ length: ROUNDS }, (_, i) => i + 1)
  type PhaseName = "cold" | "warm"
  const ratios = (kind: Kind, base: Kind, p: PhaseName, field: "eventsPerSecond" | "cpuMicrosPerEvent") =>
    rounds.map((r) => of(kind, r)[p][field] / of(base, r)[p][field])
  const ratio = (kind: Kind, base: Kind, p: PhaseName, field: "eventsPerSecond" | "cpuMicrosPerEvent") =>
    median(ratios(kind, base, p, field))
  const rows = (["cold", "warm"] as const).flatMap((p) =>
    kinds.map((kind) => ({
      phase: p,
      kind,
      eventsPerSecond: median(rounds.map((r) => of(kind, r)[p].eventsPerSecond)),
      cpuMicrosPerEvent: median(rounds.map((r) => of(kind, r)[p].cpuMicrosPerEvent)),
      vsLoop: ratio(kind, "hand-written loop", p, "eventsPerSecond"),
      vsLoopMin: Math.min(...ratios(kind, "hand-written loop", p, "eventsPerSecond")),
      vsLoopMax: Math.max(...ratios(kind, "hand-written loop", p, "eventsPerSecond")),
      vsRaw: ratio(kind, "raw pipe", p, "eventsPerSecond"),
      cpuVsLoop: ratio(kind, "hand-written loop", p, "cpuMicrosPerEvent"),
      apiCallsPer1000: median(rounds.map((r) => of(kind, r)[p].apiCallsPer1000 ?? Number.NaN)),
      deliveriesPerSecond:
        kind === "raw pipe" ? Number.NaN : median(rounds.map((r) => of(kind, r)[p].deliveriesPerSecond))
    }))
  )
  const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "–")
  const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "–")
  const range = (lo: number, hi: number) => (Number.isFinite(lo) ? `${lo.toFixed(2)}–${hi.toFixed(2)}×` : "–")
  const loadAtEnd = loadavg()
  console.log(
    `\ntrigger: ${EVENTS} events of ${USERS} users, twice over (state cold, then warm), ${PARTITIONS} partitions,` +
      ` ${ROUNDS} round(s) in ${((Date.now() - began) / 60_000).toFixed(1)} min; medians over rounds;` +
      ` ${cpus().length} cores, load average at the start ${loadAtStart.map((l) => l.toFixed(1)).join(" ")},` +
      ` at the end ${loadAtEnd.map((l) => l.toFixed(1)).join(" ")}\n`
  )
  console.log(
    "| state | pipeline | events/s | vs loop | vs loop, min–max | vs raw pipe | CPU µs/event | CPU vs loop | API calls/1k | webhook deliveries/s |"
  )
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for (const r of rows) {
    console.log(
      `| ${r.phase} | ${r.kind} | ${fmt(r.eventsPerSecond)} | ${times(r.vsLoop)} | ${range(r.vsLoopMin, r.vsLoopMax)} | ${times(r.vsRaw)} | ${fmt(r.cpuMicrosPerEvent)} | ${times(r.cpuVsLoop)} | ${fmt(r.apiCallsPer1000, 1)} | ${fmt(r.deliveriesPerSecond)} |`
    )
  }
  const deliveredBy = (kind: Kind) =>
    results
      .filter((r) => r.kind === kind)
      .map((r) => r.delivered)
      .join(", ")
  const receivedBy = (kind: Kind) =>
    results
      .filter((r) => r.kind === kind)
      .map((r) => r.cold.deliveries + r.warm.deliveries)
      .join(", ")
  console.log(
    `\nactions delivered per run (both passes): sluice ${deliveredBy("sluice trigger")}; loop ${deliveredBy("hand-written loop")}` +
      `\naccepted by the webhook receiver per run (first to last commit): sluice ${receivedBy("sluice trigger")}; loop ${receivedBy("hand-written loop")}`
  )
  writeResults({
    events: EVENTS,
    users: USERS,
    rounds: ROUNDS,
    minutes: (Date.now() - began) / 60_000,
    loadAtStart,
    loadAtEnd,
    results,
    summary: rows
  })
  log(`results in ${outFile}`)
}

main()
  .catch(async (error) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(() => stopAll())
