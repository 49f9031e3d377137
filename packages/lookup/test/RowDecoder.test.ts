import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, DateTime, Result, Schema } from "effect"
import * as fc from "fast-check"
import * as RowDecoder from "../src/RowDecoder.ts"
import * as Claims from "./utils/Claims.ts"

// Rows as postgres.js returns them for `Claims.source`: the amount as the text
// PostgreSQL prints for a numeric, the timestamp as integer epoch milliseconds.
const decimalText = fc
  .tuple(fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }), fc.integer({ min: 0, max: 6 }))
  .map(([value, scale]) => {
    const digits = (value < 0n ? -value : value).toString().padStart(scale + 1, "0")
    const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
    return value < 0n ? `-${text}` : text
  })
const claimRow = fc.record({
  claim_id: fc.string(),
  member_id: fc.string(),
  claim_amount: decimalText,
  claim_status: fc.option(fc.string(), { nil: null }),
  created_date: fc.option(fc.integer({ min: -8_000_000_000_000, max: 8_000_000_000_000 }), { nil: null })
})

const schemaDecode = Schema.decodeUnknownSync(Schema.Array(Claims.Claim))

describe("RowDecoder", () => {
  it("struct - Claims.decoder gives the values the Claim schema gives, exact decimals included", () => {
    fc.assert(
      fc.property(fc.array(claimRow, { maxLength: 20 }), (rows) => {
        const fast = Result.getOrThrow(Claims.decoder.decodeRows(rows))
        const slow = schemaDecode(rows)
        assert.strictEqual(fast.length, slow.length)
        fast.forEach((claim, i) => {
          const expected = slow[i]!
          assert.strictEqual(claim.claim_id, expected.claim_id)
          assert.strictEqual(claim.member_id, expected.member_id)
          assert.strictEqual(claim.claim_status, expected.claim_status)
          // the same integer and scale: nothing went through a binary float
          assert.strictEqual(claim.claim_amount.value, expected.claim_amount.value)
          assert.strictEqual(claim.claim_amount.scale, expected.claim_amount.scale)
          assert.strictEqual(
            claim.created_date === null ? null : DateTime.toEpochMillis(claim.created_date),
            expected.created_date === null ? null : DateTime.toEpochMillis(expected.created_date)
          )
        })
      })
    )
  })

  it("decimal - keeps the scale of the text and every digit", () => {
    const decode = (text: string) => RowDecoder.decimal.decode(text) as BigDecimal.BigDecimal
    const max = decode("99999999.99")
    assert.strictEqual(max.value, 9_999_999_999n)
    assert.strictEqual(max.scale, 2)
    const small = decode("-0.10")
    assert.strictEqual(small.value, -10n)
    assert.strictEqual(small.scale, 2)
    assert.isTrue(
      BigDecimal.equals(
        decode("12345678901234567890.123456789"),
        BigDecimal.fromStringUnsafe("12345678901234567890.123456789")
      )
    )
  })

  it("struct - a float amount, decimal text PostgreSQL never prints, or a missing column fail the batch with the row and field", () => {
    const valid = { claim_id: "C", member_id: "M", claim_amount: "1.00", claim_status: null, created_date: 0 }
    const failure = (row: Record<string, unknown>) => {
      const result = Claims.decoder.decodeRows([valid, row])
      assert.isTrue(Result.isFailure(result))
      return Result.isFailure(result) ? result.failure : ""
    }
    assert.strictEqual(
      failure({ ...valid, claim_amount: 12.5 }),
      "row 1: claim_amount: expected a decimal string, got 12.5"
    )
    for (const text of ["1e5", "NaN", " 1.0", "1.", ".5", "+1", ""]) {
      assert.include(failure({ ...valid, claim_amount: text }), "row 1: claim_amount: expected a decimal string")
    }
    assert.include(
      failure({ ...valid, created_date: 1.5 }),
      "row 1: created_date: expected integer epoch milliseconds or null"
    )
    const { member_id: _dropped, ...missing } = valid
    assert.strictEqual(failure(missing), "row 1: member_id: expected a string, got nothing (no such column)")
  })

  it("fromSchema - decodes a batch with a schema and reports a mismatch", () => {
    const decoder = RowDecoder.fromSchema(Schema.Struct({ id: Schema.String }))
    assert.deepStrictEqual(decoder.decodeRows([{ id: "a" }, { id: "b" }]), Result.succeed([{ id: "a" }, { id: "b" }]))
    assert.isTrue(Result.isFailure(decoder.decodeRows([{ id: 1 }])))
  })
})
