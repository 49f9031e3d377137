/**
 * Change capture throughput from PostgreSQL logical replication, every figure
 * from one run on one machine:
 *
 *   pnpm bench cdc-capture        (or: node bench/cdc-capture.bench.ts --help)
 *
 * Parts: a private PostgreSQL cluster with `wal_level=logical` (the machine's
 * binaries, as the CDC tests start it), the seed's tables, and `--events`
 * generated business events inserted in transactions of 500; each event is
 * two row changes (the event and the upsert of its entity), so the default
 * 100,000 events are 200,000 changes. One replication slot per reader is
 * created before the insert, so every reader works through the same backlog
 * of WAL, one after the other:
 *
 * 1. baseline: a plain postgres.js replication connection (`START_REPLICATION`,
 *    pgoutput) that only counts the insert and update messages: what the
 *    server's decoding and the wire allow;
 * 2. `Capture` of `@sluice/cdc` in this process: decoding pgoutput, Debezium
 *    JSON envelopes with exact values, acknowledgement per chunk, no Kafka;
 * 3. `sluice cdc capture --single-topic` as a process of its own, writing to
 *    the embedded broker (`sluice broker`, also its own process) with acks
 *    from every replica, its slot confirmed only after Kafka has the records.
 *
 * Rows/s is counted from the first change a reader sees to the last (process
 * start-up is not counted); for the CLI the broker's end offsets are polled
 * every 50 ms. Ratios are against the baseline of the same run. The table
 * goes to stdout and as JSON to `bench/results/cdc-capture.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import type { Duplex } from "node:stream"
import { parseArgs } from "node:util"
import { PgLookup } from "@sluice/lookup"
import * as CdcGenerator from "@sluice/runner/jobs/cdc/CdcGenerator"
import * as CdcTables from "@sluice/runner/jobs/cdc/CdcTables"
import * as GenerateCommand from "@sluice/runner/jobs/cdc/GenerateCommand"
import { Effect, Redacted, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import postgres from "postgres"
import * as Capture from "../packages/cdc/src/Capture.ts"
import * as Cluster from "../packages/cdc/test/support/Cluster.ts"
import { type NodeChild, spawnNode, stopAll } from "./support/nodeChild.ts"
import { endOffsetSum } from "./support/topicOffsets.ts"

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    "max-bytes": { type: "string", default: "1024" },
    "cpu-prof": { type: "string" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log(
    "node bench/cdc-capture.bench.ts [--events 100000] [--max-bytes 1024] [--cpu-prof DIR (profile the sluice run)]"
  )
  process.exit(0)
}
const events = Number(flags.events)
const maxBytes = Number(flags["max-bytes"])
const root = join(import.meta.dirname, "..")
const sluiceBin = join(root, "packages", "runner", "bin", "sluice.js")
const publication = "sluice_cdc"
const rawTopic = "raw-business-events"
const slots = { baseline: "bench_baseline", library: "bench_library", cli: "bench_cli" } as const

const log = (line: string) => console.log(`[cdc-capture] ${line}`)

interface Measured {
  readonly changes: number
  readonly seconds: number
}

// A standby status update: flushed (and written, applied) up to `lsn`.
const statusUpdate = (lsn: bigint) => {
  const b = Buffer.alloc(34)
  b.write("r", 0)
  b.writeBigUInt64BE(lsn, 1)
  b.writeBigUInt64BE(lsn, 9)
  b.writeBigUInt64BE(lsn, 17)
  b.writeBigInt64BE(0n, 25)
  return b
}

/** The baseline: counts pgoutput insert and update messages on a plain replication connection. */
const baseline = (url: string, target: number): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const repl = postgres(url, {
      max: 1,
      fetch_types: false,
      idle_timeout: 0,
      onnotice: () => {},
      connection: { replication: "database" }
    })
    let changes = 0
    let first = 0
    let last = 0n
    ;(
      repl
        .unsafe(
          `START_REPLICATION SLOT ${slots.baseline} LOGICAL 0/0 (proto_version '1', publication_names '${publication}')`
        )
        .writable() as unknown as Promise<Duplex>
    ).then((stream) => {
      stream.on("data", (chunk: Buffer) => {
        if (chunk[0] === 0x6b /* keepalive */) {
          if (chunk[17] === 1) stream.write(statusUpdate(last))
          return
        }
        if (chunk[0] !== 0x77) return
        last = chunk.readBigUInt64BE(1)
        const tag = chunk[25]
        if (tag !== 0x49 /* I */ && tag !== 0x55 /* U */) return
        if (changes === 0) first = performance.now()
        changes++
        if (changes === target) {
          const seconds = (performance.now() - first) / 1000
          stream.write(statusUpdate(last))
          stream.end()
          void repl.end({ timeout: 1 }).then(() => resolve({ changes, seconds }))
        }
      })
      stream.on("error", reject)
    }, reject)
  })

/** `Capture` in this process: records counted and acknowledged per chunk, nothing written. */
const library = (url: string, target: number) =>
  Effect.gen(function* () {
    const capture = yield* Capture.make({
      url,
      serverName: "sluice",
      slot: slots.library,
      publication,
      tables: CdcTables.tables
    })
    let changes = 0
    let first = 0
    yield* capture.records.pipe(
      Stream.mapArray((chunk) => {
        if (changes === 0) first = performance.now()
        changes += chunk.length
        return [chunk[chunk.length - 1]!.lsn]
      }),
      Stream.tap((lsn) => capture.acknowledge(lsn)),
      Stream.takeUntil(() => changes >= target),
      Stream.runDrain
    )
    return { changes, seconds: (performance.now() - first) / 1000 } satisfies Measured
  }).pipe(Effect.scoped)

/** `sluice cdc capture` as its own process, into the broker process; end offsets polled. */
const cli = async (url: string, brokers: string, target: number): Promise<Measured & { readonly job: NodeChild }> => {
  const kafka = new Kafka({ brokers: [brokers], clientId: "bench", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const profile = flags["cpu-prof"]
  const job = spawnNode(sluiceBin, ["cdc", "capture", "--single-topic"], {
    ...(profile === undefined
      ? {}
      : {
          nodeFlags: [
            "--cpu-prof",
            `--cpu-prof-dir=${profile}`,
            `--cpu-prof-name=cdc-capture-${process.pid}.cpuprofile`
          ]
        }),
    env: {
      KAFKA_BOOTSTRAP_SERVERS: brokers,
      DATABASE_URL: url,
      CDC_SLOT: slots.cli,
      CDC_PUBLICATION: publication,
      METRICS_PORT: "0"
    }
  })
  try {
    await job.waitFor(/cdc capture started/, 120_000)
    let first: { readonly at: number; readonly count: number } | undefined
    const deadline = performance.now() + 30 * 60_000
    while (performance.now() < deadline && job.process.exitCode === null) {
      const count = await endOffsetSum(admin, rawTopic).catch(() => 0)
      const at = performance.now()
      if (first === undefined && count > 0) first = { at, count }
      if (first !== undefined && count >= target) {
        return { changes: count - first.count, seconds: (at - first.at) / 1000, job }
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`sluice cdc capture did not reach ${target} records: ${job.output().stderr.slice(-2000)}`)
  } finally {
    await admin.disconnect()
  }
}

const program = Effect.gen(function* () {
  const cluster = yield* Cluster.start
  const url = cluster.url
  const pg = yield* PgLookup.makeClient({ url: Redacted.make(url), poolSize: 2 })
  yield* CdcTables.migrate(pg.sql)
  yield* Effect.promise(() =>
    pg.sql.unsafe(`CREATE PUBLICATION ${publication} FOR TABLE ${CdcTables.tables.join(", ")}`)
  )
  for (const slot of Object.values(slots)) {
    yield* Effect.promise(() => pg.sql.unsafe(`SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`))
  }
  const insertStarted = performance.now()
  for (let from = 0; from < events; from += 500) {
    const batch = Array.from({ length: Math.min(500, events - from) }, (_, i) =>
      CdcGenerator.event({ seed: 3, minBytes: 400, maxBytes }, from + i)
    )
    yield* GenerateCommand.insert(pg.sql, batch)
  }
  const insertSeconds = (performance.now() - insertStarted) / 1000
  // Every event is a change, and so is the upsert of its entity (an insert or an update).
  const [counted] = (yield* Effect.promise(() =>
    pg.sql.unsafe(
      `SELECT (SELECT count(*) FROM business_events)::int
            + (SELECT count(*) FROM business_events WHERE entity_type IN ('Loan', 'Car', 'Service'))::int AS n,
              pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS wal
         FROM pg_replication_slots WHERE slot_name = '${slots.baseline}'`
    )
  )) as unknown as [{ n: number; wal: string }]
  const target = counted.n
  log(`${events} events inserted in ${insertSeconds.toFixed(1)} s: ${target} changes, ${counted.wal} of WAL`)

  const base = yield* Effect.promise(() => baseline(url, target))
  log(`baseline: ${Math.round(base.changes / base.seconds)} changes/s`)
  const lib = yield* library(url, target)
  log(`Capture: ${Math.round(lib.changes / lib.seconds)} changes/s`)

  const broker = spawnNode(sluiceBin, ["broker", "--port", "0"])
  const brokers = (yield* Effect.promise(() => broker.waitFor(/listening on (\S+)/, 60_000)))[1]!
  const cmd = yield* Effect.promise(() => cli(url, brokers, target))
  log(`sluice cdc capture: ${Math.round(cmd.changes / cmd.seconds)} changes/s`)
  yield* Effect.promise(() => cmd.job.stop(10_000))
  yield* Effect.promise(() => broker.stop(10_000))

  const rate = (m: Measured) => m.changes / m.seconds
  const rows = [
    { reader: "baseline: postgres.js START_REPLICATION, counting", measured: base },
    { reader: "Capture (@sluice/cdc), no Kafka", measured: lib },
    { reader: "sluice cdc capture → embedded broker", measured: cmd }
  ].map(({ reader, measured }) => ({
    reader,
    changes: measured.changes,
    seconds: Number(measured.seconds.toFixed(2)),
    changesPerSecond: Math.round(rate(measured)),
    vsBaseline: Number((rate(measured) / rate(base)).toFixed(3))
  }))
  console.log(`\n${events} events (${target} changes, payloads 400 B to ${maxBytes} B), ${counted.wal} of WAL;`)
  console.log(
    `${cpus().length} cores, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}\n`
  )
  console.log("| reader | changes/s | × baseline |\n|---|---:|---:|")
  for (const r of rows) console.log(`| ${r.reader} | ${r.changesPerSecond.toLocaleString("en")} | ${r.vsBaseline} |`)
  const dir = join(root, "bench", "results")
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, "cdc-capture.json"),
    `${JSON.stringify({ events, maxBytes, changes: target, wal: counted.wal, insertSeconds, rows, load: loadavg() }, null, 2)}\n`
  )
}).pipe(Effect.scoped)

Effect.runPromise(program).then(
  () => process.exit(0),
  async (error: unknown) => {
    console.error(error)
    await stopAll()
    process.exit(1)
  }
)
