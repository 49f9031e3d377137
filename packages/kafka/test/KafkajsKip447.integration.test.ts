import { assert, describe, it } from "@effect/vitest"
import * as EmbeddedKafka from "@sluice/testkit/EmbeddedKafka"
import { Effect } from "effect"
import { type Consumer, type ConsumerGroupJoinEvent, Kafka, logLevel, type Producer } from "kafkajs"

// KIP-447 through kafkajs: the patch (patches/kafkajs@2.2.4.patch) sends
// TxnOffsetCommit v3, which carries the consumer's group generation and
// member id, and a consumer's GROUP_JOIN event says which they are. With
// them the broker refuses a transaction's offsets once the member that read
// the records has left that generation: what lets one transactional producer
// serve every partition of a member, where without it each input partition
// needs a producer of its own to be fenced when the partition moves. The
// other half is OffsetFetch v7's require_stable (`admin.fetchOffsets({
// requireStable })`): a partition's new owner does not read its offset while
// a transaction of the previous owner still holds one.

const group = "kip447-group"

type Joined = ConsumerGroupJoinEvent["payload"]

interface Member {
  readonly consumer: Consumer
  /** Resolves with the member's next GROUP_JOIN (its next generation). */
  readonly nextJoin: () => Promise<Joined>
}

const kafkaOf = (bootstrap: string) =>
  new Kafka({ brokers: [bootstrap], clientId: "kip447-test", logLevel: logLevel.NOTHING })

// A member of `group` reading "in", which joins the group and processes nothing.
const member = async (kafka: Kafka): Promise<Member> => {
  // Short fetch waits: leaving the group waits for the fetch in flight.
  const consumer = kafka.consumer({
    groupId: group,
    heartbeatInterval: 100,
    sessionTimeout: 10_000,
    maxWaitTimeInMs: 100
  })
  const joins: Array<Joined> = []
  const waiting: Array<(joined: Joined) => void> = []
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const next = waiting.shift()
    if (next === undefined) joins.push(payload)
    else next(payload)
  })
  const nextJoin = () => {
    const joined = joins.shift()
    return joined !== undefined ? Promise.resolve(joined) : new Promise<Joined>((resolve) => waiting.push(resolve))
  }
  await consumer.connect()
  await consumer.subscribe({ topics: ["in"], fromBeginning: true })
  await consumer.run({ eachBatch: async () => {} })
  return { consumer, nextJoin }
}

// One transaction of outputs and the offset `offset` of "in"-0, sent as `who`'s.
const commitAs = async (producer: Producer, who: Partial<Joined>, offset: number) => {
  const txn = await producer.transaction()
  await txn.send({ topic: "out", messages: [{ key: "k", value: `offset ${offset}` }] })
  try {
    await txn.sendOffsets({
      consumerGroupId: group,
      topics: [{ topic: "in", partitions: [{ partition: 0, offset: String(offset) }] }],
      ...(who.generationId === undefined ? {} : { generationId: who.generationId }),
      ...(who.memberId === undefined ? {} : { memberId: who.memberId })
    })
  } catch (error) {
    await txn.abort()
    return (error as { type?: string }).type ?? String(error)
  }
  await txn.commit()
  return "committed"
}

describe("kafkajs KIP-447 offsets", () => {
  it.live(
    "a transaction's offsets commit with the member's current generation and are refused with an earlier one or another member's id",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("in", 2)
        yield* broker.createTopic("out", 1)
        const outcome = yield* Effect.promise(async () => {
          const kafka = kafkaOf(broker.bootstrap)
          const producer = kafka.producer({ transactionalId: "kip447-tx", idempotent: true, maxInFlightRequests: 1 })
          await producer.connect()
          const first = await member(kafka)
          const before = await first.nextJoin()
          const current = await commitAs(producer, before, 5)
          // A second member joins: the group rebalances into a new generation.
          const second = await member(kafka)
          const [after] = await Promise.all([first.nextJoin(), second.nextJoin()])
          const stale = await commitAs(producer, before, 7)
          const stranger = await commitAs(producer, { generationId: after.generationId, memberId: "zombie" }, 8)
          const renewed = await commitAs(producer, after, 9)
          await Promise.all([first.consumer.disconnect(), second.consumer.disconnect(), producer.disconnect()])
          return { generations: [before.generationId, after.generationId], current, stale, stranger, renewed }
        })
        assert.isAbove(outcome.generations[1]!, outcome.generations[0]!)
        assert.deepStrictEqual(
          { current: outcome.current, stale: outcome.stale, stranger: outcome.stranger, renewed: outcome.renewed },
          { current: "committed", stale: "ILLEGAL_GENERATION", stranger: "UNKNOWN_MEMBER_ID", renewed: "committed" }
        )
        // The refused offsets were aborted with their transactions: the last commit's offset stands.
        assert.strictEqual((yield* broker.committedOffsets(group)).get("in")?.get(0), 9)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "admin.fetchOffsets with requireStable fails while an open transaction holds the partition's offset, and answers it once committed",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("in", 2)
        yield* broker.createTopic("out", 1)
        const seen = yield* Effect.promise(async () => {
          const kafka = kafkaOf(broker.bootstrap)
          const admin = kafka.admin()
          await admin.connect()
          const fetch = (partition: number, requireStable: boolean) =>
            admin
              .fetchOffsets({ groupId: group, topics: [{ topic: "in", partitions: [partition] }], requireStable })
              .then(
                (topics) => topics.flatMap((t) => t.partitions.map((p) => `${t.topic}-${p.partition}@${p.offset}`)),
                (error: { type?: string }) => error.type ?? String(error)
              )
          const producer = kafka.producer({ transactionalId: "stable-tx", idempotent: true, maxInFlightRequests: 1 })
          await producer.connect()
          const txn = await producer.transaction()
          await txn.send({ topic: "out", messages: [{ value: "v" }] })
          await txn.sendOffsets({
            consumerGroupId: group,
            topics: [{ topic: "in", partitions: [{ partition: 0, offset: "5" }] }]
          })
          const open = { stable: await fetch(0, true), latest: await fetch(0, false), other: await fetch(1, true) }
          await txn.commit()
          const committed = await fetch(0, true)
          await Promise.all([producer.disconnect(), admin.disconnect()])
          return { open, committed }
        })
        assert.deepStrictEqual(seen, {
          open: { stable: "UNSTABLE_OFFSET_COMMIT", latest: ["in-0@-1"], other: ["in-1@-1"] },
          committed: ["in-0@5"]
        })
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "offsets without a generation are not checked, as before KIP-447",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("in", 1)
        yield* broker.createTopic("out", 1)
        const outcome = yield* Effect.promise(async () => {
          const producer = kafkaOf(broker.bootstrap).producer({
            transactionalId: "legacy-tx",
            idempotent: true,
            maxInFlightRequests: 1
          })
          await producer.connect()
          const outcome = await commitAs(producer, {}, 3)
          await producer.disconnect()
          return outcome
        })
        assert.strictEqual(outcome, "committed")
        assert.strictEqual((yield* broker.committedOffsets(group)).get("in")?.get(0), 3)
      }).pipe(Effect.scoped),
    30_000
  )
})
