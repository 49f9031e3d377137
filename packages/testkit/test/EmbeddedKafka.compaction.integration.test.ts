import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { Kafka, logLevel } from "kafkajs"
import * as EmbeddedKafka from "../src/EmbeddedKafka.ts"

interface Rec {
  readonly offset: number
  readonly key: string
  readonly value: string | null
}

const kafkaFor = (bootstrap: string) =>
  new Kafka({ brokers: [bootstrap], clientId: "compaction-test", logLevel: logLevel.NOTHING, retry: { retries: 2 } })

/** Reads the single-partition topic from the start until a record with key `until` arrives. */
const readAll = async (kafka: Kafka, topic: string, until: string): Promise<Array<Rec>> => {
  const consumer = kafka.consumer({ groupId: `reader-${Math.random()}`, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const got: Array<Rec> = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      got.push({
        offset: Number(message.offset),
        key: message.key?.toString() ?? "",
        value: message.value?.toString() ?? null
      })
    }
  })
  const deadline = performance.now() + 15_000
  while (!got.some((r) => r.key === until)) {
    if (performance.now() > deadline) throw new Error(`timed out reading ${topic}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  await consumer.disconnect()
  return got
}

/** Brute-force reference: the last record of every key, in offset order; tombstones kept when asked. */
const latestPerKey = (records: ReadonlyArray<Rec>, keepTombstones: boolean): Array<Rec> => {
  const last = new Map<string, Rec>()
  for (const r of records) last.set(r.key, r)
  return [...last.values()].filter((r) => keepTombstones || r.value !== null).sort((a, b) => a.offset - b.offset)
}

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "sluice-compact-"))

describe("EmbeddedKafka log compaction", () => {
  it.effect(
    "make - compact topics keep the latest value per key at its offset, drop tombstones after delete.retention.ms, and persist",
    () =>
      Effect.gen(function* () {
        const dataDir = tmpDir()
        const port = yield* Effect.scoped(
          Effect.gen(function* () {
            const broker = yield* EmbeddedKafka.make({ dataDir, compactionIntervalMs: 1000 })
            const kafka = kafkaFor(broker.bootstrap)
            const before = yield* Effect.promise(async () => {
              const admin = kafka.admin()
              await admin.connect()
              await admin.createTopics({
                topics: [
                  {
                    topic: "changelog",
                    numPartitions: 1,
                    configEntries: [
                      { name: "cleanup.policy", value: "compact" },
                      { name: "delete.retention.ms", value: "10000" },
                      // Compact after every change, so a few tombstones are enough to trigger a pass.
                      { name: "min.cleanable.dirty.ratio", value: "0.01" },
                      // Only the newest batch stays in the active segment, which compaction leaves alone.
                      { name: "segment.bytes", value: "1" }
                    ]
                  },
                  { topic: "plain", numPartitions: 1 }
                ]
              })
              await admin.disconnect()
              const producer = kafka.producer()
              await producer.connect()
              // 40 keys updated in 30 sends of 20 records, a deterministic but irregular pattern.
              for (let s = 0; s < 30; s++) {
                const messages = Array.from({ length: 20 }, (_, i) => ({
                  key: `key-${(s * 7 + i * 13) % 40}`,
                  value: `v${s}-${i}`
                }))
                await producer.send({ topic: "changelog", messages })
                await producer.send({ topic: "plain", messages })
              }
              await producer.send({ topic: "changelog", messages: [{ key: "end", value: "1" }] })
              await producer.send({ topic: "plain", messages: [{ key: "end", value: "1" }] })
              await producer.disconnect()
              return readAll(kafka, "changelog", "end")
            })
            assert.strictEqual(before.length, 601)
            const ends = yield* broker.endOffsets("changelog")

            yield* TestClock.adjust("1 second")
            const compacted = yield* Effect.promise(() => readAll(kafka, "changelog", "end"))
            assert.deepStrictEqual(compacted, latestPerKey(before, true))
            assert.strictEqual(compacted.length, 41)
            // Offsets and the end of the log do not move; a topic without the policy is untouched.
            assert.deepStrictEqual(yield* broker.endOffsets("changelog"), ends)
            assert.deepStrictEqual(yield* broker.startOffsets("changelog"), [0])
            assert.strictEqual((yield* Effect.promise(() => readAll(kafka, "plain", "end"))).length, 601)

            // Tombstones for a quarter of the keys, then a last record so they are not in the newest batch.
            const withTombstones = yield* Effect.promise(async () => {
              const producer = kafka.producer()
              await producer.connect()
              await producer.send({
                topic: "changelog",
                messages: Array.from({ length: 10 }, (_, i) => ({ key: `key-${i * 4}`, value: null }))
              })
              await producer.send({ topic: "changelog", messages: [{ key: "end2", value: "1" }] })
              await producer.disconnect()
              return readAll(kafka, "changelog", "end2")
            })
            yield* TestClock.adjust("1 second")
            const tombstonesKept = yield* Effect.promise(() => readAll(kafka, "changelog", "end2"))
            assert.deepStrictEqual(tombstonesKept, latestPerKey(withTombstones, true))
            assert.strictEqual(tombstonesKept.filter((r) => r.value === null).length, 10)

            yield* TestClock.adjust("9 seconds")
            const almost = yield* Effect.promise(() => readAll(kafka, "changelog", "end2"))
            assert.strictEqual(almost.filter((r) => r.value === null).length, 10)
            yield* TestClock.adjust("1 second")
            const final = yield* Effect.promise(() => readAll(kafka, "changelog", "end2"))
            assert.deepStrictEqual(final, latestPerKey(withTombstones, false))
            assert.strictEqual(final.length, 32)
            return broker.port
          })
        )
        // Restart from the data directory: the compacted log is what was stored.
        const broker = yield* EmbeddedKafka.make({ dataDir, port })
        const kafka = kafkaFor(broker.bootstrap)
        const afterRestart = yield* Effect.promise(() => readAll(kafka, "changelog", "end2"))
        assert.strictEqual(afterRestart.length, 32)
        assert.isTrue(afterRestart.every((r) => r.value !== null))
        const segments = fs.readdirSync(path.join(dataDir, "changelog-0"))
        assert.strictEqual(segments.filter((f) => f.endsWith(".log")).length, 1)
        fs.rmSync(dataDir, { recursive: true, force: true })
      })
  )

  it.effect("createTopic - refuses an unknown cleanup policy", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make()
      const error = yield* Effect.flip(broker.createTopic("bad", 1, { "cleanup.policy": "shred" }))
      assert.strictEqual(error.reason, "Topic")
      yield* broker.createTopic("good", 1, { "cleanup.policy": "compact,delete" })
    })
  )
})
