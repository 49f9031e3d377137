import { assert, describe, it } from "@effect/vitest"
import * as Envelope from "../src/Envelope.ts"

const origin: Envelope.Origin = {
  topic: "payments",
  partition: 3,
  offset: 9_007_199_254_740_993n,
  key: null,
  headers: [
    ["trace", new TextEncoder().encode("a")],
    ["trace", new TextEncoder().encode("b")]
  ],
  timestamp: 0
}

describe("Envelope", () => {
  it("map - keeps the origin and replaces the value", () => {
    const e = Envelope.map(Envelope.make(origin, 2), (n) => n * 21)
    assert.strictEqual(e.value, 42)
    assert.strictEqual(e.origin, origin)
  })

  it("originId - keeps offsets beyond 2^53 exact", () => {
    assert.strictEqual(Envelope.originId(origin), "payments-3@9007199254740993")
  })

  it("header - the last of repeated headers wins", () => {
    assert.strictEqual(Envelope.header(origin, "trace"), "b")
    assert.isUndefined(Envelope.header(origin, "missing"))
  })
})
