// Bad input through the real `sluice claims enrich` process: every malformed
// kind of the generator, including a 1 MB value, travels through the embedded
// broker and kafkajs (producer, the job's consumer and its dead-letter
// producer) and ends in the dead-letter topic byte for byte, with its kind and
// reason; the job keeps running and enriches what comes after.
import { assert, describe, it } from "@effect/vitest"
import * as DeadLetter from "@sluice/core/DeadLetter"
import { Effect } from "effect"
import * as Generator from "../src/jobs/claims/Generator.ts"
import { accountFor, enrichEnvironment, generate, paymentId } from "./support/enrichEnvironment.ts"
import { countRecords, outputTopics, produce, readerClient, readTopics, topicEnv } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"
import { sluiceJob, stopSluice } from "./support/spawnSluice.ts"

const claims = 100

describe("sluice claims enrich - bad input", () => {
  it.live(
    "every malformed kind, a 1 MB value among them, is a dead letter with its reason; the job goes on",
    () =>
      Effect.gen(function* () {
        const { broker, env } = yield* enrichEnvironment({ claims })
        const job = yield* sluiceJob(["claims", "enrich"], env)

        const malformed = generate({ claims, invalidRate: 1 }, 0, 400)
        const oversized = malformed.find((r) => r.kind === "oversized")
        assert.isDefined(oversized, "no 1 MB record among the malformed ones")
        const wellFormed = generate({ claims, validClaimRate: 1 }, 1_000, 100)
        // Sent one at a time after the good ones, so the 1 MB record is a batch of its own on the wire.
        const produced = [...wellFormed.slice(0, 50), ...malformed, ...wellFormed.slice(50)]
        yield* produce(broker.bootstrap, topicEnv.PAYMENT_EVENTS_TOPIC, produced, 1)

        yield* pollUntil(
          "an output for every record",
          countRecords(broker, outputTopics),
          (n) => n === produced.length,
          { timeoutMs: 50_000 }
        )
        const client = yield* readerClient(broker)
        const outputs = yield* readTopics(client, outputTopics, produced.length)
        const outcomes = accountFor(produced, outputs)
        for (const r of wellFormed) assert.strictEqual(outcomes.get(paymentId(r))?.status, "SUCCESS")

        const deadLetters = outputs.filter((o) => o.topic === topicEnv.PAYMENT_EVENTS_DLQ_TOPIC)
        const kinds = new Set(deadLetters.map((o) => o.headers[DeadLetter.KindHeader]))
        assert.deepStrictEqual(
          [...kinds].sort(),
          ["invalid-fields", "invalid-json", "invalid-utf8", "too-large"],
          "dead-letter kinds"
        )
        const big = deadLetters.filter((o) => o.value.length === Generator.oversizedBytes)
        assert.strictEqual(big.length, malformed.filter((r) => r.kind === "oversized").length)
        for (const o of big) {
          assert.strictEqual(o.headers[DeadLetter.KindHeader], "too-large")
          assert.include(o.headers[DeadLetter.ReasonHeader], `${Generator.oversizedBytes} bytes`)
        }
        assert.strictEqual(yield* stopSluice(job), 0, job.output().stderr)
      }),
    90_000
  )
})
