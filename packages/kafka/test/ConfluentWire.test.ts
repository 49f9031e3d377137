import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ConfluentWire from "../src/ConfluentWire.ts"

const failure = (bytes: Uint8Array | null) =>
  Effect.flip(ConfluentWire.unframe(bytes)).pipe(
    Effect.map((error) => (error.reason._tag === "Decode" ? error.reason.detail : error.reason._tag))
  )

describe("ConfluentWire", () => {
  it.effect("frame - magic byte 0, big-endian id, then the payload; unframe reads it back", () =>
    Effect.gen(function* () {
      const payload = new Uint8Array([7, 8, 9])
      for (const id of [0, 1, 258, 0x01020304, 0xffffffff]) {
        const framed = ConfluentWire.frame(id, payload)
        // Reference computed byte by byte.
        const expected = [0, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff, 7, 8, 9]
        assert.deepStrictEqual(Array.from(framed), expected)
        const back = yield* ConfluentWire.unframe(framed)
        assert.strictEqual(back.schemaId, id)
        assert.deepStrictEqual(Array.from(back.payload), [7, 8, 9])
      }
    })
  )

  it.effect("unframe - reads from a view with an offset into a larger buffer", () =>
    Effect.gen(function* () {
      const backing = new Uint8Array([99, 99, 0, 0, 0, 1, 44, 42, 99])
      const back = yield* ConfluentWire.unframe(backing.subarray(2, 8))
      assert.strictEqual(back.schemaId, 300)
      assert.deepStrictEqual(Array.from(back.payload), [42])
    })
  )

  it.effect("unframe - no value, a short record and another magic byte are decode errors", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* failure(null), "record has no value")
      assert.match(yield* failure(new Uint8Array([0, 0, 1])), /shorter than the schema registry header/)
      assert.match(yield* failure(new TextEncoder().encode('{"a":1}')), /unknown magic byte 123/)
    })
  )
})
