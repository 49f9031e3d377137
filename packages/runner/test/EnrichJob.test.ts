import { assert, describe, it } from "@effect/vitest"
import * as DeadLetter from "@sluice/core/DeadLetter"
import * as Envelope from "@sluice/core/Envelope"
import * as InMemory from "@sluice/core/InMemory"
import { Lookup, LookupError } from "@sluice/lookup"
import { BigDecimal, Clock, DateTime, Effect, Fiber, Logger, Option, Result, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as ClaimsLookup from "../src/jobs/claims/ClaimsLookup.ts"
import type * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as EnrichedPayment from "../src/jobs/claims/EnrichedPayment.ts"
import * as EnrichJob from "../src/jobs/claims/EnrichJob.ts"
import * as Enrichment from "../src/jobs/claims/Enrichment.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as Money from "../src/jobs/claims/Money.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"
import * as LookupErrors from "./support/lookupErrors.ts"

const text = new TextDecoder()
const claimCount = 200

// The fake claims table: claim n has a two-decimal amount whose cents vary.
const claims = new Map<string, Enrichment.Claim>(
  Array.from({ length: claimCount }, (_, i) => [
    Generator.claimId(i + 1),
    {
      member_id: `MBR-${i + 1}`,
      claim_amount: BigDecimal.make(BigInt((i + 1) * 100_003), 2),
      claim_status: i % 3 === 0 ? null : "APPROVED"
    }
  ])
)

const tableLookup = (claimId: string): Effect.Effect<Option.Option<Enrichment.Claim>> =>
  Effect.sync(() => Option.fromUndefinedOr(claims.get(claimId)))

const refused = LookupErrors.unavailable("connection refused")

const generated = (count: number) =>
  Array.from({ length: count }, (_, i) =>
    Generator.record({ seed: 7, claims: claimCount, validClaimRate: 0.9, invalidRate: 0.01 }, i, 1_700_000_000_000)
  )

const setup = (records: ReadonlyArray<InMemory.ProducerRecord>) =>
  Effect.gen(function* () {
    const broker = yield* InMemory.make
    yield* InMemory.createTopic(broker, "payment-events", 3)
    yield* InMemory.produce(broker, "payment-events", records)
    return broker
  })

// `fetchSize` regroups the records into chunks of that size, as a Kafka source's fetches would.
const runJob = (
  broker: InMemory.Broker,
  options: Omit<EnrichJob.Options<never, never, EnrichJob.Sinks, never>, "records" | "sinks">,
  fetchSize?: number
) =>
  Effect.gen(function* () {
    const records = yield* InMemory.source(broker, { topic: "payment-events", group: "enrich" })
    yield* EnrichJob.run({
      ...options,
      records: fetchSize === undefined ? records : Stream.rechunk(records, fetchSize),
      sinks: {
        enriched: InMemory.sink(broker, "enriched-payments"),
        failed: InMemory.sink(broker, "failed-payments"),
        deadLetters: InMemory.sink(broker, "payment-events-dlq")
      }
    }).pipe(Effect.orDie)
  }).pipe(Effect.scoped)

const outputs = (broker: InMemory.Broker, topic: string) =>
  Effect.map(
    Effect.catch(InMemory.messages(broker, topic), () => Effect.succeed([])),
    (ms) =>
      ms.map((m) => ({
        key: m.key === null ? null : text.decode(m.key),
        json: text.decode(m.value as Uint8Array),
        payment: Result.getOrThrow(EnrichedPayment.decode(m.value as Uint8Array))
      }))
  )

const headerOf = (message: InMemory.Stored, name: string): string | undefined => Envelope.header(message, name)

const allCommitted = (broker: InMemory.Broker) =>
  Effect.gen(function* () {
    const committed = yield* InMemory.committed(broker, "enrich", "payment-events")
    const partitions = broker.topics.get("payment-events")!
    return partitions.every((log, p) => committed.get(p) === BigInt(log.length))
  })

describe("EnrichJob", () => {
  it.effect("run - every payment lands in exactly one of enriched, failed and the dead letters", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(DateTime.makeUnsafe("2024-03-01T12:00:00.250Z").epochMilliseconds)
      const input = generated(1000)
      const broker = yield* setup(input)
      yield* runJob(broker, { lookup: tableLookup, concurrency: 32, ordering: "key", onDbUnavailable: "route" })

      const enriched = yield* outputs(broker, "enriched-payments")
      const failed = yield* outputs(broker, "failed-payments")
      const dlq = yield* InMemory.messages(broker, "payment-events-dlq")

      const malformed = input.filter((r) => Generator.malformedKinds.includes(r.kind))
      const wellFormed = input.filter((r) => !Generator.malformedKinds.includes(r.kind))
      assert.isAbove(malformed.length, 0)
      assert.strictEqual(dlq.length, malformed.length)
      assert.strictEqual(enriched.length + failed.length, wellFormed.length)
      assert.isAbove(enriched.length, failed.length)
      assert.isAbove(failed.length, 0)

      // Each well-formed payment appears once, with the lookup's answer for its claim.
      const seen = new Map<string, number>()
      for (const out of [...enriched, ...failed])
        seen.set(out.payment.payment_id, (seen.get(out.payment.payment_id) ?? 0) + 1)
      for (const r of wellFormed) {
        const event = Result.getOrThrow(PaymentEvent.decode(r.value))
        assert.strictEqual(seen.get(event.payment_id), 1, event.payment_id)
      }
      for (const { key, json, payment } of enriched) {
        const claim = claims.get(payment.claim_id)!
        assert.strictEqual(key, payment.claim_id)
        assert.strictEqual(payment.enrichment_status, "SUCCESS")
        assert.strictEqual(payment.member_id, claim.member_id)
        assert.strictEqual(payment.claim_status, claim.claim_status)
        assert.include(json, `"claim_amount":${Money.format(claim.claim_amount)}`)
        assert.include(json, `"payment_amount":${Money.format(payment.payment_amount)}`)
        assert.include(json, '"enrichment_timestamp":"2024-03-01T12:00:00.250Z"')
        assert.isNull(payment.error_reason)
      }
      for (const { key, payment } of failed) {
        assert.strictEqual(key, payment.claim_id)
        assert.isFalse(claims.has(payment.claim_id))
        assert.strictEqual(payment.enrichment_status, "CLAIM_NOT_FOUND")
        assert.include(payment.error_reason ?? "", payment.claim_id)
        assert.isNull(payment.claim_amount)
      }
      // Input amounts come out exactly as they went in.
      const inputAmounts = new Map(
        wellFormed.map((r) => {
          const event = Result.getOrThrow(PaymentEvent.decode(r.value))
          return [event.payment_id, Money.format(event.payment_amount)] as const
        })
      )
      for (const { json, payment } of [...enriched, ...failed])
        assert.include(json, `"payment_amount":${inputAmounts.get(payment.payment_id)}`)

      // Dead letters keep the original bytes and say which decoding step failed.
      const kinds = dlq.map((m) => headerOf(m, DeadLetter.KindHeader))
      for (const kind of kinds) assert.include(["invalid-utf8", "invalid-json", "invalid-fields"], kind)
      assert.strictEqual(
        kinds.filter((k) => k === "invalid-utf8").length,
        malformed.filter((r) => r.kind === "invalid-utf8").length
      )
      for (const m of dlq) assert.isNotEmpty(headerOf(m, DeadLetter.ReasonHeader))
      assert.sameDeepMembers(
        dlq.map((m) => Array.from(m.value as Uint8Array)),
        malformed.map((r) => Array.from(r.value))
      )
      assert.isTrue(yield* allCommitted(broker))
    })
  )

  it.effect("run - in route mode database failures go to failed-payments as DB_ERROR or DB_TIMEOUT", () =>
    Effect.gen(function* () {
      const input = generated(300).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      const failing = (claimId: string): Effect.Effect<never, LookupError.LookupError> => {
        const n = Number(claimId.slice(4))
        return Effect.fail(
          n % 3 === 0 ? LookupErrors.timeout(5000) : n % 3 === 1 ? refused : LookupErrors.circuitOpen(30_000)
        )
      }
      yield* runJob(broker, { lookup: failing, concurrency: 8, ordering: "key", onDbUnavailable: "route" })
      const failed = yield* outputs(broker, "failed-payments")
      assert.strictEqual((yield* outputs(broker, "enriched-payments")).length, 0)
      assert.strictEqual(failed.length, input.length)
      for (const { payment } of failed) {
        const n = Number(payment.claim_id.slice(4))
        const [status, reason] =
          n % 3 === 0
            ? ["DB_TIMEOUT", "lookup claims timed out after 5000 ms"]
            : n % 3 === 1
              ? ["DB_ERROR", "lookup claims unavailable: connection refused"]
              : ["DB_ERROR", "lookup claims rejected: circuit open (retry after 30000 ms)"]
        assert.strictEqual(payment.enrichment_status, status)
        assert.strictEqual(payment.error_reason, reason)
        assert.isNull(payment.member_id)
      }
      assert.isTrue(yield* allCommitted(broker))
    })
  )

  it.effect("run - in pause mode records wait for the database and nothing goes to failed-payments", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      const input = generated(200).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      const recoversAt = 30_000
      let calls = 0
      const attempted = new Set<string>()
      const flaky = (claimId: string): Effect.Effect<Option.Option<Enrichment.Claim>, LookupError.LookupError> =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          calls++
          if (now < recoversAt) {
            attempted.add(claimId)
            return Effect.fail(refused)
          }
          return tableLookup(claimId)
        })
      const concurrency = 4
      const fiber = yield* runJob(broker, {
        lookup: flaky,
        concurrency,
        ordering: "key",
        onDbUnavailable: "pause",
        pauseRetry: "1 second"
      }).pipe(Effect.provide(Logger.layer([capture])), Effect.forkChild)

      for (let second = 1; second < 30; second++) {
        yield* TestClock.adjust("1 second")
        yield* Effect.yieldNow
      }
      // Still paused: nothing written, every call so far came from the waiting slots.
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual((yield* outputs(broker, "failed-payments")).length, 0)
      assert.strictEqual((yield* outputs(broker, "enriched-payments")).length, 0)
      // Only the records holding the concurrency slots were tried, again and again.
      assert.isAtMost(attempted.size, concurrency)
      assert.isAbove(calls, concurrency)
      assert.isAtMost(calls, concurrency * 30)
      assert.isFalse(yield* allCommitted(broker))

      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const enriched = yield* outputs(broker, "enriched-payments")
      assert.strictEqual((yield* outputs(broker, "failed-payments")).length, 0)
      assert.strictEqual(enriched.length, input.length)
      assert.isTrue(enriched.every(({ payment }) => payment.enrichment_status === "SUCCESS"))
      assert.isTrue(yield* allCommitted(broker))
      assert.deepStrictEqual(
        lines.filter((l) => l.startsWith("claims database")),
        ["claims database failing; holding records until it answers", "claims database answering again; resuming"]
      )
    })
  )

  it.effect("run - a pause schedule that ends routes the record as DB_ERROR", () =>
    Effect.gen(function* () {
      const input = generated(50).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      const fiber = yield* runJob(broker, {
        lookup: () => Effect.fail(refused),
        concurrency: 4,
        onDbUnavailable: "pause",
        pauseRetry: Schedule.max([Schedule.spaced("1 second"), Schedule.recurs(2)])
      }).pipe(Effect.forkChild)
      for (let i = 0; i < 1000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const failed = yield* outputs(broker, "failed-payments")
      assert.strictEqual(failed.length, input.length)
      assert.isTrue(failed.every(({ payment }) => payment.enrichment_status === "DB_ERROR"))
    })
  )

  it.effect("run - in pause mode a failure that would repeat is routed at once, not retried", () =>
    Effect.gen(function* () {
      const input = generated(50).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      const badQuery = LookupErrors.unavailable("column does not exist", false)
      let calls = 0
      const fiber = yield* runJob(broker, {
        lookup: () =>
          Effect.suspend(() => {
            calls++
            return Effect.fail(badQuery)
          }),
        concurrency: 4,
        onDbUnavailable: "pause",
        pauseRetry: Schedule.max([Schedule.spaced("1 second"), Schedule.recurs(2)])
      }).pipe(Effect.forkChild)
      for (let i = 0; i < 1000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      // One call per payment: a retry would have made three.
      assert.strictEqual(calls, input.length)
      const failed = yield* outputs(broker, "failed-payments")
      assert.strictEqual(failed.length, input.length)
      assert.isTrue(
        failed.every(
          ({ payment }) => payment.enrichment_status === "DB_ERROR" && payment.error_reason === badQuery.message
        )
      )
    })
  )

  it.effect("run - with key ordering the outputs of one claim keep input order", () =>
    Effect.gen(function* () {
      const claimIds = ["CLM-000001", "CLM-000002", "CLM-000003", "CLM-000004"]
      const input = Array.from({ length: 200 }, (_, i) => {
        const claim_id = claimIds[(i * 7) % claimIds.length]!
        const event: PaymentEvent.PaymentEvent = {
          payment_id: `PAY-${i}`,
          claim_id,
          payment_amount: BigDecimal.make(BigInt(100 + i), 2),
          payment_date: DateTime.makeUnsafe(0),
          processor_id: "PROC-1"
        }
        return { key: claim_id, value: PaymentEvent.encode(event) }
      })
      const broker = yield* setup(input)
      // Lookups take a varying number of scheduler turns, so later records could overtake earlier ones.
      let calls = 0
      const uneven = (claimId: string) =>
        Effect.suspend(() => {
          const turns = (++calls * 7919) % 13
          return Effect.andThen(Effect.repeat(Effect.yieldNow, { times: turns }), tableLookup(claimId))
        })
      yield* runJob(broker, { lookup: uneven, concurrency: 16, ordering: "key", onDbUnavailable: "route" })
      const enriched = yield* outputs(broker, "enriched-payments")
      assert.strictEqual(enriched.length, input.length)
      for (const claimId of claimIds) {
        const order = enriched
          .filter((o) => o.payment.claim_id === claimId)
          .map((o) => Number(o.payment.payment_id.slice(4)))
        assert.deepStrictEqual(
          order,
          [...order].sort((a, b) => a - b)
        )
      }
    })
  )
})

// The fake claims table, answered for a whole chunk of claim ids.
const tableMany = (claimIds: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Enrichment.Answer>> =>
  Effect.forEach(claimIds, (id) => Effect.map(tableLookup(id), Result.succeed))

const claimNumber = (claimId: string) => Number(claimId.slice(4))

const paymentRecord = (i: number, claim_id: string) => {
  const event: PaymentEvent.PaymentEvent = {
    payment_id: `PAY-${i}`,
    claim_id,
    payment_amount: BigDecimal.make(BigInt(100 + i), 2),
    payment_date: DateTime.makeUnsafe(0),
    processor_id: "PROC-1"
  }
  return { key: claim_id, value: PaymentEvent.encode(event) }
}

const sortedJson = (outs: ReadonlyArray<{ readonly json: string }>) => outs.map((o) => o.json).sort()

describe("EnrichJob per chunk", () => {
  it.effect("run - the same outputs as per record, with one lookup call per chunk of at most maxChunkSize", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(DateTime.makeUnsafe("2024-03-01T12:00:00.250Z").epochMilliseconds)
      const input = generated(1000)
      const wellFormed = input.filter((r) => !Generator.malformedKinds.includes(r.kind))
      const perRecord = yield* setup(input)
      yield* runJob(perRecord, { lookup: tableLookup, concurrency: 32, onDbUnavailable: "route" })
      const calls: Array<number> = []
      const perChunk = yield* setup(input)
      yield* runJob(
        perChunk,
        {
          lookup: EnrichJob.perChunk((claimIds) => {
            calls.push(claimIds.length)
            return tableMany(claimIds)
          }),
          concurrency: 32,
          maxChunkSize: 8,
          onDbUnavailable: "route"
        },
        50
      )
      assert.deepStrictEqual(
        sortedJson(yield* outputs(perChunk, "enriched-payments")),
        sortedJson(yield* outputs(perRecord, "enriched-payments"))
      )
      assert.deepStrictEqual(
        sortedJson(yield* outputs(perChunk, "failed-payments")),
        sortedJson(yield* outputs(perRecord, "failed-payments"))
      )
      assert.strictEqual(
        (yield* InMemory.messages(perChunk, "payment-events-dlq")).length,
        input.length - wellFormed.length
      )
      assert.strictEqual(
        calls.reduce((a, b) => a + b, 0),
        wellFormed.length
      )
      assert.isTrue(calls.every((n) => n >= 1 && n <= 8))
      assert.isBelow(calls.length, wellFormed.length)
      assert.isTrue(yield* allCommitted(perChunk))
    })
  )

  it.effect("run - in route mode a failed chunk query sends every payment of the chunk to failed", () =>
    Effect.gen(function* () {
      const input = generated(300).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      // A query that covers a claim divisible by 13 times out, one by 7 is refused; the others answer.
      const fetch: Lookup.Fetch<string, Claims.Claim> = (keys) => {
        if (keys.some((k) => claimNumber(k) % 13 === 0)) {
          return Effect.fail(
            new LookupError.LookupError({
              reason: new LookupError.Timeout({ lookup: "claims", timeoutMillis: 5000, cause: null })
            })
          )
        }
        if (keys.some((k) => claimNumber(k) % 7 === 0)) {
          return Effect.fail(
            new LookupError.LookupError({
              reason: new LookupError.Unavailable({
                lookup: "claims",
                retryable: true,
                detail: "connection refused",
                cause: null
              })
            })
          )
        }
        const rows = new Map<string, Claims.Claim>()
        for (const k of keys) {
          const claim = claims.get(k)
          if (claim !== undefined) rows.set(k, { ...claim, claim_id: k, created_date: null })
        }
        return Effect.succeed(rows)
      }
      const lookup = ClaimsLookup.forJob(Lookup.make({ name: "claims", fetch }), "chunk")
      assert.notStrictEqual(typeof lookup, "function")
      const chunks: Array<ReadonlyArray<string>> = []
      yield* runJob(
        broker,
        {
          lookup: EnrichJob.perChunk((claimIds) => {
            chunks.push(claimIds)
            return (lookup as EnrichJob.PerChunk<never>).lookupMany(claimIds)
          }),
          concurrency: 8,
          maxChunkSize: 4,
          onDbUnavailable: "route"
        },
        50
      )
      const expected = (chunk: ReadonlyArray<string>) =>
        chunk.some((k) => claimNumber(k) % 13 === 0)
          ? "DB_TIMEOUT"
          : chunk.some((k) => claimNumber(k) % 7 === 0)
            ? "DB_ERROR"
            : undefined
      const statuses = chunks.map(expected)
      const count = (status: string) =>
        chunks.reduce((n, chunk, i) => (statuses[i] === status ? n + chunk.length : n), 0)
      const failed = yield* outputs(broker, "failed-payments")
      const enriched = yield* outputs(broker, "enriched-payments")
      assert.strictEqual(failed.length + enriched.length, input.length)
      assert.isAbove(count("DB_TIMEOUT"), 0)
      assert.isAbove(count("DB_ERROR"), 0)
      // Every payment of a failed chunk is routed with the chunk's failure, not only the claim that broke it.
      const timedOut = failed.filter((o) => o.payment.enrichment_status === "DB_TIMEOUT")
      const refused = failed.filter((o) => o.payment.enrichment_status === "DB_ERROR")
      assert.strictEqual(timedOut.length, count("DB_TIMEOUT"))
      assert.strictEqual(refused.length, count("DB_ERROR"))
      assert.isTrue(timedOut.some((o) => claimNumber(o.payment.claim_id) % 13 !== 0))
      assert.isTrue(timedOut.every((o) => (o.payment.error_reason ?? "").length > 0 && o.payment.member_id === null))
      assert.isTrue(refused.every((o) => (o.payment.error_reason ?? "").includes("connection refused")))
      // Payments of the chunks that answered are enriched or not found as usual.
      for (const o of failed.filter((o) => o.payment.enrichment_status === "CLAIM_NOT_FOUND"))
        assert.isFalse(claims.has(o.payment.claim_id))
      assert.isTrue(enriched.every((o) => o.payment.member_id === claims.get(o.payment.claim_id)!.member_id))
      assert.isTrue(yield* allCommitted(broker))
    })
  )

  it.effect("run - in pause mode a failing chunk waits, only its failing ids are looked up again", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      // One payment per claim, so each lookup of a claim id is a lookup of that payment.
      const input = Array.from({ length: 40 }, (_, i) => paymentRecord(i, Generator.claimId(i + 1)))
      const broker = yield* setup(input)
      const recoversAt = 30_000
      // Until the database recovers, odd claims answer and even claims fail.
      const looked = new Map<string, number>()
      const flaky = EnrichJob.perChunk((claimIds) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          for (const id of claimIds) looked.set(id, (looked.get(id) ?? 0) + 1)
          if (now >= recoversAt) return tableMany(claimIds)
          return Effect.forEach(claimIds, (id) =>
            claimNumber(id) % 2 === 0 ? Effect.succeed(Enrichment.failed(refused)) : Effect.result(tableLookup(id))
          )
        })
      )
      const concurrency = 4
      const fiber = yield* runJob(
        broker,
        { lookup: flaky, concurrency, maxChunkSize: 2, onDbUnavailable: "pause", pauseRetry: "1 second" },
        10
      ).pipe(Effect.provide(Logger.layer([capture])), Effect.forkChild)

      for (let second = 1; second < 30; second++) {
        yield* TestClock.adjust("1 second")
        yield* Effect.yieldNow
      }
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual((yield* outputs(broker, "failed-payments")).length, 0)
      assert.isFalse(yield* allCommitted(broker))
      // The ids that answered were looked up once; only failing ids of the held chunks were tried again.
      const retried = [...looked].filter(([, n]) => n > 1).map(([id]) => id)
      assert.isNotEmpty(retried)
      assert.isTrue(retried.every((id) => claimNumber(id) % 2 === 0))
      assert.isAtMost(retried.length, concurrency)
      assert.isTrue([...looked].every(([, n]) => n <= 30))
      assert.isBelow(looked.size, input.length)

      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const enriched = yield* outputs(broker, "enriched-payments")
      const failed = yield* outputs(broker, "failed-payments")
      assert.strictEqual(failed.length, 0)
      assert.strictEqual(enriched.length, input.length)
      assert.isTrue(enriched.every(({ payment }) => payment.enrichment_status === "SUCCESS"))
      // After recovery every claim was looked up: once if it answered at first, again after retries if not.
      assert.strictEqual(looked.size, input.length)
      assert.isTrue([...looked].every(([id, n]) => claimNumber(id) % 2 === 0 || n === 1))
      assert.isTrue(yield* allCommitted(broker))
      assert.deepStrictEqual(
        lines.filter((l) => l.startsWith("claims database")),
        ["claims database failing; holding records until it answers", "claims database answering again; resuming"]
      )
    })
  )

  it.effect("run - in pause mode a schedule that ends routes the chunk as DB_ERROR", () =>
    Effect.gen(function* () {
      const input = generated(50).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      const fiber = yield* runJob(broker, {
        lookup: EnrichJob.perChunk(() => Effect.fail(refused)),
        concurrency: 8,
        onDbUnavailable: "pause",
        pauseRetry: Schedule.max([Schedule.spaced("1 second"), Schedule.recurs(2)])
      }).pipe(Effect.forkChild)
      for (let i = 0; i < 1000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const failed = yield* outputs(broker, "failed-payments")
      assert.strictEqual(failed.length, input.length)
      assert.isTrue(failed.every(({ payment }) => payment.enrichment_status === "DB_ERROR"))
      assert.isTrue(yield* allCommitted(broker))
    })
  )

  it.effect("run - in pause mode a chunk whose failure would repeat is routed at once, not retried", () =>
    Effect.gen(function* () {
      const input = generated(50).filter((r) => r.kind === "valid")
      const broker = yield* setup(input)
      const badQuery = LookupErrors.unavailable("column does not exist", false)
      const looked: Array<number> = []
      const fiber = yield* runJob(broker, {
        lookup: EnrichJob.perChunk((claimIds) =>
          Effect.suspend(() => {
            looked.push(claimIds.length)
            return Effect.fail(badQuery)
          })
        ),
        concurrency: 8,
        onDbUnavailable: "pause",
        pauseRetry: Schedule.max([Schedule.spaced("1 second"), Schedule.recurs(2)])
      }).pipe(Effect.forkChild)
      for (let i = 0; i < 1000 && fiber.pollUnsafe() === undefined; i++) yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      // Each payment was in exactly one lookup call: a retry would have asked for it again.
      assert.strictEqual(
        looked.reduce((a, b) => a + b, 0),
        input.length
      )
      const failed = yield* outputs(broker, "failed-payments")
      assert.strictEqual(failed.length, input.length)
      assert.isTrue(
        failed.every(
          ({ payment }) => payment.enrichment_status === "DB_ERROR" && payment.error_reason === badQuery.message
        )
      )
      assert.isTrue(yield* allCommitted(broker))
    })
  )

  it.effect("run - with key or ordered ordering the outputs of one claim keep input order", () =>
    Effect.gen(function* () {
      const claimIds = ["CLM-000001", "CLM-000002", "CLM-000003", "CLM-000004"]
      const input = Array.from({ length: 200 }, (_, i) => paymentRecord(i, claimIds[(i * 7) % claimIds.length]!))
      for (const ordering of ["key", "ordered"] as const) {
        const broker = yield* setup(input)
        // Chunks take a varying number of scheduler turns, so later chunks could overtake earlier ones.
        let calls = 0
        const uneven = EnrichJob.perChunk((ids) =>
          Effect.suspend(() => {
            const turns = (++calls * 7919) % 13
            return Effect.andThen(Effect.repeat(Effect.yieldNow, { times: turns }), tableMany(ids))
          })
        )
        yield* runJob(
          broker,
          { lookup: uneven, concurrency: 16, maxChunkSize: 3, ordering, onDbUnavailable: "route" },
          20
        )
        const enriched = yield* outputs(broker, "enriched-payments")
        assert.strictEqual(enriched.length, input.length)
        assert.isAbove(calls, 1)
        for (const claimId of claimIds) {
          const order = enriched
            .filter((o) => o.payment.claim_id === claimId)
            .map((o) => Number(o.payment.payment_id.slice(4)))
          assert.deepStrictEqual(
            order,
            [...order].sort((a, b) => a - b),
            `${ordering} ${claimId}`
          )
        }
      }
    })
  )
})
