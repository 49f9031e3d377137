/**
 * What OpenTelemetry export costs the real `sluice claims enrich` process, as
 * a ratio of its CPU time with `OTEL_EXPORTER_OTLP_ENDPOINT` set to without.
 *
 *   node packages/runner/bench/telemetry-job.bench.ts [payments] [rounds]
 *
 * Each run starts the job (embedded broker in this process, a fresh database
 * on the PostgreSQL server of `DATABASE_URL` or 127.0.0.1:5432), waits until
 * it is ready, reads the job's CPU time from /proc, produces `payments`
 * generated payments, waits until all of them have an output, and reads the
 * CPU time again: the difference is the processing alone, without start-up.
 * CPU time rather than the wall clock, so other processes on the machine
 * disturb the figure less. The two modes alternate over the rounds; in the
 * `otlp` mode spans and metrics (every second) go as OTLP/JSON to a receiver
 * in this process. Linux only (/proc). Results go to stdout and to
 * `bench/results/telemetry-job.json`.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { KafkaClient, KafkaSource } from "@sluice/kafka"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect, Schedule, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import { freshDatabase } from "../test/support/database.ts"
import { spawnSluice } from "../test/support/spawnSluice.ts"

const payments = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 3)
const claims = 20_000

// utime + stime of a process, in clock ticks (the unit cancels out in the ratio).
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return Number(fields[11]) + Number(fields[12])
}

const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo
        probe.close(() => resolve(port))
      })
    })
)

let posts = 0
const receiver = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ url: string; close: () => Promise<void> }>((resolve) => {
        const server = createServer((req, res) => {
          req.resume()
          req.on("end", () => {
            posts++
            res.writeHead(200, { "content-type": "application/json" }).end("{}")
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            close: () => new Promise((done) => server.close(() => done()))
          })
        )
      })
  ),
  (r) => Effect.promise(r.close)
)

const ready = (port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/readyz`)).pipe(
    Effect.flatMap((r) => (r.status === 200 ? Effect.void : Effect.fail("not ready"))),
    Effect.retry(Schedule.spaced("200 millis")),
    Effect.timeout("60 seconds")
  )

const readCount = (bootstrap: string, topics: ReadonlyArray<string>, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* KafkaClient.make({ brokers: [bootstrap], logLevel: "None" })
      const records = yield* KafkaSource.make(client, { topics, groupId: `reader-${Math.random()}` })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.take(count),
        Stream.runCount
      )
    })
  ).pipe(Effect.timeout("300 seconds"))

const program = Effect.gen(function* () {
  const db = yield* freshDatabase("sluice_otel_bench")
  yield* Claims.migrate(db.sql)
  yield* Claims.seed(db.sql, { count: claims, seed: 3 })
  const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
  const { url } = yield* receiver
  const options = { seed: 5, claims, validClaimRate: 0.9, invalidRate: 0 }
  const messages = Array.from({ length: payments }, (_, i) => Generator.record(options, i, 1_700_000_000_000 + i)).map(
    (r) => ({ key: Buffer.from(r.key), value: Buffer.from(r.value) })
  )
  const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  yield* Effect.acquireRelease(
    Effect.promise(() => producer.connect()),
    () => Effect.promise(() => producer.disconnect())
  )

  const ticks: Record<"unset" | "otlp", Array<number>> = { unset: [], otlp: [] }
  for (let round = 0; round < rounds; round++) {
    for (const mode of ["unset", "otlp"] as const) {
      const tag = `${mode}-${round}`
      const port = yield* freePort
      const job = spawnSluice(["claims", "enrich", "--concurrency", "128"], {
        KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
        DATABASE_URL: db.url,
        METRICS_PORT: String(port),
        GROUP_ID: tag,
        PAYMENT_EVENTS_TOPIC: `in-${tag}`,
        ENRICHED_PAYMENTS_TOPIC: `enriched-${tag}`,
        FAILED_PAYMENTS_TOPIC: `failed-${tag}`,
        ...(mode === "otlp" ? { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_METRIC_EXPORT_INTERVAL: "1000" } : {})
      })
      yield* ready(port)
      const before = cpuTicks(job.child.pid!)
      yield* Effect.promise(async () => {
        for (let i = 0; i < messages.length; i += 1000) {
          await producer.send({ topic: `in-${tag}`, acks: -1, messages: messages.slice(i, i + 1000) })
        }
      })
      yield* readCount(broker.bootstrap, [`enriched-${tag}`, `failed-${tag}`], payments)
      ticks[mode].push(cpuTicks(job.child.pid!) - before)
      job.child.kill("SIGTERM")
      const exit = yield* Effect.promise(() => job.done)
      if (exit.status !== 0) return yield* Effect.die(new Error(`job exited with ${exit.status}: ${exit.stderr}`))
    }
  }
  const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
  const ratio = sum(ticks.otlp) / sum(ticks.unset)
  console.log(`${payments} payments per run, ${rounds} rounds per mode; CPU ticks of the job while processing`)
  console.log(`unset ${ticks.unset.join(" ")}`)
  console.log(`otlp  ${ticks.otlp.join(" ")}   (receiver got ${posts} posts)`)
  console.log(`otlp / unset CPU time: ${ratio.toFixed(3)}`)
  return { payments, rounds, ticks, ratio, posts }
})

Effect.runPromise(Effect.scoped(program)).then(
  (result) => {
    const out = join(import.meta.dirname, "..", "..", "..", "bench", "results")
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, "telemetry-job.json"), `${JSON.stringify(result, null, 2)}\n`)
    console.log("\nwritten to bench/results/telemetry-job.json")
    process.exit(0)
  },
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
