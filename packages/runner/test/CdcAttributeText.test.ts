import { assert, describe, it } from "@effect/vitest"
import * as AttributeText from "../src/jobs/cdc/AttributeText.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"

type Json = { readonly [k: string]: unknown }

// Attributes as PostgreSQL writes jsonb text: a space after ":" and ",", numbers as stored.
const pgText = (entries: number) =>
  `{${Array.from({ length: entries }, (_, i) => `"k${i}": {"amount": ${i}.50, "tags": ["a", "b"], "n": null}`).join(", ")}}`

const output = (before: unknown, after: unknown): Json => ({
  before: before === undefined ? null : { id: 1, updated_attributes: before },
  after: { id: 1, event_type: "LoanCreated", updated_attributes: after },
  op: "u",
  filterMetadata: { ruleName: "r", matchedAt: 1 }
})

const write = (value: unknown) => JSON.stringify(value)

describe("AttributeText", () => {
  it("writes a remembered tree as its source text, and the output reads back as the serialized tree does", () => {
    const text = pgText(60)
    assert.isAtLeast(text.length, AttributeText.minTextLength)
    const tree = AttributeText.remember(JSON.parse(text) as unknown, text)
    const before = AttributeText.remember(JSON.parse(text) as unknown, text)
    const value = output(before, tree)
    const out = AttributeText.stringify(value, "updated_attributes", write)!
    // both rows spliced, each exactly as read
    assert.strictEqual(out.split(text).length, 3)
    assert.deepStrictEqual(JSON.parse(out), JSON.parse(write(value)))
  })

  it("serializes trees it has no text for: a rebuilt tree, a short text, no attributes", () => {
    const text = pgText(60)
    const remembered = AttributeText.remember(JSON.parse(text) as unknown, text)
    const rebuilt = { ...(remembered as Json) }
    const short = AttributeText.remember({ a: 1 }, '{"a": 1}')
    for (const value of [output(undefined, rebuilt), output(undefined, short), output(undefined, undefined)]) {
      assert.strictEqual(AttributeText.stringify(value, "updated_attributes", write), write(value))
    }
  })

  it("generated events of every size read back alike, with the text or without", () => {
    for (let i = 0; i < 200; i++) {
      const event = CdcGenerator.event({ seed: 5, minBytes: 400, maxBytes: 16_384 }, i)
      const text = JSON.stringify(event.attributes)
      const value = output(undefined, AttributeText.remember(JSON.parse(text) as unknown, text))
      const out = AttributeText.stringify(value, "updated_attributes", write)!
      assert.strictEqual(out, write(value))
    }
  })
})
