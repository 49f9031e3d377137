/**
 * The durable state store against an in-memory store, same work, same run:
 *
 *   node --expose-gc packages/state/bench/state.bench.ts [events] [keys] [restartKeys]
 *
 * - counter: a keyed counter over `events` events (1,000,000 by default) on
 *   `keys` keys (100,000), 3 partitions, a `get` and a `set` per event and a
 *   `flush` every 1,000 events, as an operator acknowledging groups of
 *   records does; then again with the flushes pipelined (`flushAsync`: a
 *   flush is started and waited for later, so processing overlaps the
 *   changelog's round trips). The durable store writes its changelog to the broker; the
 *   baseline is core's in-memory `StateStore`. Reported: events/s of each and their
 *   ratio, the CPU time per event of each (this process, all its threads), and
 *   the embedded broker's CPU time per event of the durable runs (its own process,
 *   on the same cores; Linux only), and the garbage collector's pauses per
 *   event of each (scavenges apart: what a store leaves reachable from
 *   long-lived objects is copied by each of them).
 * - keyed counter through `Keyed.process` (keyedCounter.ts): the same events
 *   and keys as records in chunks of 1,000 through core's keyed operator, as a
 *   job runs them (per chunk it starts the store's flush, goes on, and
 *   acknowledges the chunk's receipts once the flush completes), in-memory
 *   (best of two runs) against durable. Timed from the operator's first pull,
 *   once its three stores are open (opening them, changelog topics, producers
 *   and empty restores, is once per job and reported apart as "setup"), until
 *   they are closed, so the durable time includes its last flush acknowledged
 *   and the write of what it holds to the local store with the checkpoint
 *   ("close", reported apart too). The broker's CPU covers setup as well. Fails
 *   unless all `events` receipts were acknowledged, the durable store reopened
 *   on its directory replays nothing (its local store has everything), and
 *   both stores hold the brute-force count of every key.
 * - restore: the counter's changelog restored into an empty directory
 *   (records/s, and the process's CPU time per record).
 * - restart: a store of `restartKeys` keys (1,000,000) reopened on its local
 *   directory (checkpoint: nothing to replay) versus restored into an empty
 *   one, in milliseconds.
 * - full restore by fetch size: the full restore with 10 MiB fetches per
 *   partition (the earlier setting) and with the default 1 MiB, each with its
 *   peak memory (run with `--expose-gc` so earlier phases' garbage is collected
 *   first).
 *
 * The broker is `KAFKA_BROKERS` when set, otherwise the embedded broker in a
 * process of its own (so its work does not share this process's thread).
 * Results go to stdout and to `bench/results/state.json`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer, Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks"
import { StateStore } from "@sluice/core"
import { KafkaClient } from "@sluice/kafka"
import { Duration, Effect, Layer, Option } from "effect"
import * as DurableStateStore from "../src/DurableStateStore.ts"
import { expectedCounts, keyedCounter } from "./keyedCounter.ts"

const events = Number(process.argv[2] ?? 1_000_000)
const keys = Number(process.argv[3] ?? 100_000)
const restartKeys = Number(process.argv[4] ?? 1_000_000)
const partitions = 3
const flushEvery = 1_000
const root = join(import.meta.dirname, "../../..")

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const codec = {
  encode: (n: number) => encoder.encode(String(n)),
  decode: (bytes: Uint8Array) => Number(decoder.decode(bytes))
}

interface CounterStore {
  get(partition: number, key: string): Effect.Effect<Option.Option<number>, unknown>
  set(partition: number, key: string, value: number): Effect.Effect<void, unknown>
  flush(): Effect.Effect<void, unknown>
  flushAsync?(): Effect.Effect<Effect.Effect<void, unknown>>
}

// The baseline: core's in-memory store.
const memoryStore = Effect.gen(function* () {
  const service = yield* StateStore.makeMemory()
  const store = yield* service.open("counter", codec)
  yield* store.assign(Array.from({ length: partitions }, (_, p) => p))
  return store
})

const keyNames = Array.from({ length: keys }, (_, k) => `user-${k}`)
// The collector's pauses, as Node reports them (delivered between event-loop
// turns; `takeRecords` collects those not delivered yet).
const gcEntries: Array<PerformanceEntry> = []
const gcObserver = new PerformanceObserver((list) => {
  gcEntries.push(...list.getEntries())
})
gcObserver.observe({ entryTypes: ["gc"] })
// Milliseconds of collector pauses that started in [from, to): all of them, and scavenges alone.
const gcMillis = (from: number, to: number) => {
  gcEntries.push(...gcObserver.takeRecords())
  let all = 0
  let minor = 0
  for (const entry of gcEntries) {
    if (entry.startTime < from || entry.startTime >= to) continue
    all += entry.duration
    // kind 1: a scavenge (NODE_PERFORMANCE_GC_MINOR).
    if ((entry as { readonly detail?: { readonly kind?: number } }).detail?.kind === 1) minor += entry.duration
  }
  return { all, minor }
}

// With `pipelined`, a flush is started every `flushEvery` events and waited
// for later, as a job acknowledging receipts when the changelog answers does;
// otherwise each flush is waited for at once.
// Returns the wall time, the process's CPU time (all its threads: kafkajs,
// LMDB's writer; not the broker's process) and the collector's pauses, all in
// ms: CPU time moves less with the machine's load than wall time does.
const counter = (store: CounterStore, pipelined = false) =>
  Effect.gen(function* () {
    const start = performance.now()
    const cpuStart = process.cpuUsage()
    const waits: Array<Effect.Effect<void, unknown>> = []
    for (let i = 0; i < events; i++) {
      // A spread of keys without a pattern the stores could exploit.
      const k = (i * 7919) % keys
      const partition = k % partitions
      const key = keyNames[k]!
      const old = Option.getOrElse(yield* store.get(partition, key), () => 0)
      yield* store.set(partition, key, old + 1)
      if ((i + 1) % flushEvery === 0) {
        if (pipelined && store.flushAsync !== undefined) waits.push(yield* store.flushAsync())
        else yield* store.flush()
      }
    }
    yield* store.flush()
    for (const wait of waits) yield* wait
    return yield* finish(start, cpuStart)
  })

// Ends a timed run begun at `start` (`performance.now()`) and `cpuStart`:
// its wall time, CPU time and collector pauses, in ms.
const finish = (start: number, cpuStart: NodeJS.CpuUsage) =>
  Effect.gen(function* () {
    const cpu = process.cpuUsage(cpuStart)
    const end = performance.now()
    // Let the pauses of the run's last turns be reported.
    yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
    const gc = gcMillis(start, end)
    return {
      millis: end - start,
      cpuMillis: (cpu.user + cpu.system) / 1000,
      gcMillis: gc.all,
      scavengeMillis: gc.minor
    }
  })

// The keyed counter through `Keyed.process` (see keyedCounter.ts) over `service`,
// timed from the operator's first pull (its stores open: opening them is a
// once-per-job cost, reported apart as "setup") until its stores are closed:
// for the durable store, its last flush acknowledged and what it holds
// written to its local store with the checkpoint. Fails unless every receipt
// was acknowledged and every store closed within the timed section.
const keyedRun = (service: StateStore.StateStore["Service"]) =>
  Effect.gen(function* () {
    let opened = 0
    let lastClose = 0
    // The finalizer added before `open` runs after the store's own (which flushes and closes).
    const watched = StateStore.StateStore.of({
      open: <V>(name: string, storeCodec: StateStore.Codec<V>) =>
        Effect.andThen(
          Effect.addFinalizer(() =>
            Effect.sync(() => {
              lastClose = Math.max(lastClose, performance.now())
            })
          ),
          Effect.map(service.open(name, storeCodec), (store) => {
            opened++
            return store
          })
        )
    })
    const start = performance.now()
    const { acks, firstPull, firstPullCpu, lastAck } = yield* keyedCounter(watched, {
      events,
      keys,
      partitions,
      name: "keyed",
      codec
    })
    const run = yield* finish(firstPull, firstPullCpu)
    const end = firstPull + run.millis
    if (acks !== events) throw new Error(`keyed counter: ${acks} of ${events} receipts acknowledged`)
    if (opened !== 3 || lastClose === 0 || lastClose > end)
      throw new Error(`keyed counter: ${opened} stores opened, not all closed in time`)
    return { ...run, setupMillis: firstPull - start, closeMillis: end - lastAck }
  })

// Fails unless the counts in `store` are the brute-force counts of the keyed counter's input.
const checkCounts = (store: StateStore.Store<number>, what: string) =>
  Effect.gen(function* () {
    const expected = expectedCounts(events, keys)
    let wrong = 0
    for (let k = 0; k < keys; k++) {
      const found = Option.getOrElse(yield* store.get(k % partitions, keyNames[k]!), () => 0)
      if (found !== expected[k]) wrong++
    }
    if (wrong > 0) throw new Error(`keyed counter (${what}): ${wrong} of ${keys} keys hold a wrong count`)
  })

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = new Socket()
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
    socket.connect(port, "127.0.0.1")
  })

const startBroker = async (): Promise<{ bootstrap: string; child?: ChildProcess }> => {
  const external = process.env.KAFKA_BROKERS?.trim()
  if (external) return { bootstrap: external }
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [join(root, "packages/testkit/src/main.ts"), "--port", String(port), "--partitions", "3"],
    { stdio: "ignore" }
  )
  for (let i = 0; i < 200 && !(await accepts(port)); i++) await new Promise((r) => setTimeout(r, 50))
  return { bootstrap: `127.0.0.1:${port}`, child }
}

const broker = await startBroker()

// The embedded broker's CPU time so far (user + system, ms), from Linux's
// /proc (clock ticks of 10 ms); undefined for an external broker or elsewhere.
// The broker shares this machine's cores, so its work per event counts too.
const brokerCpuMillis = (): number | undefined => {
  const pid = broker.child?.pid
  if (pid === undefined) return undefined
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}
const withBrokerCpu = <A extends object, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const start = brokerCpuMillis()
    return Effect.map(effect, (a) => {
      const end = brokerCpuMillis()
      return { ...a, brokerCpuMillis: start === undefined || end === undefined ? undefined : end - start }
    })
  })
const dirs: Array<string> = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "sluice-state-bench-"))
  dirs.push(dir)
  return dir
}
const all = Array.from({ length: partitions }, (_, p) => p)
const group = `bench-${process.pid}`

const open = (name: string, directory: string, restoreFetchBytes?: number) =>
  Effect.gen(function* () {
    const service = yield* DurableStateStore.make({ group, partitions, directory, restoreFetchBytes })
    return yield* service.open(name, codec)
  })

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([duration, a]) => [Duration.toMillis(duration), a] as const)

// The process's CPU time (all its threads) while `effect` runs, in ms: steadier than wall time on a loaded machine.
const withCpu = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const start = process.cpuUsage()
    return Effect.map(effect, (a) => {
      const cpu = process.cpuUsage(start)
      return [a, (cpu.user + cpu.system) / 1000] as const
    })
  })

interface Memory {
  /** RSS when `effect` started: what the process held already (the runtime, earlier phases' heap). */
  readonly rssBefore: number
  /** The live heap when `effect` started (after a collection with --expose-gc). */
  readonly heapBefore: number
  readonly rss: number
  /** The JS heap in use, and the memory of Buffers (fetched records, LMDB values) outside it. */
  readonly heapUsed: number
  readonly arrayBuffers: number
}

// The process's peak memory while `effect` runs, sampled every 50 ms (the restore's memory use).
const peakMemory = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    // Run with --expose-gc, the earlier phases' garbage goes first, so the peak is the restore's own.
    ;(globalThis as { gc?: () => void }).gc?.()
    const start = process.memoryUsage()
    const peak = {
      rssBefore: start.rss,
      heapBefore: start.heapUsed,
      rss: start.rss,
      heapUsed: start.heapUsed,
      arrayBuffers: start.arrayBuffers
    }
    const sample = () => {
      const m = process.memoryUsage()
      peak.rss = Math.max(peak.rss, m.rss)
      peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed)
      peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers)
    }
    const timer = setInterval(sample, 50)
    return Effect.map(
      Effect.ensuring(
        effect,
        Effect.sync(() => clearInterval(timer))
      ),
      (a) => {
        sample()
        return [a, peak as Memory] as const
      }
    )
  })

const program = Effect.gen(function* () {
  // counter: in-memory, then durable, then in-memory again (the machine warms up).
  const memoryFirst = yield* Effect.scoped(Effect.flatMap(memoryStore, counter))
  const counterDir = tempDir()
  const durable = yield* Effect.scoped(
    Effect.gen(function* () {
      const store = yield* open("counter", counterDir)
      yield* store.assign(all)
      return yield* withBrokerCpu(counter(store))
    })
  )
  const pipelined = yield* Effect.scoped(
    Effect.gen(function* () {
      const store = yield* open("pipelined", tempDir())
      yield* store.assign(all)
      return yield* withBrokerCpu(counter(store, true))
    })
  )
  const memorySecond = yield* Effect.scoped(Effect.flatMap(memoryStore, counter))
  const memory = memoryFirst.millis <= memorySecond.millis ? memoryFirst : memorySecond

  // The keyed counter through `Keyed.process`: in-memory, durable, in-memory again.
  const keyedMemoryRun = Effect.gen(function* () {
    const service = yield* StateStore.makeMemory()
    const result = yield* keyedRun(service)
    // The in-memory store keeps a store's data for as long as its service lives.
    yield* Effect.scoped(
      Effect.gen(function* () {
        const store = yield* service.open("keyed.state", codec)
        yield* store.assign(all)
        yield* checkCounts(store, "in-memory")
      })
    )
    return result
  })
  const keyedMemoryFirst = yield* keyedMemoryRun
  const keyedDir = tempDir()
  const keyedDurable = yield* withBrokerCpu(
    Effect.flatMap(DurableStateStore.make({ group, partitions, directory: keyedDir }), (service) =>
      keyedRun(StateStore.StateStore.of(service))
    )
  )
  // Reopened on its directory: the local store must hold everything (nothing replayed) and the right counts.
  const keyedReplayed = yield* Effect.scoped(
    Effect.gen(function* () {
      const store = yield* open("keyed.state", keyedDir)
      yield* store.assign(all)
      yield* checkCounts(store, "durable")
      return [...store.stats().restores.values()].reduce((n, r) => n + r.records, 0)
    })
  )
  if (keyedReplayed !== 0) {
    throw new Error(`keyed counter: ${keyedReplayed} changelog records replayed, the local store missed them`)
  }
  const keyedMemorySecond = yield* keyedMemoryRun
  const keyedMemory = keyedMemoryFirst.millis <= keyedMemorySecond.millis ? keyedMemoryFirst : keyedMemorySecond

  // restore: the counter's changelog into an empty directory.
  const [restoreMillis, restored, restoreCpu] = yield* Effect.scoped(
    Effect.gen(function* () {
      const store = yield* open("counter", tempDir())
      const [[millis], cpu] = yield* withCpu(timed(store.assign(all)))
      return [millis, [...store.stats().restores.values()].reduce((n, r) => n + r.records, 0), cpu] as const
    })
  )

  // restart: `restartKeys` keys, reopened with the checkpoint versus restored afresh.
  const restartDir = tempDir()
  yield* Effect.scoped(
    Effect.gen(function* () {
      const store = yield* open("restart", restartDir)
      yield* store.assign(all)
      for (let k = 0; k < restartKeys; k++) {
        yield* store.set(k % partitions, `user-${k}`, k)
        if ((k + 1) % 10_000 === 0) yield* store.flush()
      }
    })
  )
  const [checkpointMillis] = yield* Effect.scoped(
    Effect.flatMap(open("restart", restartDir), (store) => timed(store.assign(all)))
  )
  // The full restore, first with the 10 MiB fetches restores used before (the baseline), then with the default.
  const fullRestore = (restoreFetchBytes?: number) =>
    peakMemory(
      Effect.scoped(
        Effect.gen(function* () {
          const store = yield* open("restart", tempDir(), restoreFetchBytes)
          const [[millis], cpu] = yield* withCpu(timed(store.assign(all)))
          return [millis, [...store.stats().restores.values()].reduce((n, r) => n + r.records, 0), cpu] as const
        })
      )
    )
  const [[largeMillis, largeRecords, largeCpu], largeMemory] = yield* fullRestore(10 * 1024 * 1024)
  const [[fullMillis, fullRecords, fullCpu], fullMemory] = yield* fullRestore()
  return {
    durable,
    pipelined,
    memory,
    keyedDurable,
    keyedMemory,
    restoreMillis,
    restored,
    restoreCpu,
    checkpointMillis,
    fullMillis,
    fullRecords,
    fullCpu,
    fullMemory,
    largeMillis,
    largeRecords,
    largeCpu,
    largeMemory
  }
}).pipe(
  Effect.provide(
    Layer.fresh(KafkaClient.layer({ brokers: [broker.bootstrap], clientId: "state-bench", logLevel: "None" }))
  )
)

try {
  const r = await Effect.runPromise(program)
  interface Run {
    millis: number
    cpuMillis: number
    gcMillis: number
    scavengeMillis: number
    brokerCpuMillis?: number | undefined
  }
  const row = (scenario: string, durable: Run, memory: Run = r.memory) => ({
    scenario,
    "in-memory events/s": Math.round(events / (memory.millis / 1000)),
    "durable events/s": Math.round(events / (durable.millis / 1000)),
    "durable / in-memory": Number((memory.millis / durable.millis).toFixed(2)),
    "in-memory CPU µs/event": Number(((memory.cpuMillis * 1000) / events).toFixed(2)),
    "durable CPU µs/event": Number(((durable.cpuMillis * 1000) / events).toFixed(2)),
    "in-memory GC µs/event (scavenges)": `${((memory.gcMillis * 1000) / events).toFixed(2)} (${((memory.scavengeMillis * 1000) / events).toFixed(2)})`,
    "durable GC µs/event (scavenges)": `${((durable.gcMillis * 1000) / events).toFixed(2)} (${((durable.scavengeMillis * 1000) / events).toFixed(2)})`,
    "broker CPU µs/event":
      durable.brokerCpuMillis === undefined ? "-" : Number(((durable.brokerCpuMillis * 1000) / events).toFixed(2))
  })
  const rows = [
    row(`counter, ${events} events, ${keys} keys`, r.durable),
    row(`counter, ${events} events, ${keys} keys, flushes pipelined`, r.pipelined),
    row(`keyed counter through Keyed.process, ${events} events, ${keys} keys`, r.keyedDurable, r.keyedMemory)
  ]
  console.table(rows)
  // Around the keyed row: opening its stores (changelog topics, producers, empty restores) before
  // the first record, outside the timed section, and closing them (last flush, local store write)
  // after the last ack, inside it.
  const keyedPhases = {
    "durable setup ms": Math.round(r.keyedDurable.setupMillis),
    "durable close ms": Math.round(r.keyedDurable.closeMillis),
    "in-memory setup ms": Math.round(r.keyedMemory.setupMillis)
  }
  console.table([keyedPhases])
  const restore = {
    "changelog records": r.restored,
    "restore ms": Math.round(r.restoreMillis),
    "records/s": Math.round(r.restored / (r.restoreMillis / 1000)),
    "CPU µs/record": Number(((r.restoreCpu * 1000) / Math.max(1, r.restored)).toFixed(2))
  }
  console.table([restore])
  const restart = {
    keys: restartKeys,
    "restart with checkpoint ms": Math.round(r.checkpointMillis),
    "full restore ms": Math.round(r.fullMillis),
    "full restore records/s": Math.round(r.fullRecords / (r.fullMillis / 1000)),
    "full restore CPU µs/record": Number(((r.fullCpu * 1000) / Math.max(1, r.fullRecords)).toFixed(2)),
    "full / checkpoint": Number((r.fullMillis / Math.max(1, r.checkpointMillis)).toFixed(1)),
    "RSS before MB": Math.round(r.fullMemory.rssBefore / 1e6),
    "peak RSS MB": Math.round(r.fullMemory.rss / 1e6),
    "peak heap MB": Math.round(r.fullMemory.heapUsed / 1e6),
    "peak buffers MB": Math.round(r.fullMemory.arrayBuffers / 1e6)
  }
  console.table([restart])
  const fetches = [
    ["10 MiB", r.largeMillis, r.largeRecords, r.largeCpu, r.largeMemory],
    ["1 MiB (default)", r.fullMillis, r.fullRecords, r.fullCpu, r.fullMemory]
  ] as const
  const byFetch = fetches.map(([fetch, millis, records, cpu, memory]) => ({
    "full restore, fetch per partition": fetch,
    "records/s": Math.round(records / (millis / 1000)),
    "CPU µs/record": Number(((cpu * 1000) / Math.max(1, records)).toFixed(2)),
    "RSS before MB": Math.round(memory.rssBefore / 1e6),
    "heap before MB": Math.round(memory.heapBefore / 1e6),
    "peak RSS MB": Math.round(memory.rss / 1e6),
    "peak heap MB": Math.round(memory.heapUsed / 1e6),
    "peak buffers MB": Math.round(memory.arrayBuffers / 1e6)
  }))
  console.table(byFetch)
  mkdirSync(join(root, "bench/results"), { recursive: true })
  writeFileSync(
    join(root, "bench/results/state.json"),
    `${JSON.stringify({ events, keys, restartKeys, counter: rows[0], pipelined: rows[1], keyed: { ...rows[2], ...keyedPhases }, restore, restart, byFetch }, null, 2)}\n`
  )
} finally {
  gcObserver.disconnect()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  broker.child?.kill("SIGTERM")
}
