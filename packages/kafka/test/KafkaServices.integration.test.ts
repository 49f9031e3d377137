import { assert, describe, it } from "@effect/vitest"
import { Envelope } from "@sluice/core"
import { ConfigProvider, Effect, Layer, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

const text = new TextDecoder()
const bytes = new TextEncoder()

describe("KafkaSource and KafkaSink services", { timeout: 60_000 }, () => {
  it.live("layerConfig - a sink service writes what a source service configured from the environment reads", () =>
    Effect.gen(function* () {
      const brokers = yield* Cluster.brokers
      const topic = Cluster.unique("services")
      const group = Cluster.unique("services-group")
      const ClientLive = KafkaClient.layer({ brokers, clientId: "services-test", logLevel: "None" })
      const env = ConfigProvider.fromEnv({
        env: { KAFKA_SOURCE_TOPICS: topic, KAFKA_GROUP_ID: group, KAFKA_SINK_KEEP_HEADERS: "false" }
      })
      const values = ["one", "two", "three"]
      const read = yield* Effect.gen(function* () {
        yield* Admin.ensureTopics([{ topic, partitions: 1 }])
        const sink = yield* KafkaSink.KafkaSink
        yield* Stream.fromIterable(values).pipe(
          Stream.map((value, i) =>
            Envelope.make(
              { topic: "in", partition: 0, offset: BigInt(i), key: null, headers: [], timestamp: 0 },
              bytes.encode(value)
            )
          ),
          Stream.run(sink.to(topic))
        )
        const { records } = yield* KafkaSource.KafkaSource
        return yield* records.pipe(
          Stream.tap((e) => e.receipt.ack),
          Stream.take(values.length),
          Stream.map((e) => text.decode(e.value as Uint8Array)),
          Stream.runCollect
        )
      }).pipe(
        Effect.provide(
          Layer.mergeAll(KafkaSink.layerConfig(), KafkaSource.layerConfig()).pipe(Layer.provideMerge(ClientLive))
        ),
        Effect.provideService(ConfigProvider.ConfigProvider, env),
        Effect.timeout("45 seconds")
      )
      // The source subscribes when its layer is built, before the topic exists, so it may be
      // auto-created with several partitions: the order across them is not the order written.
      assert.deepStrictEqual([...read].sort(), [...values].sort())
    }).pipe(Effect.scoped)
  )

  it.effect("config - the source needs its topics and group, named by their variables", () =>
    Effect.gen(function* () {
      const error = yield* Effect.gen(function* () {
        return yield* KafkaSource.config
      }).pipe(
        Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: { KAFKA_GROUP_ID: "g" } })),
        Effect.flip
      )
      assert.include(error.message, "KAFKA_SOURCE_TOPICS")
    })
  )
})
