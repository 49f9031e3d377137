/**
 * The README's Kafka pipe: records of one topic upper-cased into another,
 * offsets committed once the outputs are acknowledged. Uses the cluster of
 * `KAFKA_BOOTSTRAP_SERVERS` when set, else starts the embedded broker.
 * Run it with `node examples/kafka-pipe.ts`; the last line is a JSON summary.
 */
// #region readme
import { Envelope } from "@sluice/core"
import { KafkaClient, KafkaSink, KafkaSource } from "@sluice/kafka"
import { Effect, Stream } from "effect"

const shout = (brokers: ReadonlyArray<string>, input: string, output: string, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* KafkaClient.make({ brokers })
      const producer = yield* KafkaSink.producer(client) // idempotent, acks from all in-sync replicas
      const records = yield* KafkaSource.make(client, { topics: [input], groupId: `${input}-shout` })
      yield* records.pipe(
        Stream.take(count), // a job runs until interrupted; this one stops after `count` records
        Stream.map(Envelope.map((bytes) => new TextDecoder().decode(bytes as Uint8Array).toUpperCase())),
        Stream.run(KafkaSink.make(producer, output)) // keys and headers carry over
      )
    }) // closing the scope makes the final commit
  )

// #endregion

// What the README leaves out: the topics, the records and a broker to run on.
import * as Admin from "@sluice/kafka/Admin"
import { EmbeddedKafka } from "@sluice/testkit"

/** The values produced to the input topic, keyed by their position. */
export const inputs: ReadonlyArray<string> = ["payment one", "payment two", "payment three", "payment four"]

const brokers = Effect.suspend(() => {
  const configured = process.env.KAFKA_BOOTSTRAP_SERVERS
  return configured !== undefined && configured !== ""
    ? Effect.succeed(configured.split(","))
    : Effect.map(EmbeddedKafka.make({ port: 0 }), (broker) => [broker.bootstrap])
})

const text = new TextDecoder()

const main = Effect.gen(function* () {
  const servers = yield* brokers
  // Names of their own, so runs against a shared cluster never meet.
  const run = Math.random().toString(36).slice(2, 10)
  const input = `examples-payments-${run}`
  const output = `examples-payments-upper-${run}`
  const client = yield* KafkaClient.make({ brokers: servers })
  yield* Admin.ensureTopics([
    { topic: input, partitions: 2 },
    { topic: output, partitions: 2 }
  ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
  const producer = yield* KafkaSink.producer(client)
  yield* Effect.promise(() =>
    producer.send({ topic: input, acks: -1, messages: inputs.map((value, i) => ({ key: `k${i}`, value })) })
  )
  console.log(`produced ${inputs.length} records to ${input} on ${servers.join(",")}`)

  yield* shout(servers, input, output, inputs.length)

  const committed = yield* Effect.promise(() =>
    client.admin.fetchOffsets({ groupId: `${input}-shout`, topics: [input] })
  )
  // A partition without a commit reads -1.
  const committedTotal = committed[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
  const outputs = yield* Effect.scoped(
    Effect.gen(function* () {
      const records = yield* KafkaSource.make(client, { topics: [output], groupId: `${output}-reader` })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.take(inputs.length),
        Stream.map((e) => ({
          key: text.decode(e.origin.key ?? new Uint8Array()),
          value: text.decode(e.value as Uint8Array)
        })),
        Stream.runCollect
      )
    })
  ).pipe(Effect.timeout("30 seconds"))
  for (const o of outputs) console.log(`${output}: ${o.key} → ${o.value}`)
  console.log(`offsets committed on ${input}: ${committedTotal}`)
  console.log(JSON.stringify({ outputs, committed: committedTotal }))
}).pipe(Effect.scoped)

if (import.meta.main) Effect.runPromise(main)
