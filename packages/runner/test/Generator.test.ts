import { assert, describe, it } from "@effect/vitest"
import { Clock, DateTime, Effect, Fiber, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Generator from "../src/claims/Generator.ts"
import * as PaymentEvent from "../src/claims/PaymentEvent.ts"

const options: Generator.Options = { seed: 42, claims: 500, validClaimRate: 0.9, invalidRate: 0.1 }
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const claimNumber = (id: string) => Number(id.slice("CLM-".length))

describe("Generator", () => {
  it("record - the same seed and index give the same record; another seed does not", () => {
    const a = Generator.record(options, 7, 1_700_000_000_000)
    const b = Generator.record(options, 7, 1_700_000_000_000)
    const c = Generator.record({ ...options, seed: 43 }, 7, 1_700_000_000_000)
    assert.deepStrictEqual(a, b)
    assert.notDeepEqual(a.value, c.value)
  })

  it("record - claim ids follow the database seed and records are keyed by claim id", () => {
    assert.strictEqual(Generator.claimId(1), "CLM-000001")
    assert.strictEqual(Generator.claimId(1234567), "CLM-1234567")
    const r = Generator.record({ ...options, invalidRate: 0, validClaimRate: 1 }, 3, 0)
    const event = Result.getOrThrow(PaymentEvent.decode(r.value))
    assert.strictEqual(text(r.key), event.claim_id)
    assert.deepStrictEqual(
      r.headers.map(([k, v]) => [k, text(v)]),
      [[Generator.kindHeader, "valid"]]
    )
  })

  it("record - rates hold and every kind decodes (or fails) as it says", () => {
    const n = 10_000
    const counts: Record<string, number> = {}
    for (let i = 0; i < n; i++) {
      const r = Generator.record(options, i, 1_700_000_000_000 + i)
      counts[r.kind] = (counts[r.kind] ?? 0) + 1
      const decoded = PaymentEvent.decode(r.value)
      switch (r.kind) {
        case "valid":
          assert.isAtMost(claimNumber(Result.getOrThrow(decoded).claim_id), options.claims)
          break
        case "unknown-claim":
          assert.isAbove(claimNumber(Result.getOrThrow(decoded).claim_id), options.claims)
          break
        default: {
          assert.isTrue(Result.isFailure(decoded), `${r.kind} record ${i} decoded`)
          const kind =
            Result.isFailure(decoded) && decoded.failure.reason._tag === "InvalidEvent"
              ? decoded.failure.reason.kind
              : ""
          if (r.kind === "invalid-utf8") assert.strictEqual(kind, "invalid-utf8")
          if (r.kind === "truncated-json") assert.strictEqual(kind, "invalid-json")
          if (r.kind === "negative-amount" || r.kind === "missing-fields" || r.kind === "wrong-types")
            assert.strictEqual(kind, "invalid-fields")
        }
      }
    }
    const malformed = n - (counts.valid ?? 0) - (counts["unknown-claim"] ?? 0)
    // Binomial with n = 10000: three standard deviations are about ±0.009 around 0.1.
    assert.closeTo(malformed / n, 0.1, 0.01)
    assert.closeTo((counts.valid ?? 0) / (n - malformed), 0.9, 0.01)
    for (const kind of Generator.malformedKinds) assert.isAbove(counts[kind] ?? 0, 0, kind)
  })

  it.effect("stream - paces records by Clock and stamps them with its time", () =>
    Effect.gen(function* () {
      const fiber = yield* Generator.stream({ ...options, invalidRate: 0, eventsPerSecond: 2, count: 5 }).pipe(
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.yieldNow
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const records = yield* Fiber.join(fiber)
      const dates = records
        .map((r) => Result.getOrThrow(PaymentEvent.decode(r.value)).payment_date)
        .map(DateTime.toEpochMillis)
      assert.deepStrictEqual(dates, [0, 500, 1000, 1500, 2000])
    })
  )

  it.effect("paced - restarts from now after a long stall instead of bursting", () =>
    Effect.gen(function* () {
      const fiber = yield* Stream.range(1, 4).pipe(
        // the third element arrives 5 s late
        Stream.mapEffect((i) => (i === 3 ? Effect.as(Effect.sleep("5 seconds"), i) : Effect.succeed(i))),
        Generator.paced(1),
        Stream.mapEffect(() => Clock.currentTimeMillis),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.yieldNow
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), [0, 1000, 6000, 7000])
    })
  )
})
