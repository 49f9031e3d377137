import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
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

  // A group whose member stays `busyCalls` describeGroups calls, then leaves; a topic of two partitions.
  const leavingGroup = (busyCalls: number) => {
    const fake = makeFakeKafka()
    const admin = fake.admin()
    let calls = 0
    admin.describeGroups = async (groupIds) => {
      calls++
      const busy = calls <= busyCalls
      return {
        groups: groupIds.map((groupId) => ({ groupId, state: busy ? "Stable" : "Empty", members: busy ? [{}] : [] }))
      }
    }
    admin.fetchTopicOffsets = async () => [
      { partition: 0, offset: "9", low: "2", high: "9" },
      { partition: 1, offset: "5", low: "0", high: "5" }
    ]
    return { fake, describes: () => calls }
  }
  const reset = (waitForEmpty?: Duration.Input) =>
    Admin.resetOffsets({ groupId: "g", topic: "t", to: { _tag: "Offset", offset: 0n }, waitForEmpty })

  it.effect("resetOffsets - a running group is refused at once, and nothing is committed", () =>
    Effect.gen(function* () {
      const { fake } = leavingGroup(1)
      const error = yield* Effect.flip(reset().pipe(withClient(fake)))
      assert.strictEqual(error._tag, "GroupActive")
      assert.notInclude(fake.calls.join(" "), "setOffsets")
    })
  )

  it.effect("resetOffsets - waitForEmpty waits on the Clock for the members to leave, then resets (clamped)", () =>
    Effect.gen(function* () {
      const { fake, describes } = leavingGroup(4)
      const fiber = yield* Effect.forkChild(reset("10 seconds").pipe(withClient(fake)))
      for (let s = 0; s < 3; s++) yield* TestClock.adjust("1 second")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 second")
      const offsets = yield* Fiber.join(fiber)
      assert.strictEqual(describes(), 5)
      assert.deepStrictEqual(offsets, [
        { partition: 0, offset: 2n },
        { partition: 1, offset: 0n }
      ])
      assert.include(fake.calls, "admin.setOffsets:t")
    })
  )

  it.effect("resetOffsets - members that outstay waitForEmpty: GroupActive", () =>
    Effect.gen(function* () {
      const { fake } = leavingGroup(100)
      const fiber = yield* Effect.forkChild(Effect.flip(reset("3 seconds").pipe(withClient(fake))))
      for (let s = 0; s < 5; s++) yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "GroupActive")
      assert.notInclude(fake.calls.join(" "), "setOffsets")
    })
  )
})
