import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSink from "../src/KafkaSink.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

const PARTITIONS = 3
const PER_PARTITION = 40
const BASE = 1_700_000_000_000

// Record i of partition p is stamped BASE + i * 1000 + p: timestamps rise within each partition.
const stamp = (partition: number, i: number) => BASE + i * 1000 + partition

const setUp = Effect.gen(function* () {
  const client = yield* Cluster.client(yield* Cluster.brokers)
  const topic = Cluster.unique("reset")
  yield* Admin.ensureTopics([{ topic, partitions: PARTITIONS }]).pipe(
    Effect.provideService(KafkaClient.KafkaClient, client)
  )
  const producer = yield* KafkaSink.producer(client)
  for (let p = 0; p < PARTITIONS; p++) {
    yield* Effect.promise(() =>
      producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: PER_PARTITION }, (_, i) => ({
          value: `p${p}-${i}`,
          partition: p,
          timestamp: String(stamp(p, i))
        }))
      })
    )
  }
  const committed = (groupId: string) =>
    Effect.map(
      Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [topic] })),
      (topics) => topics[0]!.partitions.map((p) => [p.partition, BigInt(p.offset)] as const).sort((a, b) => a[0] - b[0])
    )
  const reset = (groupId: string, to: Admin.ResetTarget) =>
    Admin.resetOffsets({ groupId, topic, to }).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
  return { client, topic, committed, reset }
})

describe("Admin.resetOffsets", { timeout: 120_000 }, () => {
  it.live("a timestamp commits, per partition, the first offset at or after it (computed from the stamps)", () =>
    Effect.gen(function* () {
      const { committed, reset } = yield* setUp
      const groupId = Cluster.unique("group")
      const at = BASE + 17_500
      const answered = yield* reset(groupId, { _tag: "Timestamp", timestamp: at })
      // Brute force over what was produced: the first index whose stamp is >= at.
      const expected = Array.from({ length: PARTITIONS }, (_, p) => {
        const i = Array.from({ length: PER_PARTITION }, (_, i) => i).find((i) => stamp(p, i) >= at)
        return [p, BigInt(i ?? PER_PARTITION)] as const
      })
      assert.deepStrictEqual(
        answered.map((o) => [o.partition, o.offset] as const),
        expected
      )
      assert.deepStrictEqual(yield* committed(groupId), expected)
      // After every record: each partition moves to its end.
      yield* reset(groupId, { _tag: "Timestamp", timestamp: BASE + 10_000_000 })
      assert.deepStrictEqual(
        yield* committed(groupId),
        Array.from({ length: PARTITIONS }, (_, p) => [p, BigInt(PER_PARTITION)] as const)
      )
    }).pipe(Effect.scoped)
  )

  it.live("an offset is clamped to each log; an offset per partition leaves the others alone", () =>
    Effect.gen(function* () {
      const { committed, reset } = yield* setUp
      const groupId = Cluster.unique("group")
      yield* reset(groupId, { _tag: "Offset", offset: 1000n })
      assert.deepStrictEqual(
        yield* committed(groupId),
        Array.from({ length: PARTITIONS }, (_, p) => [p, BigInt(PER_PARTITION)] as const)
      )
      yield* reset(groupId, { _tag: "Offsets", offsets: new Map([[1, 7n]]) })
      assert.deepStrictEqual(yield* committed(groupId), [
        [0, BigInt(PER_PARTITION)],
        [1, 7n],
        [2, BigInt(PER_PARTITION)]
      ])
      const error = yield* Effect.flip(reset(groupId, { _tag: "Offsets", offsets: new Map([[9, 0n]]) }))
      assert.strictEqual(error._tag, "UnknownPartition")
    }).pipe(Effect.scoped)
  )

  it.live("a group with a running member is refused, and a consumer started after a reset reads from there", () =>
    Effect.gen(function* () {
      const { client, committed, reset, topic } = yield* setUp
      const groupId = Cluster.unique("group")
      yield* reset(groupId, { _tag: "Offset", offset: BigInt(PER_PARTITION - 5) })
      const records = yield* KafkaSource.make(client, { topics: [topic], groupId })
      const reader = yield* Effect.forkScoped(
        records.pipe(
          Stream.tap((e) => e.receipt.ack),
          Stream.take(PARTITIONS * 5),
          Stream.runCollect
        )
      )
      const read = yield* Fiber.join(reader).pipe(Effect.timeout("60 seconds"))
      assert.deepStrictEqual(
        Array.from(read, (e) => Number(e.origin.offset)).sort((a, b) => a - b),
        Array.from({ length: PARTITIONS * 5 }, (_, i) => PER_PARTITION - 5 + Math.floor(i / PARTITIONS))
      )
      const error = yield* Effect.flip(reset(groupId, { _tag: "Offset", offset: 0n }))
      assert.strictEqual(error._tag, "GroupActive")
      assert.match(error.message, /running member/)
      // Nothing was moved.
      assert.isTrue((yield* committed(groupId)).every(([, offset]) => offset >= BigInt(PER_PARTITION - 5)))
    }).pipe(Effect.scoped)
  )
})
