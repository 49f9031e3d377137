// The claims reconciliation on its own: an input the producer wrote twice is
// owed two outputs (not a duplicate), an output beyond the copies is one, and
// an input with no output is missing.
import { assert, describe, it } from "@effect/vitest"
import * as Checks from "./checks.ts"
import type { Stored } from "./topics.ts"

const record = (topic: string, offset: number, value: object, headers: Record<string, string> = {}): Stored => ({
  topic,
  partition: 0,
  offset,
  value: Buffer.from(JSON.stringify(value)),
  tombstone: false,
  headers
})

const input = (offset: number, id: string) =>
  record(Checks.topics.input, offset, { payment_id: id }, { [Checks.kindHeader]: "valid" })

let outputOffset = 0
const enriched = (id: string, at: string) =>
  record(Checks.topics.enriched, outputOffset++, {
    payment_id: id,
    enrichment_status: "ENRICHED",
    enrichment_timestamp: at
  })

describe("claims reconciliation", () => {
  it("an input written twice is owed two outputs; only outputs beyond the copies are duplicates", () => {
    const inputs = [input(0, "p1"), input(1, "p2"), input(2, "p2"), input(3, "p3")]
    const r = Checks.reconcile(inputs, [
      enriched("p1", "2026-01-01T00:00:00Z"),
      enriched("p2", "2026-01-01T00:00:01Z"),
      enriched("p2", "2026-01-01T00:00:02Z")
    ])
    assert.strictEqual(r.events, 3)
    assert.strictEqual(r.repeatedInputs, 1)
    assert.strictEqual(r.duplicates, 0)
    assert.deepStrictEqual(r.missing, ["p3"])

    const replayed = Checks.reconcile(inputs, [
      enriched("p1", "2026-01-01T00:00:00Z"),
      enriched("p1", "2026-01-01T00:00:05Z"),
      enriched("p2", "2026-01-01T00:00:01Z"),
      enriched("p2", "2026-01-01T00:00:02Z"),
      enriched("p2", "2026-01-01T00:00:03Z"),
      enriched("p3", "2026-01-01T00:00:04Z")
    ])
    assert.strictEqual(replayed.duplicates, 2)
    assert.deepStrictEqual(replayed.missing, [])
  })
})
