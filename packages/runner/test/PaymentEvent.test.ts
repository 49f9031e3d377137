import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime, Result } from "effect"
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
})
