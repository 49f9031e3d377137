/**
 * The Kafka client decided by measurement: the same consume → produce pipe
 * (no work in between) written with kafkajs, the client in use, and with
 * @platformatic/kafka, against the same embedded broker, same input, same
 * run:
 *
 *   node packages/kafka/bench/clients.bench.ts [--records N] [--rounds N]
 *
 * Each pipe runs as a child process of its own (`clients/*Pipe.ts`) on a
 * fresh consumer group and output topic, reads the pre-produced input from
 * the start and measures itself (`clients/pipeReport.ts`): records per
 * second from its first fetched record to the acknowledgement of the last
 * one, its CPU time per record over that span, and its CPU while idle after
 * it (no traffic, fetches still polling). The clients alternate within a
 * round, so a burst of load from elsewhere spoils one round, not one client;
 * figures are min–max over the rounds. The broker runs in this process, so
 * its CPU is not the pipes'. Results go to stdout and to
 * `bench/results/clients.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { spawnNode, stopAll } from "../../../bench/support/nodeChild.ts"
import { formatSpread, spread } from "../../../bench/support/spread.ts"
import type { PipeReport } from "./clients/pipeReport.ts"

const { values: flags } = parseArgs({
  options: {
    records: { type: "string", default: "200000" },
    rounds: { type: "string", default: "3" },
    "idle-seconds": { type: "string", default: "5" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log("node packages/kafka/bench/clients.bench.ts [--records N] [--rounds N] [--idle-seconds S]")
  process.exit(0)
}
const RECORDS = Number(flags.records)
const ROUNDS = Math.max(1, Number(flags.rounds))
const IDLE_SECONDS = Number(flags["idle-seconds"])
const PARTITIONS = 6
// About the size of a claims payment event, with a header as the benchmarks' inputs carry.
const value = Buffer.from(JSON.stringify({ payload: "x".repeat(260) }))
const root = join(import.meta.dirname, "..", "..", "..")

const clients = {
  kafkajs: join(import.meta.dirname, "clients", "kafkajsPipe.ts"),
  "@platformatic/kafka": join(import.meta.dirname, "clients", "platformaticPipe.ts")
} as const
type Client = keyof typeof clients

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`)

interface Run extends PipeReport {
  readonly client: Client
  readonly round: number
}

const program = Effect.gen(function* () {
  const loadAtStart = loadavg()
  const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: PARTITIONS })
  const kafka = new Kafka({ brokers: [broker.bootstrap], clientId: "bench", logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  yield* Effect.promise(() => admin.connect())
  const createTopic = (topic: string) =>
    Effect.promise(() => admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true }))
  const input = `clients-in-${process.pid}`
  yield* createTopic(input)
  yield* Effect.promise(async () => {
    const producer = kafka.producer()
    await producer.connect()
    for (let i = 0; i < RECORDS; i += 1000) {
      await producer.send({
        topic: input,
        acks: -1,
        messages: Array.from({ length: Math.min(1000, RECORDS - i) }, (_, j) => ({
          key: `claim-${(i + j) % 10_000}`,
          value,
          headers: { "bench-seq": String(i + j) }
        }))
      })
    }
    await producer.disconnect()
  })
  log(`${RECORDS} records of ${value.length} bytes in ${input} (${PARTITIONS} partitions)`)

  const runs: Array<Run> = []
  let id = 0
  for (let round = 1; round <= ROUNDS; round++) {
    for (const client of Object.keys(clients) as Array<Client>) {
      const output = `clients-out-${process.pid}-${++id}`
      yield* createTopic(output)
      const child = spawnNode(clients[client], [
        ...["--brokers", broker.bootstrap, "--input", input, "--output", output],
        ...[
          "--group",
          `clients-${process.pid}-${id}`,
          "--count",
          String(RECORDS),
          "--idle-seconds",
          String(IDLE_SECONDS)
        ]
      ])
      const line = yield* Effect.promise(() => child.waitFor(/report (\{.*\})/, 600_000))
      yield* Effect.promise(() => child.stop(10_000))
      const report = JSON.parse(line[1]!) as PipeReport
      runs.push({ client, round, ...report })
      log(
        `${client} (round ${round}): ${Math.round((report.records * 1000) / report.millis)} records/s, ` +
          `${(report.cpuMicros / report.records).toFixed(1)} µs CPU/record, ${report.sends} sends, ` +
          `idle ${(report.idleCpuMicros / 10 / report.idleMillis).toFixed(2)}% of a core`
      )
    }
  }
  yield* Effect.promise(() => admin.disconnect())

  const rows = (Object.keys(clients) as Array<Client>).map((client) => {
    const rs = runs.filter((r) => r.client === client)
    return {
      client,
      recordsPerSecond: spread(rs.map((r) => (r.records * 1000) / r.millis)),
      cpuMicrosPerRecord: spread(rs.map((r) => r.cpuMicros / r.records)),
      recordsPerSend: spread(rs.map((r) => r.records / r.sends)),
      idleCpuPercent: spread(rs.map((r) => r.idleCpuMicros / 10 / r.idleMillis))
    }
  })
  const base = runs.filter((r) => r.client === "kafkajs")
  const ratio = (client: Client, f: (r: Run) => number) =>
    spread(runs.filter((r) => r.client === client).map((r) => f(r) / f(base.find((b) => b.round === r.round)!)))
  const load = (l: ReadonlyArray<number>) => l.map((x) => x.toFixed(1)).join(" ")
  console.log(
    `\nclients: consume → produce of ${RECORDS} records of ${value.length} bytes, ${PARTITIONS} partitions, embedded broker, ` +
      `${ROUNDS} rounds; ${cpus().length} cores, load average ${load(loadAtStart)} at the start, ${load(loadavg())} at the end\n`
  )
  console.log(
    "| client | records/s | × kafkajs | CPU µs / record | CPU × kafkajs | records / produce request | idle CPU % of a core |"
  )
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  for (const r of rows) {
    console.log(
      `| ${r.client} | ${formatSpread(r.recordsPerSecond)} | ${formatSpread(
        ratio(r.client, (x) => (x.records * 1000) / x.millis),
        2
      )} | ` +
        `${formatSpread(r.cpuMicrosPerRecord, 1)} | ${formatSpread(
          ratio(r.client, (x) => x.cpuMicros / x.records),
          2
        )} | ` +
        `${formatSpread(r.recordsPerSend)} | ${formatSpread(r.idleCpuPercent, 2)} |`
    )
  }
  console.log("\n- min–max over the rounds; ratios within a round.\n")
  const dir = join(root, "bench", "results")
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, "clients.json"),
    `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: cpus().length, loadAtStart, loadAtEnd: loadavg() }, records: RECORDS, valueBytes: value.length, partitions: PARTITIONS, rounds: ROUNDS, runs, rows }, null, 2)}\n`
  )
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    void stopAll().finally(() => process.exit(1))
  }
)
