import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime, Result } from "effect"
import * as fc from "fast-check"
import * as PaymentEvent from "../src/jobs/claims/PaymentEvent.ts"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

const valid = {
  payment_id: "PAY-12345",
  claim_id: "CLM-000001",
  payment_date: "2024-01-15T10:30:00",
  processor_id: "PROC-VISA-001",
  payment_method: "ELECTRONIC",
  payment_status: "COMPLETED"
}
const json = (amount: string, extra: Record<string, unknown> = {}) =>
  `{${Object.entries({ ...valid, ...extra })
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
    .join(",")},"payment_amount":${amount}}`

const kind = (r: Result.Result<unknown, { reason: unknown }>) =>
  Result.isFailure(r) ? (r.failure.reason as { kind: string }).kind : "ok"

describe("PaymentEvent", () => {
  it("decode - reads a JSON number amount through its source text", () => {
    const r = PaymentEvent.decode(bytes(json("0.10")))
    assert.isTrue(Result.isSuccess(r))
    const event = Result.getOrThrow(r)
    assert.isTrue(BigDecimal.equals(event.payment_amount, BigDecimal.make(10n, 2)))
    assert.strictEqual(DateTime.formatIso(event.payment_date), "2024-01-15T10:30:00.000Z")
    assert.strictEqual(event.payment_method, "ELECTRONIC")
  })

  it("decode - accepts a string amount and optional fields may be missing", () => {
    const r = PaymentEvent.decode(
      bytes(JSON.stringify({ ...valid, payment_amount: "99999999.99", payment_method: undefined }))
    )
    const event = Result.getOrThrow(r)
    assert.strictEqual(event.payment_method, undefined)
    assert.isFalse("payment_method" in event)
  })

  it("decode - a number with more digits than a double keeps is rejected, not rounded", () => {
    assert.strictEqual(kind(PaymentEvent.decode(bytes(json("0.1000000000000000001")))), "invalid-fields")
  })

  it("decode - classifies invalid UTF-8, invalid JSON and invalid fields", () => {
    assert.strictEqual(kind(PaymentEvent.decode(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))), "invalid-utf8")
    assert.strictEqual(kind(PaymentEvent.decode(bytes(json("1.00").slice(0, 20)))), "invalid-json")
    assert.strictEqual(kind(PaymentEvent.decode(bytes(json("-5.00")))), "invalid-fields")
    assert.strictEqual(kind(PaymentEvent.decode(bytes(json("1.00", { processor_id: 42 })))), "invalid-fields")
    assert.strictEqual(kind(PaymentEvent.decode(bytes(json("1.00", { payment_date: "yesterday" })))), "invalid-fields")
    assert.strictEqual(kind(PaymentEvent.decode(bytes(JSON.stringify({ payment_id: "P" })))), "invalid-fields")
  })

  it("decode - rejects negative, absurd and over-precise amounts and non-numbers, naming the amount", () => {
    for (const amount of [
      "-0.01",
      "-5",
      "10000000000",
      "1000000000000.00",
      "1e12",
      "1e400",
      "12.345",
      "0.001",
      '"12.345"',
      '"-1.00"',
      '"NaN"',
      '"Infinity"',
      '"1,000.00"',
      '""',
      "true",
      "null",
      "[12]",
      '{"value":12}'
    ]) {
      const r = PaymentEvent.decode(bytes(json(amount)))
      assert.strictEqual(kind(r), "invalid-fields", amount)
      if (Result.isFailure(r)) assert.include(r.failure.message, "payment_amount", amount)
    }
  })

  it("decode - accepts amounts up to 9999999999.99, with trailing zeros beyond two decimals", () => {
    for (const amount of ["0", "0.01", "9999999999.99", "1.500", "1E3", '"42.10"']) {
      assert.strictEqual(kind(PaymentEvent.decode(bytes(json(amount)))), "ok", amount)
    }
  })

  it("decode - wrong types and missing fields are invalid fields, each one named", () => {
    const event = JSON.parse(json("1.00")) as Record<string, unknown>
    for (const field of ["payment_id", "claim_id", "payment_amount", "payment_date", "processor_id"]) {
      const { [field]: _, ...missing } = event
      const r = PaymentEvent.decode(bytes(JSON.stringify(missing)))
      assert.strictEqual(kind(r), "invalid-fields", field)
      if (Result.isFailure(r)) assert.include(r.failure.message, field)
      for (const wrong of [field === "payment_amount" ? "lots" : 12345, false, null, [], {}]) {
        const w = PaymentEvent.decode(bytes(JSON.stringify({ ...event, [field]: wrong })))
        assert.strictEqual(kind(w), "invalid-fields", `${field}: ${JSON.stringify(wrong)}`)
      }
    }
    assert.strictEqual(kind(PaymentEvent.decode(bytes(json("1.00", { claim_id: "" })))), "invalid-fields")
    for (const notAnObject of ["[]", "42", '"text"', "null"]) {
      assert.strictEqual(kind(PaymentEvent.decode(bytes(notAnObject))), "invalid-fields", notAnObject)
    }
  })

  it("decode - a value over maxBytes is too large before it is parsed, however well-formed", () => {
    const padded = (size: number) => {
      const base = json("1.00")
      return bytes(base.replace('"PROC-VISA-001"', `"PROC-${"9".repeat(size - base.length)}VISA-001"`))
    }
    assert.strictEqual(padded(PaymentEvent.maxBytes).length, PaymentEvent.maxBytes)
    assert.strictEqual(kind(PaymentEvent.decode(padded(PaymentEvent.maxBytes))), "ok")
    assert.strictEqual(kind(PaymentEvent.decode(padded(PaymentEvent.maxBytes + 1))), "too-large")
    const megabyte = new Uint8Array(1_000_000).fill(0xff)
    const r = PaymentEvent.decode(megabyte)
    assert.strictEqual(kind(r), "too-large")
    if (Result.isFailure(r)) assert.include(r.failure.message, "1000000 bytes")
  })

  it("decode - random bytes, truncated JSON and invalid UTF-8 are dead letters with a kind, never a throw", () => {
    // A fixed linear congruential sequence: the same bytes on every run.
    let state = 12345
    const nextByte = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31
      return state & 0xff
    }
    for (let i = 0; i < 2_000; i++) {
      const random = Uint8Array.from({ length: 1 + (i % 300) }, nextByte)
      assert.oneOf(kind(PaymentEvent.decode(random)), ["invalid-utf8", "invalid-json", "invalid-fields"])
    }
    const full = json("1.00")
    for (let cut = 0; cut < full.length; cut++) {
      assert.oneOf(kind(PaymentEvent.decode(bytes(full.slice(0, cut)))), ["invalid-json", "invalid-fields"])
    }
    // Overlong encodings, lone surrogates and a truncated sequence are not UTF-8.
    for (const bad of [
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xe2, 0x82]
    ]) {
      const value = Uint8Array.from([...bytes('{"payment_id":"'), ...bad, ...bytes('"}')])
      assert.strictEqual(kind(PaymentEvent.decode(value)), "invalid-utf8")
    }
  })

  it("decode - the failure detail names the offending field", () => {
    const r = PaymentEvent.decode(bytes(json("-5.00")))
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) assert.include(r.failure.message, "payment_amount")
  })

  it("encode - writes amounts as exact two-decimal JSON numbers and round-trips", () => {
    for (const amount of ["0.10", "99999999.99", "1500.00"]) {
      const event = Result.getOrThrow(PaymentEvent.decode(bytes(json(amount))))
      const out = PaymentEvent.encode(event)
      assert.include(text(out), `"payment_amount":${amount}`)
      const again = Result.getOrThrow(PaymentEvent.decode(out))
      assert.isTrue(BigDecimal.equals(again.payment_amount, event.payment_amount))
      assert.deepStrictEqual(text(PaymentEvent.encode(again)), text(out))
    }
  })

  it("decode - the plain-code path answers what the schema answers, value for value", () => {
    // Fields that are mostly well-formed, and each sometimes not, so both the
    // plain path and its fallback to the schema are exercised.
    const id = fc.oneof(
      { arbitrary: fc.constantFrom("PAY-1", "CLM-000042", "P", "ü-ß"), weight: 12 },
      { arbitrary: fc.constantFrom("", 42, null, ["x"], undefined), weight: 1 }
    )
    const amount = fc.oneof(
      fc
        .bigInt({ min: 0n, max: 1_000_000_000_000n })
        .map((c) => `${c / 100n}.${(c % 100n).toString().padStart(2, "0")}`),
      fc.constantFrom(
        "0",
        "1.5",
        "1.500",
        "1e3",
        "-0",
        "-1.00",
        "0.105",
        "10000000000",
        "00.1",
        "1.",
        "0.1000000000000000001"
      ),
      fc.integer({ min: 0, max: 10_000 }).map(String)
    )
    const date = fc.oneof(
      fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms) => new Date(ms).toISOString()),
      fc.constantFrom("2024-01-15T10:30:00", "2024-01-15", "2024-01-15T10:30:00+02:00", "yesterday", "", "2024-13-45")
    )
    const optional = fc.option(
      fc.oneof({ arbitrary: fc.constantFrom("ACH", "", "CARD"), weight: 6 }, fc.constantFrom(7, null, true)),
      {
        nil: undefined
      }
    )
    const record = fc.record(
      {
        payment_id: id,
        claim_id: id,
        processor_id: id,
        payment_date: date,
        amountText: fc.tuple(amount, fc.boolean()),
        payment_method: optional,
        payment_status: optional,
        extra: fc.option(fc.constantFrom("x", 1), { nil: undefined })
      },
      { requiredKeys: ["payment_id", "claim_id", "processor_id", "payment_date", "amountText"] }
    )
    const toJson = (r: typeof record extends fc.Arbitrary<infer T> ? T : never) => {
      const { amountText, extra, ...rest } = r
      const parts = Object.entries(rest)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
      // The amount as a JSON number or a JSON string.
      parts.push(`"payment_amount":${amountText[1] ? JSON.stringify(amountText[0]) : amountText[0]}`)
      if (extra !== undefined) parts.push(`"note":${JSON.stringify(extra)}`)
      return `{${parts.join(",")}}`
    }
    const same = (a: Result.Result<PaymentEvent.PaymentEvent, unknown>, b: typeof a): boolean => {
      if (Result.isFailure(a) || Result.isFailure(b)) {
        return Result.isFailure(a) && Result.isFailure(b) && String(a.failure) === String(b.failure)
      }
      const x = a.success
      const y = b.success
      return (
        JSON.stringify(Object.keys(x).sort()) === JSON.stringify(Object.keys(y).sort()) &&
        x.payment_id === y.payment_id &&
        x.claim_id === y.claim_id &&
        x.processor_id === y.processor_id &&
        x.payment_method === y.payment_method &&
        x.payment_status === y.payment_status &&
        x.payment_amount.value === y.payment_amount.value &&
        x.payment_amount.scale === y.payment_amount.scale &&
        DateTime.isUtc(x.payment_date) &&
        x.payment_date.epochMilliseconds === y.payment_date.epochMilliseconds
      )
    }
    let valid = 0
    fc.assert(
      fc.property(record, (r) => {
        const value = bytes(toJson(r))
        const got = PaymentEvent.decode(value)
        if (Result.isSuccess(got)) valid++
        return same(got, PaymentEvent.decodeSchema(value))
      }),
      { numRuns: 5_000 }
    )
    // Both paths were exercised: some records decoded, some did not.
    assert.isAbove(valid, 100)
    assert.isBelow(valid, 5_000)
  })
})
