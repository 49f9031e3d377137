import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Kafka, logLevel, type Producer } from "kafkajs"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"

const kafkaFor = (bootstrap: string) =>
  new Kafka({ brokers: [bootstrap], clientId: "txn-test", logLevel: logLevel.NOTHING, retry: { retries: 2 } })

const waitFor = async (what: string, cond: () => boolean, timeoutMs = 15_000) => {
  const deadline = performance.now() + timeoutMs
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const transactional = async (kafka: Kafka, transactionalId: string, transactionTimeout = 60_000) => {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout })
  await producer.connect()
  return producer
}

/** Sends `values` to `topic` in one transaction, then commits or aborts it. */
const inTransaction = async (producer: Producer, topic: string, values: ReadonlyArray<string>, commit: boolean) => {
  const txn = await producer.transaction()
  await txn.send({ topic, messages: values.map((v, i) => ({ key: `k${i}`, value: v })) })
  if (commit) await txn.commit()
  else await txn.abort()
}

/**
 * Reads `topic` from the beginning until the value "end" arrived `ends` times
 * (once per partition); returns every value, in order within a partition.
 */
const readAll = async (kafka: Kafka, topic: string, readUncommitted: boolean, ends = 1) => {
  const consumer = kafka.consumer({ groupId: `reader-${Math.random()}`, readUncommitted, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got: Array<string> = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push(message.value?.toString() ?? "")
    }
  })
  await waitFor(`"end" on ${topic}`, () => got.filter((v) => v === "end").length >= ends)
  await consumer.disconnect()
  return got
}

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-txn-"))

describe("EmbeddedKafka transactions", () => {
  it.live(
    "transaction - committed transactions are visible to read_committed, aborted ones only to read_uncommitted",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("txn-out", 1)
        const kafka = kafkaFor(broker.bootstrap)
        const plan: ReadonlyArray<{ values: ReadonlyArray<string>; commit: boolean }> = Array.from(
          { length: 6 },
          (_, t) => ({ values: Array.from({ length: 3 + t }, (_, i) => `t${t}-${i}`), commit: t % 3 !== 1 })
        )
        const { committed, uncommitted, ends, stable } = yield* Effect.promise(async () => {
          const producer = await transactional(kafka, "writer")
          // A plain producer interleaves non-transactional records, which both isolation levels see.
          const plain = kafka.producer()
          await plain.connect()
          for (const [t, step] of plan.entries()) {
            await inTransaction(producer, "txn-out", step.values, step.commit)
            await plain.send({ topic: "txn-out", messages: [{ value: `plain-${t}` }] })
          }
          await plain.send({ topic: "txn-out", messages: [{ value: "end" }] })
          await producer.disconnect()
          await plain.disconnect()
          return {
            committed: await readAll(kafka, "txn-out", false),
            uncommitted: await readAll(kafka, "txn-out", true),
            ends: [] as Array<number>,
            stable: [] as Array<number>
          }
        })
        ends.push(...(yield* broker.endOffsets("txn-out")))
        stable.push(...(yield* broker.stableOffsets("txn-out")))
        const plainValues = [...plan.keys()].map((t) => `plain-${t}`)
        const expectCommitted = plan.flatMap((s, t) => [...(s.commit ? s.values : []), plainValues[t]!]).concat("end")
        const expectAll = plan.flatMap((s, t) => [...s.values, plainValues[t]!]).concat("end")
        assert.deepStrictEqual(committed, expectCommitted)
        assert.deepStrictEqual(uncommitted, expectAll)
        // One marker per transaction takes an offset of its own.
        assert.deepStrictEqual(ends, [expectAll.length + plan.length])
        assert.deepStrictEqual(stable, ends)
      })
  )

  it.live("fetch - a read_committed kafkajs consumer does not read past an open transaction until it commits", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      yield* broker.createTopic("open-txn", 1)
      const kafka = kafkaFor(broker.bootstrap)
      const result = yield* Effect.promise(async () => {
        const producer = await transactional(kafka, "slow")
        const plain = kafka.producer()
        await plain.connect()
        await plain.send({ topic: "open-txn", messages: [{ value: "before" }] })
        const txn = await producer.transaction()
        await txn.send({ topic: "open-txn", messages: [{ value: "inside" }] })
        await plain.send({ topic: "open-txn", messages: [{ value: "after" }] })
        const consumer = kafka.consumer({ groupId: "open-reader", maxWaitTimeInMs: 50 })
        await consumer.connect()
        await consumer.subscribe({ topic: "open-txn", fromBeginning: true })
        const got: Array<string> = []
        await consumer.run({
          eachMessage: async ({ message }) => {
            got.push(message.value?.toString() ?? "")
          }
        })
        let fetches = 0
        consumer.on(consumer.events.FETCH, () => {
          fetches++
        })
        await waitFor("the record before the transaction", () => got.length >= 1)
        // "after" is committed data but lies beyond the last stable offset: however many fetches the
        // consumer makes, it must wait for the transaction.
        const seen = fetches
        await waitFor("five more fetches", () => fetches >= seen + 5)
        const whileOpen = [...got]
        await txn.commit()
        await waitFor("the rest", () => got.length >= 3)
        await consumer.disconnect()
        await producer.disconnect()
        await plain.disconnect()
        return { whileOpen, got }
      })
      assert.deepStrictEqual(result.whileOpen, ["before"])
      assert.deepStrictEqual(result.got, ["before", "inside", "after"])
    })
  )

  it.live(
    "initProducerId - a second kafkajs producer with the same transactional id fences the first and aborts its transaction",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("fenced", 2)
        const kafka = kafkaFor(broker.bootstrap)
        const errors = yield* Effect.promise(async () => {
          const zombie = await transactional(kafka, "same-id")
          const txn = await zombie.transaction()
          await txn.send({ topic: "fenced", messages: [{ value: "zombie-0", partition: 0 }] })
          const successor = await transactional(kafka, "same-id")
          // kafkajs sends InitProducerId for its transactional id when the first transaction begins.
          const fresh = await successor.transaction()
          const failures: Array<string> = []
          const capture = (e: unknown) =>
            failures.push(e instanceof Error ? `${e.name}:${(e as { type?: string }).type}` : String(e))
          await txn.send({ topic: "fenced", messages: [{ value: "zombie-1", partition: 0 }] }).catch(capture)
          await txn.send({ topic: "fenced", messages: [{ value: "zombie-2", partition: 1 }] }).catch(capture)
          await txn.commit().catch(capture)
          await fresh.send({ topic: "fenced", messages: [{ value: "fresh" }] })
          await fresh.commit()
          const plain = kafka.producer()
          await plain.connect()
          await plain.send({
            topic: "fenced",
            messages: [
              { value: "end", partition: 0 },
              { value: "end", partition: 1 }
            ]
          })
          await plain.disconnect()
          await zombie.disconnect().catch(() => {})
          await successor.disconnect()
          return failures
        })
        assert.strictEqual(errors.length, 3)
        for (const e of errors) assert.include(e, "INVALID_PRODUCER_EPOCH")
        const seen = yield* Effect.promise(() => readAll(kafka, "fenced", false, 2))
        assert.notInclude(seen, "zombie-0")
        assert.notInclude(seen, "zombie-1")
        assert.notInclude(seen, "zombie-2")
        assert.include(seen, "fresh")
        assert.deepStrictEqual(yield* broker.describeTransaction("same-id"), {
          status: "CompleteCommit",
          producerEpoch: 1
        })
      })
  )

  it.effect(
    "tick - a kafkajs transaction open longer than its timeout is aborted on the broker's clock and its producer fenced",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("stuck", 1)
        const kafka = kafkaFor(broker.bootstrap)
        const { producer, txn } = yield* Effect.promise(async () => {
          const producer = await transactional(kafka, "stuck-id", 5000)
          const txn = await producer.transaction()
          await txn.send({ topic: "stuck", messages: [{ value: "never" }] })
          return { producer, txn }
        })
        assert.deepStrictEqual(yield* broker.stableOffsets("stuck"), [0])
        yield* TestClock.adjust("4900 millis")
        assert.strictEqual((yield* broker.describeTransaction("stuck-id"))?.status, "Ongoing")
        yield* TestClock.adjust("300 millis")
        assert.deepStrictEqual(yield* broker.describeTransaction("stuck-id"), {
          status: "CompleteAbort",
          producerEpoch: 1
        })
        assert.deepStrictEqual(yield* broker.stableOffsets("stuck"), yield* broker.endOffsets("stuck"))
        const late = yield* Effect.promise(() =>
          txn.commit().then(
            () => "committed",
            (e: unknown) => (e as { type?: string }).type ?? String(e)
          )
        )
        assert.strictEqual(late, "INVALID_PRODUCER_EPOCH")
        yield* Effect.promise(async () => {
          await producer.disconnect().catch(() => {})
          const plain = kafka.producer()
          await plain.connect()
          await plain.send({ topic: "stuck", messages: [{ value: "end" }] })
          await plain.disconnect()
        })
        assert.deepStrictEqual(yield* Effect.promise(() => readAll(kafka, "stuck", false)), ["end"])
      })
  )

  it.live(
    "txnOffsetCommit - kafkajs sendOffsets commits the group's offsets with the transaction, and not at all on abort",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make()
        yield* broker.createTopic("in", 1)
        yield* broker.createTopic("out", 1)
        const kafka = kafkaFor(broker.bootstrap)
        yield* Effect.promise(async () => {
          const producer = await transactional(kafka, "pipe")
          const offsets = (offset: string) => ({
            consumerGroupId: "pipe-group",
            topics: [{ topic: "in", partitions: [{ partition: 0, offset }] }]
          })
          const first = await producer.transaction()
          await first.send({ topic: "out", messages: [{ value: "from-0-to-4" }] })
          await first.sendOffsets(offsets("5"))
          await first.commit()
          const second = await producer.transaction()
          await second.send({ topic: "out", messages: [{ value: "from-5-to-9" }] })
          await second.sendOffsets(offsets("10"))
          await second.abort()
          await producer.disconnect()
        })
        const committed = yield* broker.committedOffsets("pipe-group")
        assert.strictEqual(committed.get("in")?.get(0), 5)
      })
  )

  it.live(
    "make - an open transaction survives a broker restart and is aborted by the next producer; committed data stays",
    () =>
      Effect.gen(function* () {
        const dataDir = tmpDir()
        const port = yield* Effect.scoped(
          Effect.gen(function* () {
            const broker = yield* EmbeddedKafka.make({ dataDir })
            yield* broker.createTopic("durable", 2)
            yield* Effect.promise(async () => {
              const kafka = kafkaFor(broker.bootstrap)
              const producer = await transactional(kafka, "durable-id")
              await inTransaction(producer, "durable", ["kept-0", "kept-1", "kept-2"], true)
              await inTransaction(producer, "durable", ["dropped-0", "dropped-1"], false)
              const open = await producer.transaction()
              await open.send({
                topic: "durable",
                messages: [
                  { value: "open-0", partition: 0 },
                  { value: "open-1", partition: 1 }
                ]
              })
              // The broker stops under the open transaction; the producer never gets to end it.
            })
            assert.strictEqual((yield* broker.describeTransaction("durable-id"))?.status, "Ongoing")
            return broker.port
          })
        )
        const broker = yield* EmbeddedKafka.make({ dataDir, port })
        assert.deepStrictEqual(yield* broker.describeTransaction("durable-id"), { status: "Ongoing", producerEpoch: 0 })
        const ends = yield* broker.endOffsets("durable")
        const stable = yield* broker.stableOffsets("durable")
        assert.isTrue(stable.every((s, p) => s < ends[p]!))
        const kafka = kafkaFor(broker.bootstrap)
        const seen = yield* Effect.promise(async () => {
          const next = await transactional(kafka, "durable-id")
          await inTransaction(next, "durable", ["after-restart"], true)
          const plain = kafka.producer()
          await plain.connect()
          await plain.send({
            topic: "durable",
            messages: [
              { value: "end", partition: 0 },
              { value: "end", partition: 1 }
            ]
          })
          await plain.disconnect()
          await next.disconnect()
          return {
            committed: await readAll(kafka, "durable", false, 2),
            all: await readAll(kafka, "durable", true, 2)
          }
        })
        assert.deepStrictEqual(seen.committed.filter((v) => v !== "end").sort(), [
          "after-restart",
          "kept-0",
          "kept-1",
          "kept-2"
        ])
        assert.includeMembers(seen.all, ["dropped-0", "dropped-1", "open-0", "open-1"])
        assert.deepStrictEqual(yield* broker.stableOffsets("durable"), yield* broker.endOffsets("durable"))
        fs.rmSync(dataDir, { recursive: true, force: true })
      })
  )
})
