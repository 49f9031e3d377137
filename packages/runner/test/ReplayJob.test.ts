import { assert, describe, it } from "@effect/vitest"
import * as Envelope from "@sluice/core/Envelope"
import * as InMemory from "@sluice/core/InMemory"
import type { LookupError } from "@sluice/lookup"
import { BigDecimal, Clock, DateTime, Effect, Fiber, Metric, Option, Result, Sink } from "effect"
import { TestClock } from "effect/testing"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as ReplayJob from "../src/jobs/claims/ReplayJob.ts"
import * as LookupErrors from "./support/lookupErrors.ts"

const text = new TextDecoder()
const utf8 = new TextEncoder()

// The fake claims table: CLM-000001..CLM-000010 exist.
const claims = new Map<string, Enrichment.Claim>(
  Array.from({ length: 10 }, (_, i) => [
    `CLM-${String(i + 1).padStart(6, "0")}`,
    {
      member_id: `MBR-${i + 1}`,
      claim_amount: BigDecimal.make(BigInt((i + 1) * 100_007), 2),
      claim_status: i % 2 === 0 ? "APPROVED" : null
    }
  ])
)

const tableLookup = (claimId: string): Effect.Effect<Option.Option<Enrichment.Claim>> =>
  Effect.sync(() => Option.fromUndefinedOr(claims.get(claimId)))

const refused = LookupErrors.unavailable("connection refused")

const failedAt = DateTime.makeUnsafe("2024-05-01T08:00:00Z")

// A failed record as the enrich job writes it, for payment `n` of `claimId`.
const failedRecord = (n: number, claimId: string, answer: Enrichment.Answer): InMemory.ProducerRecord => {
  const event: PaymentEvent.PaymentEvent = {
    payment_id: `PAY-${n}`,
    claim_id: claimId,
    payment_amount: BigDecimal.make(BigInt(1000 + n * 37), 2),
    payment_date: DateTime.makeUnsafe(1_700_000_000_000 + n),
    processor_id: `PROC-${n % 3}`,
    ...(n % 2 === 0 ? { payment_method: "ACH" } : {}),
    ...(n % 4 === 0 ? { payment_status: "SETTLED" } : {})
  }
  const { record } = Enrichment.enrichmentResult(event, answer, failedAt)
  return { key: claimId, value: EnrichedPayment.encode(record), headers: [["trace-id", utf8.encode(`t-${n}`)]] }
}

interface Written {
  readonly origin: Envelope.Origin
  readonly payment: EnrichedPayment.EnrichedPayment
  readonly json: string
}

// A sink that hands each envelope to `keep` and acknowledges it.
const collecting = <A>(keep: (e: Envelope.Envelope<A>) => void) =>
  Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) =>
    Effect.andThen(
      Effect.sync(() => chunk.forEach(keep)),
      Effect.forEach(chunk, (e) => e.receipt.ack, { discard: true })
    )
  )

// Keeps the written records with their origin (the record's key and headers).
const capture = (into: Array<Written>) =>
  collecting((e: Envelope.Envelope<Uint8Array>) => {
    into.push({
      origin: e.origin,
      payment: Result.getOrThrow(EnrichedPayment.decode(e.value)),
      json: text.decode(e.value)
    })
  })

const setup = (records: ReadonlyArray<InMemory.ProducerRecord>) =>
  Effect.gen(function* () {
    const broker = yield* InMemory.make
    yield* InMemory.createTopic(broker, "failed-payments", 3)
    yield* InMemory.produce(broker, "failed-payments", records)
    return broker
  })

const runReplay = (
  broker: InMemory.Broker,
  lookup: (claimId: string) => Effect.Effect<Option.Option<Enrichment.Claim>, LookupError.LookupError>,
  out: { enriched: Array<Written>; failed: Array<Written>; deadLetters: Array<unknown> }
) =>
  Effect.gen(function* () {
    const records = yield* InMemory.source(broker, { topic: "failed-payments", group: "replay" })
    yield* ReplayJob.run({
      records,
      sinks: {
        enriched: capture(out.enriched),
        failed: capture(out.failed),
        deadLetters: collecting((e: Envelope.Envelope<unknown>) => {
          out.deadLetters.push(e)
        })
      },
      lookup,
      concurrency: 4,
      pauseRetry: "1 second"
    })
  }).pipe(Effect.scoped)

const allCommitted = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    const committed = yield* InMemory.committed(broker, "replay", "failed-payments")
    return broker.topics.get("failed-payments")!.every((log, p) => committed.get(p) === BigInt(log.length))
  })

const count = (metric: Metric.Counter<number>) => Effect.map(Metric.value(metric), (s) => s.count)

describe("ReplayJob", () => {
  it.effect("run - DB_ERROR and DB_TIMEOUT records are enriched again, everything else is skipped and committed", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(DateTime.makeUnsafe("2024-05-02T09:30:00.125Z").epochMilliseconds)
      // Payments 0..11: DB failures on existing claims; 12..15 on missing claims;
      // 16..19 CLAIM_NOT_FOUND; 20 SUCCESS (never written there, still skipped); 21..23 garbage.
      const input: Array<InMemory.ProducerRecord> = []
      for (let n = 0; n < 12; n++) {
        const claimId = `CLM-${String((n % 10) + 1).padStart(6, "0")}`
        input.push(failedRecord(n, claimId, Enrichment.failed(n % 2 === 0 ? refused : LookupErrors.timeout(5000))))
      }
      for (let n = 12; n < 16; n++) {
        input.push(
          failedRecord(
            n,
            `CLM-9${n}`,
            Enrichment.failed(n % 2 === 0 ? LookupErrors.circuitOpen() : LookupErrors.timeout(5000))
          )
        )
      }
      for (let n = 16; n < 20; n++) input.push(failedRecord(n, `CLM-8${n}`, Enrichment.notFound))
      input.push(failedRecord(20, "CLM-000003", Enrichment.found(claims.get("CLM-000003")!)))
      input.push({ key: "x", value: utf8.encode("not json") })
      input.push({ key: "y", value: new Uint8Array([0xff, 0xfe]) })
      input.push({ key: "z", value: utf8.encode('{"payment_id":"PAY-X"}') })
      const broker = yield* setup(input)
      const stored = yield* InMemory.messages(broker, "failed-payments")

      const before = {
        selected: yield* count(ReplayJob.selected),
        notFound: yield* count(ReplayJob.skipped("CLAIM_NOT_FOUND")),
        success: yield* count(ReplayJob.skipped("SUCCESS")),
        undecodable: yield* count(ReplayJob.skipped("undecodable"))
      }
      const out = { enriched: [] as Array<Written>, failed: [] as Array<Written>, deadLetters: [] as Array<unknown> }
      yield* runReplay(broker, tableLookup, out)

      // Exactly the DB failures on existing claims are enriched, with the table's values.
      assert.sameMembers(
        out.enriched.map((w) => w.payment.payment_id),
        Array.from({ length: 12 }, (_, n) => `PAY-${n}`)
      )
      // The DB failures on missing claims are now CLAIM_NOT_FOUND; nothing else is written.
      assert.sameMembers(
        out.failed.map((w) => w.payment.payment_id),
        ["PAY-12", "PAY-13", "PAY-14", "PAY-15"]
      )
      assert.lengthOf(out.deadLetters, 0)

      const source = new Map(stored.map((m) => [text.decode(m.value as Uint8Array), m]))
      const originalOf = (id: string) => [...source.entries()].find(([json]) => json.includes(`"payment_id":"${id}"`))!
      for (const w of [...out.enriched, ...out.failed]) {
        const [json, message] = originalOf(w.payment.payment_id)
        const original = Result.getOrThrow(EnrichedPayment.decode(utf8.encode(json)))
        // Payment fields come through unchanged, optional ones only when present.
        assert.deepStrictEqual(
          PaymentEvent.encode(ReplayJob.paymentOf(w.payment)),
          PaymentEvent.encode(ReplayJob.paymentOf(original))
        )
        assert.strictEqual(w.json.includes('"payment_method"'), json.includes('"payment_method"'))
        assert.include(w.json, '"enrichment_timestamp":"2024-05-02T09:30:00.125Z"')
        // Same key, the source headers, and where it was replayed from.
        assert.strictEqual(text.decode(w.origin.key!), original.claim_id)
        assert.strictEqual(Envelope.header(w.origin, "trace-id"), `t-${w.payment.payment_id.slice(4)}`)
        assert.strictEqual(
          Envelope.header(w.origin, ReplayJob.replayedFromHeader),
          `failed-payments/${message.partition}/${message.offset}`
        )
      }
      for (const w of out.enriched) {
        const claim = claims.get(w.payment.claim_id)!
        assert.strictEqual(w.payment.enrichment_status, "SUCCESS")
        assert.strictEqual(w.payment.member_id, claim.member_id)
        assert.strictEqual(w.payment.claim_status, claim.claim_status)
        assert.isTrue(BigDecimal.equals(w.payment.claim_amount!, claim.claim_amount))
        assert.isNull(w.payment.error_reason)
      }
      for (const w of out.failed) {
        assert.strictEqual(w.payment.enrichment_status, "CLAIM_NOT_FOUND")
        assert.strictEqual(w.payment.error_reason, `claim ${w.payment.claim_id} not found`)
      }

      assert.isTrue(yield* allCommitted(broker))
      assert.strictEqual((yield* count(ReplayJob.selected)) - before.selected, 16)
      assert.strictEqual((yield* count(ReplayJob.skipped("CLAIM_NOT_FOUND"))) - before.notFound, 4)
      assert.strictEqual((yield* count(ReplayJob.skipped("SUCCESS"))) - before.success, 1)
      assert.strictEqual((yield* count(ReplayJob.skipped("undecodable"))) - before.undecodable, 3)
    })
  )

  it.effect("run - while the database still fails records are held, never written back as DB_ERROR", () =>
    Effect.gen(function* () {
      const input = Array.from({ length: 20 }, (_, n) =>
        failedRecord(n, `CLM-${String((n % 10) + 1).padStart(6, "0")}`, Enrichment.failed(refused))
      )
      const broker = yield* setup(input)
      const recoversAt = 60_000
      let calls = 0
      const flaky = (claimId: string): Effect.Effect<Option.Option<Enrichment.Claim>, LookupError.LookupError> =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          calls++
          return now < recoversAt ? Effect.fail(refused) : tableLookup(claimId)
        })
      const out = { enriched: [] as Array<Written>, failed: [] as Array<Written>, deadLetters: [] as Array<unknown> }
      const fiber = yield* runReplay(broker, flaky, out).pipe(Effect.forkChild)
      for (let second = 1; second < 60; second++) {
        yield* TestClock.adjust("1 second")
        yield* Effect.yieldNow
      }
      // A minute of outage: retried on the schedule, nothing written, nothing committed.
      assert.isUndefined(fiber.pollUnsafe())
      assert.isAbove(calls, 4 * 30)
      assert.lengthOf(out.failed, 0)
      assert.lengthOf(out.enriched, 0)
      assert.isFalse(yield* allCommitted(broker))

      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      assert.lengthOf(out.failed, 0)
      assert.sameMembers(
        out.enriched.map((w) => w.payment.payment_id),
        input.map((_, n) => `PAY-${n}`)
      )
      assert.isTrue(yield* allCommitted(broker))
    })
  )

  it("replayOrigin - keeps key and headers and names exactly one failed record", () => {
    const origin: Envelope.Origin = {
      topic: "failed-payments",
      partition: 4,
      offset: 9_007_199_254_740_993n,
      key: utf8.encode("CLM-000001"),
      headers: [
        ["trace-id", utf8.encode("t")],
        [ReplayJob.replayedFromHeader, utf8.encode("failed-payments/0/1")]
      ],
      timestamp: 1
    }
    const replayed = ReplayJob.replayOrigin(origin)
    assert.strictEqual(replayed.key, origin.key)
    assert.deepStrictEqual(
      replayed.headers.map(([n, v]) => [n, text.decode(v)]),
      [
        ["trace-id", "t"],
        [ReplayJob.replayedFromHeader, "failed-payments/4/9007199254740993"]
      ]
    )
  })
})
