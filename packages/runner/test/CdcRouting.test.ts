import { assert, describe, it } from "@effect/vitest"
import { Envelope, Receipt } from "@sluice/core"
import { RuleSet, Shape } from "@sluice/rules"
import { Effect } from "effect"
import * as Routing from "../src/jobs/cdc/Routing.ts"

const encoder = new TextEncoder()

const rules = [
  "mode: first-match",
  "default: unmatched",
  "rules:",
  "  - name: loans",
  `    when: 'after.event_type == "LoanCreated"'`,
  "    to: loans",
  "    model: nested",
  ""
].join("\n")

// A change event as Debezium writes it: the jsonb column as a JSON string.
const event = (attributes: string, createdAt: string) =>
  `{"before":null,"after":{"id":"e1","event_type":"LoanCreated","created_at":${createdAt},"updated_attributes":${JSON.stringify(attributes)}},"source":{"table":"business_events"},"op":"c","ts_ms":1}`

const route = (value: string) =>
  Effect.gen(function* () {
    const set = yield* RuleSet.fromSource({ source: "test.yaml", shape: Shape.debezium, read: Effect.succeed(rules) })
    const origin = {
      topic: "raw",
      partition: 0,
      offset: 0n,
      key: encoder.encode('{"id":"e1"}'),
      headers: [],
      timestamp: 0
    }
    const out = yield* Routing.routeChunk(set, "dlq", [Envelope.make(origin, encoder.encode(value), Receipt.none)])
    assert.strictEqual(out.length, 1)
    assert.strictEqual(out[0]!.topic, "loans")
    return JSON.parse(String(out[0]!.value), (_key, v, context?: { source?: string }) =>
      typeof v === "number" && context?.source !== undefined ? context.source : v
    ) as { after: { created_at: string; updated_attributes: { big: string; small: string } } }
  }).pipe(Effect.scoped)

describe("Routing", () => {
  it.effect("integers beyond 2^53 in the event and in its attributes are written with every digit", () =>
    Effect.gen(function* () {
      const out = yield* route(event('{"big":12345678901234567891,"small":42}', "9007199254740993"))
      assert.strictEqual(out.after.updated_attributes.big, "12345678901234567891")
      assert.strictEqual(out.after.updated_attributes.small, "42")
      assert.strictEqual(out.after.created_at, "9007199254740993")
    })
  )

  it.effect("an event without such integers reads the same (a microsecond timestamp stays a number)", () =>
    Effect.gen(function* () {
      const out = yield* route(event('{"big":1.5e300,"small":42}', "1767225600000123"))
      assert.strictEqual(out.after.updated_attributes.big, "1.5e+300")
      assert.strictEqual(out.after.created_at, "1767225600000123")
    })
  )

  it("decode reads the attribute column back into a tree, exactly", () => {
    const record = Routing.decode(null, event('{"n":{"big":99999999999999999999}}', "1"))!
    const after = record.after as { updated_attributes: { n: { big: unknown } } }
    assert.strictEqual(after.updated_attributes.n.big, 99999999999999999999n)
  })

  it("decode reads a Buffer, a Uint8Array and a string alike: both rows' attribute trees and the key, in field order", () => {
    const text =
      '{"before":{"id":"e1","updated_attributes":"{\\"a\\":\\"é\\"}"},"after":{"id":"e1","updated_attributes":"{\\"a\\":\\"ü\\"}"},"op":"u","ts_ms":1}'
    const key = '{"schema":{},"payload":{"id":"e1"}}'
    const expected = {
      before: { id: "e1", updated_attributes: { a: "é" } },
      after: { id: "e1", updated_attributes: { a: "ü" } },
      op: "u",
      ts_ms: 1,
      key: { id: "e1" }
    }
    for (const [k, v] of [
      [Buffer.from(key), Buffer.from(text)],
      [encoder.encode(key), encoder.encode(text)],
      [encoder.encode(key), text]
    ] as const) {
      const record = Routing.decode(k, v)
      assert.deepStrictEqual(record, expected)
      assert.deepStrictEqual(Object.keys(record!), Object.keys(expected))
    }
  })

  it("decode replaces bytes that are not UTF-8 as the text decoder does", () => {
    const bytes = Buffer.concat([
      Buffer.from('{"op":"c","after":{"note":"'),
      Buffer.from([0xff, 0xc3]),
      Buffer.from('"}}')
    ])
    const expected = new TextDecoder().decode(bytes)
    const record = Routing.decode(null, bytes)!
    assert.deepStrictEqual(record, { ...JSON.parse(expected), key: null })
  })
})
