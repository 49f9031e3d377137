/**
 * Consume → produce with no work in between, Sluice versus a hand-written
 * kafkajs loop, same broker, same records, same run (so the ratio holds on a
 * noisy machine; absolute figures depend on it).
 *
 *   node packages/kafka/bench/pipe.bench.ts [records]
 *
 * - kafkajs loop: `eachBatch` sends the batch's records to the output topic
 *   with one `send` (acks = all), resolves the batch and lets kafkajs commit:
 *   what a careful user writes by hand.
 * - sluice: `KafkaSource` → `KafkaSink` (idempotent producer, acks = all),
 *   offsets committed by the `OffsetTracker` once the outputs are acknowledged.
 *
 * Both count a record as done when the produce request carrying it is
 * acknowledged, so neither pays for per-record bookkeeping the other skips.
 *
 * The broker is `KAFKA_BROKERS` when set, otherwise the embedded broker. The
 * two scenarios alternate for `BENCH_ROUNDS` rounds (5 by default), each on a
 * fresh consumer group, and the result is the median of the rounds' ratios:
 * a burst of load from elsewhere on the machine spoils one round, not the
 * figure. The process's CPU time per scenario is reported beside it. Results
 * go to stdout as a table and to `bench/results/pipe.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { EmbeddedKafka } from "@sluice/testkit"
import { Deferred, Effect, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"

const records = Number(process.argv[2] ?? 100_000)
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5))
const partitions = 3
const value = "x".repeat(200)
let run = 0
const name = (prefix: string) => `${prefix}-${process.pid}-${run++}`

const createTopic = (client: KafkaClient.KafkaClient["Service"], topic: string) =>
  Effect.promise(() =>
    client.admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  )

const handWritten = (client: KafkaClient.KafkaClient["Service"], kafka: Kafka, input: string) =>
  Effect.promise(async () => {
    const output = name("out-raw")
    await Effect.runPromise(createTopic(client, output))
    const producer = kafka.producer({ allowAutoTopicCreation: true })
    await producer.connect()
    const consumer = kafka.consumer({ groupId: name("raw") })
    await consumer.connect()
    await consumer.subscribe({ topics: [input], fromBeginning: true })
    let done = 0
    const start = performance.now()
    const finished = new Promise<number>((resolve) => {
      void consumer.run({
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          await producer.send({
            topic: output,
            acks: -1,
            messages: batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers ?? {} }))
          })
          done += batch.messages.length
          if (done >= records) resolve(performance.now() - start)
        }
      })
    })
    const elapsed = await finished
    await consumer.disconnect()
    await producer.disconnect()
    return elapsed
  })

const sluice = (client: KafkaClient.KafkaClient["Service"], input: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const output = name("out-sluice")
      const producer = yield* KafkaSink.producer(client)
      const all = yield* Deferred.make<number>()
      let done = 0
      const start = performance.now()
      // Counted like the hand-written loop: when a produce request is acknowledged.
      const counting: typeof producer = {
        ...producer,
        send: async (record) => {
          const metadata = await producer.send(record)
          done += record.messages.length
          if (done >= records) Deferred.doneUnsafe(all, Effect.succeed(performance.now() - start))
          return metadata
        }
      }
      yield* createTopic(client, output)
      const source = yield* KafkaSource.make(client, { topics: [input], groupId: name("sluice") })
      const pipe = source.pipe(Stream.run(KafkaSink.make(counting, output)))
      return yield* Effect.raceFirst(Deferred.await(all), Effect.andThen(pipe, Effect.die("the pipe ended early")))
    })
  )

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const program = Effect.gen(function* () {
  const external = process.env.KAFKA_BROKERS
  const brokers =
    external !== undefined && external !== ""
      ? external.split(",")
      : [(yield* EmbeddedKafka.make({ port: 0, defaultPartitions: partitions })).bootstrap]
  const kafka = new Kafka({ brokers, clientId: "bench", logLevel: logLevel.NOTHING })
  const client = yield* KafkaClient.make({ brokers, clientId: "bench", logLevel: "None" })
  const input = name("in")
  yield* Effect.promise(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: input, numPartitions: partitions }], waitForLeaders: true })
    await admin.disconnect()
    const producer = kafka.producer()
    await producer.connect()
    for (let i = 0; i < records; i += 1000) {
      await producer.send({
        topic: input,
        acks: -1,
        messages: Array.from({ length: Math.min(1000, records - i) }, (_, j) => ({ key: `k${(i + j) % 1000}`, value }))
      })
    }
    await producer.disconnect()
  })
  // Wall time decides the ratio; CPU time (the whole process, so the embedded
  // broker's share too, the same for both) shows the cost apart from waiting,
  // which a busy machine disturbs less.
  const times: { kafkajs: Array<number>; sluice: Array<number> } = { kafkajs: [], sluice: [] }
  const cpu: { kafkajs: Array<number>; sluice: Array<number> } = { kafkajs: [], sluice: [] }
  const cpuMs = <A, E>(effect: Effect.Effect<A, E>, into: Array<number>) =>
    Effect.suspend(() => {
      const before = process.cpuUsage()
      return Effect.tap(effect, () =>
        Effect.sync(() => {
          const used = process.cpuUsage(before)
          into.push((used.user + used.system) / 1000)
        })
      )
    })
  for (let round = 0; round < rounds; round++) {
    times.kafkajs.push(yield* cpuMs(handWritten(client, kafka, input), cpu.kafkajs))
    times.sluice.push(yield* cpuMs(sluice(client, input), cpu.sluice))
  }
  const ratios = times.kafkajs.map((k, i) => k / times.sluice[i]!)
  const cpuRatios = cpu.kafkajs.map((k, i) => k / cpu.sluice[i]!)
  const rate = (ms: number) => Math.round(records / (ms / 1000))
  const result = {
    records,
    partitions,
    valueBytes: value.length,
    rounds,
    kafkajsLoop: { medianMs: Math.round(median(times.kafkajs)), recordsPerSecond: rate(median(times.kafkajs)) },
    sluice: { medianMs: Math.round(median(times.sluice)), recordsPerSecond: rate(median(times.sluice)) },
    roundsMs: times.kafkajs.map((k, i) => ({ kafkajs: Math.round(k), sluice: Math.round(times.sluice[i]!) })),
    roundsCpuMs: cpu.kafkajs.map((k, i) => ({ kafkajs: Math.round(k), sluice: Math.round(cpu.sluice[i]!) })),
    ratios: ratios.map((r) => Number(r.toFixed(2))),
    // kafkajs loop time / Sluice time, median over the rounds: above 1 means Sluice was faster
    ratio: Number(median(ratios).toFixed(2)),
    cpuRatio: Number(median(cpuRatios).toFixed(2))
  }
  console.log(`pipe: ${records} records of ${value.length} bytes, ${partitions} partitions, ${rounds} rounds`)
  console.log("| pipeline | records/s (median round) | ratio (median of rounds) | CPU ratio (median) |")
  console.log("| --- | --- | --- | --- |")
  console.log(`| hand-written kafkajs eachBatch loop | ${result.kafkajsLoop.recordsPerSecond} | 1.00 | 1.00 |`)
  console.log(
    `| Sluice KafkaSource → KafkaSink | ${result.sluice.recordsPerSecond} | ${result.ratio.toFixed(2)} | ${result.cpuRatio.toFixed(2)} |`
  )
  console.log(
    `ratio per round: ${result.ratios.map((r) => r.toFixed(2)).join(" ")} (median ${result.ratio.toFixed(2)})`
  )
  const dir = join(import.meta.dirname, "..", "..", "..", "bench", "results")
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "pipe.json"), `${JSON.stringify(result, null, 2)}\n`)
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
