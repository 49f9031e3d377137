// Exactly-once under kill -9: the real `sluice claims enrich` process with
// `--processing-guarantee exactly-once` is killed with SIGKILL three times
// while it works through 20,000 payments, and restarted each time. Read back
// with read_committed, every payment has exactly one output (enriched, failed
// or dead letter): nothing missing, nothing twice. Each kill leaves the
// killed job's open transactions behind; the next job's claim of each input
// partition aborts them.
import { assert, describe, it } from "@effect/vitest"
import * as DeadLetter from "@sluice/core/DeadLetter"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { enrichEnvironment, generate, isWellFormed, partitions } from "./support/enrichEnvironment.ts"
import { countRecords, outputTopics, produce, readerClient, readTopics, topicEnv } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

const text = new TextDecoder()
const total = 20_000
const claims = 2_000
const kills = 3

describe("exactly-once claims enrich", () => {
  it.live(
    "SIGKILL - three kills mid-load leave every payment with exactly one committed output",
    () =>
      Effect.gen(function* () {
        const { broker, env } = yield* enrichEnvironment({ claims, group: "eos-kill" })
        const generated = generate({ claims, invalidRate: 0.01 }, 0, total)
        yield* produce(broker.bootstrap, topicEnv.PAYMENT_EVENTS_TOPIC, generated)
        const jobEnv = { ...env, PROCESSING_GUARANTEE: "exactly-once" }
        // A short session, so a killed member's partitions move on quickly.
        const args = ["claims", "enrich", "--concurrency", "128", "--session-timeout", "6s"]
        const start = Effect.acquireRelease(
          Effect.sync(() => spawnSluice(args, jobEnv)),
          (job) => stopSluice(job)
        )
        const written = countRecords(broker, outputTopics)

        for (let k = 0; k < kills; k++) {
          const job = yield* start
          const from = yield* written
          // Killed while it writes: some thousand more outputs (aborted ones included) after the start.
          yield* pollUntil("the job to write", written, (n) => n >= from + 1_500 + k * 500, {
            timeoutMs: 180_000,
            intervalMs: 50
          })
          job.child.kill("SIGKILL")
          yield* Effect.promise(() => job.done)
        }
        const last = yield* start
        const committedToEnd = Effect.map(broker.committedOffsets("eos-kill"), (groups) =>
          [...(groups.get(topicEnv.PAYMENT_EVENTS_TOPIC)?.values() ?? [])].reduce((n, o) => n + Math.max(0, o), 0)
        )
        yield* pollUntil("the group to commit every input", committedToEnd, (n) => n >= total, {
          timeoutMs: 300_000,
          intervalMs: 500
        })
        assert.strictEqual(yield* stopSluice(last), 0)

        // An "end" marker after everything on every output partition: the read
        // stops at the markers, so a duplicate would show as a marker not reached.
        const markers = outputTopics.length * partitions
        yield* Effect.promise(async () => {
          const producer = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING }).producer()
          await producer.connect()
          for (const topic of outputTopics) {
            const messages = Array.from({ length: partitions }, (_, partition) => ({ partition, value: "end" }))
            await producer.send({ topic, acks: -1, messages })
          }
          await producer.disconnect()
        })
        const client = yield* readerClient(broker)
        const outputs = yield* readTopics(client, outputTopics, total + markers)
        const seen = new Map<string, number>()
        let ends = 0
        for (const o of outputs) {
          const value = text.decode(o.value)
          if (value === "end") {
            ends++
            continue
          }
          const id =
            o.topic === topicEnv.PAYMENT_EVENTS_DLQ_TOPIC
              ? `dlq:${o.headers[DeadLetter.SourcePartitionHeader]}:${o.headers[DeadLetter.SourceOffsetHeader]}`
              : String((JSON.parse(value) as { payment_id: string }).payment_id)
          seen.set(id, (seen.get(id) ?? 0) + 1)
        }
        const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0)
        const expected = generated
          .filter(isWellFormed)
          .map((r) => (JSON.parse(text.decode(r.value)) as { payment_id: string }).payment_id)
        const missing = expected.filter((id) => !seen.has(id))
        assert.strictEqual(duplicates, 0, "outputs written twice")
        assert.deepStrictEqual(missing.slice(0, 5), [], `${missing.length} payments missing`)
        assert.strictEqual(ends, markers, "every end marker read, so nothing else was left")
        assert.strictEqual(seen.size, total)
      }),
    600_000
  )
})
