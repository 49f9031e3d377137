import { assert, describe, it } from "@effect/vitest"
import * as InMemory from "@sluice/core/InMemory"
import * as Metrics from "@sluice/core/Metrics"
import { Admin, KafkaClient } from "@sluice/kafka"
import type * as KafkaLike from "@sluice/kafka/KafkaLike"
import { EmbeddedKafka } from "@sluice/testkit"
import { BigDecimal, Effect, Metric, Stream } from "effect"
import * as EnrichJob from "../src/jobs/claims/EnrichJob.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as KafkaOutputs from "../src/KafkaOutputs.ts"

const claimCount = 50
const topics = { enriched: "enriched-payments", failed: "failed-payments", deadLetters: "payment-events-dlq" }

// Answers a claim for the first `claimCount` ids, none for the rest (about 10% of payments).
const lookup = EnrichJob.perChunk((ids) =>
  Effect.succeed(
    ids.map((id) =>
      Number(id.slice(id.lastIndexOf("-") + 1)) <= claimCount
        ? Enrichment.found({ member_id: "MBR-1", claim_amount: BigDecimal.make(12_345n, 2), claim_status: "APPROVED" })
        : Enrichment.notFound
    )
  )
)

// The produce requests a producer makes, by the topics each one writes.
const counting = (client: KafkaClient.KafkaClient["Service"], requests: Array<ReadonlyArray<string>>) => ({
  ...client,
  producer: (config?: KafkaLike.ProducerConfig) =>
    Effect.map(
      client.producer(config),
      (producer): KafkaLike.Producer => ({
        ...producer,
        connect: () => producer.connect(),
        disconnect: () => producer.disconnect(),
        send: (record) => {
          requests.push([record.topic])
          return producer.send(record)
        },
        sendBatch: (batch) => {
          requests.push((batch.topicMessages ?? []).map((t) => t.topic))
          return producer.sendBatch(batch)
        }
      })
    )
})

describe("EnrichJob on Kafka outputs", () => {
  it.live(
    "run - at-least-once: a piece's enriched and failed outputs go out in one produce request",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const client = yield* KafkaClient.make({ brokers: [broker.bootstrap], logLevel: "None" })
        yield* Admin.ensureTopics(Object.values(topics).map((topic) => ({ topic, partitions: 3 }))).pipe(
          Effect.provideService(KafkaClient.KafkaClient, client)
        )
        const requests: Array<ReadonlyArray<string>> = []
        const outputs = yield* KafkaOutputs.make(counting(client, requests), "enrich", "at-least-once")
        assert.isDefined(outputs.together)

        // 600 payments from one partition in fetches of 300: two pieces of 150 each.
        const input = Array.from({ length: 600 }, (_, i) =>
          Generator.record({ seed: 11, claims: claimCount, validClaimRate: 0.9, invalidRate: 0 }, i, 1_700_000_000_000)
        )
        const memory = yield* InMemory.make
        yield* InMemory.createTopic(memory, "payment-events", 1)
        yield* InMemory.produce(memory, "payment-events", input)
        // The source's last commit happens when its scope closes.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* InMemory.source(memory, { topic: "payment-events", group: "enrich" })
            yield* EnrichJob.run({
              records: Stream.rechunk(records, 300),
              sinks: {
                enriched: outputs.to(topics.enriched),
                failed: outputs.to(topics.failed),
                deadLetters: outputs.to(topics.deadLetters),
                together: outputs.together?.({ enriched: topics.enriched, failed: topics.failed })
              },
              lookup,
              concurrency: 300,
              maxChunkSize: 150,
              ordering: "ordered"
            })
          })
        )

        const counts = Object.fromEntries(
          yield* Effect.forEach(Object.entries(topics), ([name, topic]) =>
            Effect.map(broker.endOffsets(topic), (ends) => [name, ends.reduce((a, b) => a + b, 0)] as const)
          )
        )
        assert.isAbove(counts.enriched!, 0)
        assert.isAbove(counts.failed!, 0)
        assert.strictEqual(counts.enriched! + counts.failed!, input.length)
        assert.strictEqual(counts.deadLetters, 0)
        // Four pieces of both outputs: at most one request each (fewer when the
        // pieces routed while a request was out go together), every request to both topics.
        assert.isAtMost(requests.length, 4)
        for (const request of requests) assert.sameMembers([...request], [topics.enriched, topics.failed])
        // Every payment's offset committed once its outputs were acknowledged, and counted by output.
        const committed = yield* InMemory.committed(memory, "enrich", "payment-events")
        assert.strictEqual(committed.get(0), BigInt(input.length))
        const enrichedCount = yield* Metric.value(
          Metric.withAttributes(Metrics.recordsOut, { output: "enriched", status: "SUCCESS" })
        )
        assert.strictEqual(enrichedCount.count, counts.enriched)
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())),
    60_000
  )
})
