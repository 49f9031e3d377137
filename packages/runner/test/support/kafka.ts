import { KafkaClient, KafkaSource } from "@sluice/kafka"
import type { EmbeddedKafka } from "@sluice/testkit"
import { type Duration, Effect, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import type * as Generator from "../../src/jobs/claims/Generator.ts"
import * as Publish from "../../src/jobs/claims/Publish.ts"

/** The topics of the enrich job, as environment variables of the CLI. */
export const topicEnv = {
  PAYMENT_EVENTS_TOPIC: "payment-events",
  ENRICHED_PAYMENTS_TOPIC: "enriched-payments",
  FAILED_PAYMENTS_TOPIC: "failed-payments",
  PAYMENT_EVENTS_DLQ_TOPIC: "payment-events-dlq",
  LARGE_CLAIMS_TOPIC: "large-claims"
} as const

/** The enrich job's output topics. */
export const outputTopics = [
  topicEnv.ENRICHED_PAYMENTS_TOPIC,
  topicEnv.FAILED_PAYMENTS_TOPIC,
  topicEnv.PAYMENT_EVENTS_DLQ_TOPIC
] as const

/** A generated record, optionally sent to a chosen partition instead of the key's. */
export type Outgoing = Generator.GeneratedRecord & { readonly partition?: number }

/**
 * Produces records with a plain kafkajs producer (acks from all replicas), in
 * sends of at most `chunk` records, and disconnects.
 */
export const produce = (bootstrap: string, topic: string, records: ReadonlyArray<Outgoing>, chunk = 1000) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    try {
      for (let i = 0; i < records.length; i += chunk) {
        await producer.send({
          topic,
          acks: -1,
          messages: records.slice(i, i + chunk).map((r) => ({
            ...Publish.toKafkaMessage(r),
            ...(r.partition === undefined ? {} : { partition: r.partition })
          }))
        })
      }
    } finally {
      await producer.disconnect()
    }
  })

/** Records written to the topics so far (the sum of their partitions' end offsets). */
export const countRecords = (broker: EmbeddedKafka.Broker, topics: ReadonlyArray<string>) =>
  Effect.map(
    Effect.forEach(topics, (topic) =>
      broker.endOffsets(topic).pipe(
        Effect.map((offsets) => offsets.reduce((a, b) => a + b, 0)),
        // A topic the job has not created yet holds nothing.
        Effect.orElseSucceed(() => 0)
      )
    ),
    (counts) => counts.reduce((a, b) => a + b, 0)
  )

/** A record read back from a topic. */
export interface Output {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  readonly value: Uint8Array
  readonly headers: Readonly<Record<string, string>>
}

const text = new TextDecoder()

/** Reads `count` records from the topics with a fresh consumer group. */
export const readTopics = (
  client: KafkaClient.KafkaClient["Service"],
  topics: ReadonlyArray<string>,
  count: number,
  timeout: Duration.Input = "180 seconds"
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const records = yield* KafkaSource.make(client, { topics, groupId: `reader-${Math.random()}` })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.map(
          (e): Output => ({
            topic: e.origin.topic,
            partition: e.origin.partition,
            offset: e.origin.offset,
            value: e.value as Uint8Array,
            headers: Object.fromEntries(e.origin.headers.map(([name, value]) => [name, text.decode(value)]))
          })
        ),
        Stream.take(count),
        Stream.runCollect
      )
    })
  ).pipe(Effect.timeout(timeout))

/** A Kafka client for reading a test's topics. */
export const readerClient = (broker: EmbeddedKafka.Broker) =>
  KafkaClient.make({ brokers: [broker.bootstrap], logLevel: "None" })
