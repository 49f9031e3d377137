import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Schema } from "effect"
import * as Serde from "../src/Serde.ts"

const Claim = Schema.Struct({
  claim_id: Schema.String.check(Schema.isNonEmpty()),
  claim_amount: Schema.BigDecimalFromString,
  tags: Schema.Array(Schema.String)
})

const claims = Serde.json(Claim)
const bytes = (text: string) => new TextEncoder().encode(text)

const decodeFailure = (input: Uint8Array | null) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(claims.decode(input))
    assert.strictEqual(error.reason._tag, "Decode")
    assert.isFalse(error.isRetryable)
    return error.reason._tag === "Decode" ? error.reason.detail : ""
  })

describe("Serde", () => {
  it.effect("json - encodes with the schema and decodes back", () =>
    Effect.gen(function* () {
      const claim = { claim_id: "C-1", claim_amount: BigDecimal.fromStringUnsafe("1234.50"), tags: ["a"] }
      const encoded = yield* claims.encode(claim)
      assert.strictEqual(new TextDecoder().decode(encoded), `{"claim_id":"C-1","claim_amount":"1234.5","tags":["a"]}`)
      const decoded = yield* claims.decode(encoded)
      assert.isTrue(BigDecimal.equals(decoded.claim_amount, claim.claim_amount))
      assert.strictEqual(decoded.claim_id, "C-1")
    })
  )

  it.effect("json - a record that breaks the schema lists every problem with its path", () =>
    Effect.gen(function* () {
      const detail = yield* decodeFailure(bytes(`{"claim_id":"","claim_amount":"abc","tags":["x",3]}`))
      assert.include(detail, "claim_id: ")
      assert.include(detail, "claim_amount: ")
      assert.include(detail, "tags[1]: Expected string")
      assert.notInclude(detail, "\n")
    })
  )

  it.effect("json - a missing field is reported by name", () =>
    Effect.gen(function* () {
      const detail = yield* decodeFailure(bytes(`{"claim_amount":"1.00","tags":[]}`))
      assert.include(detail, "claim_id: Missing key")
    })
  )

  it.effect("json - malformed JSON, bad UTF-8 and missing values have their own reasons", () =>
    Effect.gen(function* () {
      assert.match(yield* decodeFailure(bytes(`{"claim_id":`)), /^invalid JSON: /)
      assert.strictEqual(yield* decodeFailure(new Uint8Array([0xff, 0xfe])), "value is not valid UTF-8")
      assert.strictEqual(yield* decodeFailure(null), "record has no value")
    })
  )

  it.effect("json - a value the schema cannot encode fails with an Encode reason", () =>
    Effect.gen(function* () {
      const positive = Serde.json(Schema.Number.check(Schema.isGreaterThan(0)))
      const error = yield* Effect.flip(positive.encode(-1))
      assert.strictEqual(error.reason._tag, "Encode")
      assert.strictEqual(error.operation, "encode")
    })
  )

  it.effect("string - round-trips UTF-8 text", () =>
    Effect.gen(function* () {
      const encoded = yield* Serde.string.encode("zürich")
      assert.strictEqual(yield* Serde.string.decode(encoded), "zürich")
    })
  )
})
