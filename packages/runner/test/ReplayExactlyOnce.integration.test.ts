// `sluice replay --processing-guarantee exactly-once` as the real CLI over a
// failed topic written the way an exactly-once enrich job writes it: in Kafka
// transactions, so every partition ends with a transaction marker, plus one
// aborted transaction of DB errors a read_committed reader never sees. The
// replay is killed with SIGKILL once it has written outputs, then run again:
// it must end by itself (markers and aborted records count as drained), and
// read back read_committed every replayable payment has exactly one output,
// and nothing comes from the aborted transaction.
import { assert, describe, it } from "@effect/vitest"
import * as Envelope from "@sluice/core/Envelope"
import { KafkaClient } from "@sluice/kafka"
import { EmbeddedKafka } from "@sluice/testkit"
import { BigDecimal, DateTime, Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import type * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as ReplayJob from "../src/jobs/claims/ReplayJob.ts"
import { freshDatabase } from "./support/database.ts"
import { topicEnv } from "./support/kafka.ts"
import * as LookupErrors from "./support/lookupErrors.ts"
import { pollUntil } from "./support/poll.ts"
import { readCommitted } from "./support/readCommitted.ts"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

const text = new TextDecoder()
const claimCount = 200
const existing = 1_500
const missing = 60
const abortedCount = 50
const perTransaction = 100

interface Failed {
  readonly id: string
  readonly claimId: string
  readonly value: Uint8Array
}

// A failed record as the enrich job writes it, a DB error for `claimId`.
const failed = (id: string, n: number, claimId: string): Failed => {
  const event: PaymentEvent.PaymentEvent = {
    payment_id: id,
    claim_id: claimId,
    payment_amount: BigDecimal.make(BigInt(50_000 + n * 1_013), 2),
    payment_date: DateTime.makeUnsafe(1_710_000_000_000 + n * 60_000),
    processor_id: `PROC-${n % 4}`
  }
  const outcome = Enrichment.failed(LookupErrors.unavailable("connection refused"))
  const { record } = Enrichment.enrichmentResult(event, outcome, DateTime.makeUnsafe(1_720_000_000_000))
  return { id, claimId, value: EnrichedPayment.encode(record) }
}

// Committed transactions of `perTransaction` records each, then one aborted transaction.
const writeTransactionally = (bootstrap: string, committed: ReadonlyArray<Failed>, aborted: ReadonlyArray<Failed>) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ transactionalId: "failed-writer", idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const messages = (records: ReadonlyArray<Failed>) =>
      records.map((r) => ({ key: r.claimId, value: Buffer.from(r.value) }))
    try {
      for (let i = 0; i < committed.length; i += perTransaction) {
        const tx = await producer.transaction()
        await tx.send({
          topic: topicEnv.FAILED_PAYMENTS_TOPIC,
          messages: messages(committed.slice(i, i + perTransaction))
        })
        await tx.commit()
      }
      const tx = await producer.transaction()
      await tx.send({ topic: topicEnv.FAILED_PAYMENTS_TOPIC, messages: messages(aborted) })
      await tx.abort()
    } finally {
      await producer.disconnect()
    }
  })

const paymentId = (e: Envelope.Envelope<Envelope.Payload>): string =>
  (JSON.parse(text.decode(e.value as Uint8Array)) as { payment_id: string }).payment_id

// How many outputs each payment id has.
const tally = (records: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>) => {
  const counts = new Map<string, number>()
  for (const r of records) counts.set(paymentId(r), (counts.get(paymentId(r)) ?? 0) + 1)
  return counts
}

describe("sluice replay, exactly-once", () => {
  it.live(
    "over a transactional failed topic: killed and run again, each replayed payment once read_committed, ends by itself",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_replay_eos")
        yield* Claims.migrate(db.sql)
        yield* Claims.seed(db.sql, { count: claimCount, seed: 7 })
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
        const client = yield* KafkaClient.make({ brokers: [broker.bootstrap], logLevel: "None" })
        yield* Effect.promise(() =>
          client.admin.createTopics({ topics: [{ topic: topicEnv.FAILED_PAYMENTS_TOPIC, numPartitions: 6 }] })
        )
        const replayable = Array.from({ length: existing }, (_, n) =>
          failed(`PAY-${n}`, n, Claims.claimId((n % claimCount) + 1))
        )
        const notFound = Array.from({ length: missing }, (_, n) => failed(`PAY-M${n}`, n, `CLM-9${n}0000`))
        const aborted = Array.from({ length: abortedCount }, (_, n) =>
          failed(`PAY-A${n}`, n, Claims.claimId((n % claimCount) + 1))
        )
        yield* writeTransactionally(broker.bootstrap, [...replayable, ...notFound], aborted)

        const env = {
          ...topicEnv,
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: db.url,
          GROUP_ID: "replay-eos",
          METRICS_PORT: "0",
          PROCESSING_GUARANTEE: "exactly-once"
        }
        const start = Effect.acquireRelease(
          Effect.sync(() => spawnSluice(["replay", "--session-timeout", "6s"], env)),
          (p) => stopSluice(p)
        )
        const written = Effect.map(broker.endOffsets(topicEnv.ENRICHED_PAYMENTS_TOPIC), (offsets) =>
          offsets.reduce((a, b) => a + b, 0)
        ).pipe(Effect.orElseSucceed(() => 0))

        // 1. Killed once it has written outputs (committed or not).
        const first = yield* start
        yield* pollUntil("the first replay to write", written, (n) => n > 0, { timeoutMs: 120_000, intervalMs: 20 })
        first.child.kill("SIGKILL")
        const killed = yield* Effect.promise(() => first.done)

        // 2. Run again: it ends by itself, exit 0.
        const second = yield* start
        const exit = yield* Effect.promise(() => second.done).pipe(
          Effect.timeoutOrElse({
            duration: "150 seconds",
            orElse: () => Effect.die(new Error(`replay did not end:\n${second.output().stdout.slice(-4000)}`))
          })
        )
        assert.strictEqual(exit.status, 0, exit.stderr)
        assert.include(exit.stdout, "replay drained")

        // 3. Read back read_committed: each replayable payment exactly once.
        const enriched = tally(yield* readCommitted(client, topicEnv.ENRICHED_PAYMENTS_TOPIC))
        assert.sameMembers(
          [...enriched.keys()],
          replayable.map((r) => r.id)
        )
        assert.deepStrictEqual(
          [...enriched.entries()].filter(([, n]) => n !== 1),
          []
        )
        const replayedNotFound = (yield* readCommitted(client, topicEnv.FAILED_PAYMENTS_TOPIC)).filter(
          (r) => Envelope.header(r.origin, ReplayJob.replayedFromHeader) !== undefined
        )
        const notFoundTally = tally(replayedNotFound)
        assert.sameMembers(
          [...notFoundTally.keys()],
          notFound.map((r) => r.id)
        )
        assert.deepStrictEqual(
          [...notFoundTally.entries()].filter(([, n]) => n !== 1),
          []
        )

        yield* Effect.logInfo(`first replay ended by ${killed.signal ?? `exit ${killed.status}`}`)
      }),
    400_000
  )
})
