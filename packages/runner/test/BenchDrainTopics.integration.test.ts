// The claims benchmark's output drain (bench/support/drainTopics.ts) over a
// topic written in transactions, some aborted, the last one too, and a plain
// topic: it must end by itself and hand over exactly the committed records
// (the end offsets also count commit markers and aborted records, which a
// read_committed reader never gets).
import { assert, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { drainTopics } from "../../../bench/support/drainTopics.ts"

it.live(
  "drainTopics - reads a transactional topic to its end: the committed records, no aborted ones",
  () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 3 })
      const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING })
      const n = yield* Effect.promise(async () => {
        const admin = kafka.admin()
        await admin.connect()
        await admin.createTopics({
          topics: [
            { topic: "t", numPartitions: 3 },
            { topic: "u", numPartitions: 3 }
          ]
        })
        await admin.disconnect()
        const producer = kafka.producer({ transactionalId: "w", idempotent: true, maxInFlightRequests: 1 })
        await producer.connect()
        let committed = 0
        for (let i = 0; i < 20; i++) {
          const tx = await producer.transaction()
          await tx.send({
            topic: "t",
            messages: Array.from({ length: 7 }, (_, j) => ({ key: `k${i}-${j}`, value: i % 5 === 4 ? "aborted" : "v" }))
          })
          if (i % 5 === 4) await tx.abort()
          else {
            await tx.commit()
            committed += 7
          }
        }
        await producer.disconnect()
        const plain = kafka.producer()
        await plain.connect()
        await plain.send({ topic: "u", messages: Array.from({ length: 11 }, (_, j) => ({ key: `p${j}`, value: "v" })) })
        await plain.disconnect()
        return committed + 11
      })
      const values: Array<string> = []
      const read = yield* Effect.promise(() =>
        drainTopics(kafka, ["t", "u"], (r) => values.push(String(r.value)), 60_000)
      )
      assert.notInclude(values, "aborted")
      assert.strictEqual(values.length, read)
      assert.strictEqual(read, n)
    }),
  120_000
)
