import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import { type FakeKafka, makeFakeKafka } from "./fixtures/FakeKafka.ts"

const withClient = (fake: FakeKafka) => Effect.provide(KafkaClient.layerFromKafka(fake))

const specs: ReadonlyArray<Admin.TopicSpec> = [
  { topic: "payment-events", partitions: 6, replicationFactor: 1, configs: { "retention.ms": "86400000" } },
  { topic: "enriched-payments", partitions: 6 }
]

describe("Admin", () => {
  it.effect("ensureTopics - creates the missing topics with their partitions and configs", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka({ topics: [["enriched-payments", 6]] })
      const result = yield* Admin.ensureTopics(specs).pipe(withClient(fake))
      assert.deepStrictEqual(result, { created: ["payment-events"], existing: ["enriched-payments"] })
      assert.deepStrictEqual(fake.created, [
        {
          topic: "payment-events",
          numPartitions: 6,
          replicationFactor: 1,
          configEntries: [{ name: "retention.ms", value: "86400000" }]
        }
      ])
    })
  )

  it.effect("ensureTopics - a second call creates nothing", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka()
      yield* Admin.ensureTopics(specs).pipe(withClient(fake))
      const again = yield* Admin.ensureTopics(specs).pipe(withClient(fake))
      assert.deepStrictEqual(again, { created: [], existing: ["payment-events", "enriched-payments"] })
      assert.strictEqual(fake.calls.filter((call) => call.startsWith("admin.createTopics")).length, 1)
    })
  )

  it.effect("ensureTopics - topics created meanwhile by another instance count as existing", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka({ createTopicsResult: false })
      const result = yield* Admin.ensureTopics(specs).pipe(withClient(fake))
      assert.deepStrictEqual(result, { created: [], existing: ["payment-events", "enriched-payments"] })
    })
  )

  it.effect("ensureTopics - a topic listed twice is created once, with its first spec", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka()
      yield* Admin.ensureTopics([
        { topic: "t", partitions: 3 },
        { topic: "t", partitions: 9 }
      ]).pipe(withClient(fake))
      assert.deepStrictEqual(fake.created, [{ topic: "t", numPartitions: 3 }])
    })
  )

  it.effect("ensureTopics - a failing broker call becomes a KafkaError naming the operation", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka()
      const admin = fake.admin()
      admin.listTopics = () => Promise.reject(Object.assign(new Error("down"), { name: "KafkaJSConnectionError" }))
      const error = yield* Effect.flip(Admin.ensureTopics(specs).pipe(withClient(fake)))
      assert.strictEqual(error.operation, "listTopics")
      assert.isTrue(error.isRetryable)
    })
  )

  it.effect("ensureTopics - nothing to ensure makes no broker call", () =>
    Effect.gen(function* () {
      const fake = makeFakeKafka()
      assert.deepStrictEqual(yield* Admin.ensureTopics([]).pipe(withClient(fake)), { created: [], existing: [] })
      assert.deepStrictEqual(fake.calls, ["admin.connect", "admin.disconnect"])
    })
  )
})
