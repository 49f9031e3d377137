import { assert, describe, it } from "@effect/vitest"
import * as DeadLetter from "../src/DeadLetter.ts"
import * as Envelope from "../src/Envelope.ts"

const origin: Envelope.Origin = {
  topic: "payments",
  partition: 2,
  offset: 9_007_199_254_740_993n,
  key: new TextEncoder().encode("k"),
  headers: [["trace", new TextEncoder().encode("abc")]],
  timestamp: 1700000000000
}

describe("DeadLetter", () => {
  it("make - keeps the original value as bytes", () => {
    const letter = DeadLetter.make(origin, "{oops", "decode", "not JSON")
    assert.deepStrictEqual(letter.value, new TextEncoder().encode("{oops"))
    assert.isTrue(DeadLetter.isDeadLetter(letter))
    assert.isFalse(DeadLetter.isDeadLetter({ _tag: "Other" }))
  })

  it("headers - keeps the original headers and adds reason and source", () => {
    const letter = DeadLetter.make(origin, null, "decode", "the record has no value")
    const withHeaders = { ...origin, headers: DeadLetter.headers(letter) }
    assert.strictEqual(Envelope.header(withHeaders, "trace"), "abc")
    assert.strictEqual(Envelope.header(withHeaders, DeadLetter.ReasonHeader), "the record has no value")
    assert.strictEqual(Envelope.header(withHeaders, DeadLetter.KindHeader), "decode")
    assert.strictEqual(Envelope.header(withHeaders, DeadLetter.SourceTopicHeader), "payments")
    assert.strictEqual(Envelope.header(withHeaders, DeadLetter.SourcePartitionHeader), "2")
    assert.strictEqual(Envelope.header(withHeaders, DeadLetter.SourceOffsetHeader), "9007199254740993")
    assert.strictEqual(Envelope.header(withHeaders, DeadLetter.SourceTimestampHeader), "1700000000000")
  })
})
