import { assert, describe, it } from "@effect/vitest"
import { Clock, DateTime, Effect, Fiber, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Generator from "../src/jobs/claims/Generator.ts"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"

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
          if (r.kind === "oversized") assert.strictEqual(kind, "too-large")
          if (r.kind === "negative-amount" || r.kind === "missing-fields" || r.kind === "wrong-types")
            assert.strictEqual(kind, "invalid-fields")
          if (r.kind === "negative-amount" || r.kind === "absurd-amount") {
            assert.strictEqual(kind, "invalid-fields")
            // The amount, and nothing else, is what is wrong with it.
            assert.match(Result.isFailure(decoded) ? decoded.failure.message : "", /^[^;]*payment_amount[^;]*$/)
          }
        }
      }
    }
    const malformed = n - (counts.valid ?? 0) - (counts["unknown-claim"] ?? 0)
    // Binomial with n = 10000: three standard deviations are about ±0.009 around 0.1.
    assert.closeTo(malformed / n, 0.1, 0.01)
    assert.closeTo((counts.valid ?? 0) / (n - malformed), 0.9, 0.01)
    for (const kind of Generator.malformedKinds) assert.isAbove(counts[kind] ?? 0, 0, kind)
    // Oversized records are drawn `oversizedWeight` times as often as each other malformed kind.
    const others = Generator.malformedKinds.filter((k) => k !== "oversized")
    const perKind = others.reduce((n, k) => n + (counts[k] ?? 0), 0) / others.length
    assert.closeTo((counts.oversized ?? 0) / perKind, Generator.oversizedWeight, 0.06)
  })

  it("record - an oversized record is a 1 MB payment event, wrong only in its size", () => {
    const malformedOnly = { ...options, invalidRate: 1 }
    let oversized: ReturnType<typeof Generator.record> | undefined
    for (let i = 0; oversized === undefined && i < 1_000; i++) {
      const r = Generator.record(malformedOnly, i, 0)
      if (r.kind === "oversized") oversized = r
    }
    assert.isDefined(oversized)
    assert.strictEqual(oversized!.value.length, Generator.oversizedBytes)
    const fields = JSON.parse(text(oversized!.value)) as Record<string, unknown>
    assert.includeMembers(Object.keys(fields), ["payment_id", "claim_id", "payment_amount", "payment_date"])
    assert.isAbove(String(fields.processor_id).length, PaymentEvent.maxBytes)
  })

  it("record - absurd amounts break the amount rule in each of its ways", () => {
    const amounts = Array.from({ length: 1_000 }, (_, i) => Generator.record({ ...options, invalidRate: 1 }, i, 0))
      .filter((r) => r.kind === "absurd-amount")
      .map((r) => /"payment_amount":([^,}]+)/.exec(text(r.value))![1]!)
    assert.isTrue(
      amounts.some((a) => /^\d{13,}\.00$/.test(a)),
      "no amount of 10^12 or more"
    )
    assert.isTrue(
      amounts.some((a) => /^\d+\.\d{3}$/.test(a)),
      "no amount with three decimals"
    )
    assert.isTrue(
      amounts.some((a) => /^1e\d+$/.test(a)),
      "no amount beyond a double"
    )
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
