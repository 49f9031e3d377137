import { assert, describe, it } from "@effect/vitest"
import * as EmbeddedKafka from "@sluice/testkit/EmbeddedKafka"
import { Effect } from "effect"
import { Kafka, logLevel, type Producer } from "kafkajs"

// kafkajs 2.2.4 looked the transaction coordinator up (FindCoordinator)
// before every AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, and the group
// coordinator before every TxnOffsetCommit: four extra round trips in each
// transaction, per input partition in exactly-once mode. The patch
// (patches/kafkajs@2.2.4.patch) keeps the coordinators until a request to one
// fails, and retries once where the broker answers that it is not (or no
// longer) the coordinator.

const group = "txn-coordinator-group"

const connect = async (bootstrap: string, transactionalId: string) => {
  const kafka = new Kafka({ brokers: [bootstrap], clientId: "coordinator-test", logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return producer
}

// One exactly-once cycle as the transactional sink runs it: outputs, input offsets, commit.
const cycle = async (producer: Producer, i: number) => {
  const txn = await producer.transaction()
  await txn.send({ topic: "out", messages: [{ key: `k${i}`, value: `v${i}` }] })
  await txn.sendOffsets({
    consumerGroupId: group,
    topics: [{ topic: "in", partitions: [{ partition: 0, offset: String(i + 1) }] }]
  })
  await txn.commit()
}

const counts = (broker: EmbeddedKafka.Broker) =>
  Effect.all({
    findCoordinator: broker.requestCount("FindCoordinator"),
    addPartitions: broker.requestCount("AddPartitionsToTxn"),
    addOffsets: broker.requestCount("AddOffsetsToTxn"),
    txnOffsetCommit: broker.requestCount("TxnOffsetCommit"),
    endTxn: broker.requestCount("EndTxn")
  })

// A broker and a transactional producer `id` past its first cycle, which found both coordinators.
const started = (id: string) =>
  Effect.gen(function* () {
    const broker = yield* EmbeddedKafka.make()
    yield* broker.createTopic("in", 1)
    yield* broker.createTopic("out", 1)
    const producer = yield* Effect.promise(() => connect(broker.bootstrap, id))
    yield* Effect.promise(() => cycle(producer, 0))
    return { broker, producer }
  })

describe("kafkajs transaction coordinators", () => {
  it.live(
    "transactions after the first send no FindCoordinator, and every other request once",
    () =>
      Effect.gen(function* () {
        const { broker, producer } = yield* started("cached")
        const before = yield* counts(broker)
        const n = 20
        yield* Effect.promise(async () => {
          for (let i = 1; i <= n; i++) await cycle(producer, i)
        })
        const after = yield* counts(broker)
        yield* Effect.promise(() => producer.disconnect())
        assert.deepStrictEqual(
          {
            findCoordinator: after.findCoordinator - before.findCoordinator,
            addPartitions: after.addPartitions - before.addPartitions,
            addOffsets: after.addOffsets - before.addOffsets,
            txnOffsetCommit: after.txnOffsetCommit - before.txnOffsetCommit,
            endTxn: after.endTxn - before.endTxn
          },
          { findCoordinator: 0, addPartitions: n, addOffsets: n, txnOffsetCommit: n, endTxn: n }
        )
        const committed = yield* broker.committedOffsets(group)
        assert.strictEqual(committed.get("in")?.get(0), n + 1)
        assert.deepStrictEqual(yield* broker.stableOffsets("out"), yield* broker.endOffsets("out"))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a coordinator that answers NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE is looked up again and the request retried",
    () =>
      Effect.gen(function* () {
        const { broker, producer } = yield* started("moving")
        const start = yield* counts(broker)
        yield* broker.refuseNext("EndTxn", "NOT_COORDINATOR")
        yield* Effect.promise(() => cycle(producer, 1))
        const afterEndTxn = yield* counts(broker)
        yield* broker.refuseNext("AddOffsetsToTxn", "COORDINATOR_NOT_AVAILABLE")
        yield* Effect.promise(() => cycle(producer, 2))
        const afterAddOffsets = yield* counts(broker)
        // The coordinator found again is kept.
        yield* Effect.promise(() => cycle(producer, 3))
        const end = yield* counts(broker)
        yield* Effect.promise(() => producer.disconnect())
        // Each refusal: one lookup and the refused request once more.
        assert.strictEqual(afterEndTxn.findCoordinator - start.findCoordinator, 1)
        assert.strictEqual(afterEndTxn.endTxn - start.endTxn, 2)
        assert.strictEqual(afterAddOffsets.findCoordinator - afterEndTxn.findCoordinator, 1)
        assert.strictEqual(afterAddOffsets.addOffsets - afterEndTxn.addOffsets, 2)
        assert.strictEqual(end.findCoordinator, afterAddOffsets.findCoordinator)
        const committed = yield* broker.committedOffsets(group)
        assert.strictEqual(committed.get("in")?.get(0), 4)
        // Every transaction committed: four records, none left open.
        assert.deepStrictEqual(yield* broker.endOffsets("out"), yield* broker.stableOffsets("out"))
        assert.strictEqual((yield* broker.describeTransaction("moving"))?.status, "CompleteCommit")
      }).pipe(Effect.scoped),
    60_000
  )
})
