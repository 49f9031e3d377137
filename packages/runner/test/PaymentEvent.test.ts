import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime, Result } from "effect"
import * as PaymentEvent from "../src/claims/PaymentEvent.ts"

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
