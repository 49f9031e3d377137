import { assert, describe, it } from "@effect/vitest"
import { Envelope, Receipt } from "@sluice/core"
import { Flatten, Router, RuleFile, RuleSet, Shape } from "@sluice/rules"
import { Effect, Result } from "effect"
import * as fc from "fast-check"
import * as PassThrough from "../src/jobs/cdc/PassThrough.ts"
import * as Routing from "../src/jobs/cdc/Routing.ts"

const encoder = new TextEncoder()
const column = "updated_attributes"

// Fan-out over both models, so an event gives a nested and a flat output.
const rules = [
  "mode: fan-out",
  "default: unmatched",
  "rules:",
  "  - name: nested",
  `    when: 'after.event_type == "LoanCreated"'`,
  "    to: nested",
  "    model: nested",
  "  - name: flat",
  `    when: 'after.event_type == "LoanCreated"'`,
  "    to: flat",
  "    model: flat",
  ""
].join("\n")

// Keys and strings that meet the pass-through's text search: the column's name, quotes, backslashes, non-ASCII.
const text = fc.oneof(
  fc.constantFrom(column, `"${column}"`, `\\"${column}\\":`, 'a"b', "c\\d", "é ü", "\u2028", ""),
  fc.string({ maxLength: 6 })
)
const leaf = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null))
const attributes = fc.dictionary(
  text,
  fc.oneof(leaf, fc.dictionary(text, leaf, { maxKeys: 3 }), fc.array(leaf, { maxLength: 3 })),
  { maxKeys: 5 }
)
const row = (attrs: fc.Arbitrary<unknown>) =>
  fc.record({
    id: text,
    event_type: fc.constantFrom("LoanCreated", "CarCreated"),
    // the column as Debezium writes a jsonb (a JSON string), or null
    [column]: fc.oneof(
      { weight: 4, arbitrary: attrs.map((a) => JSON.stringify(a)) },
      { weight: 1, arbitrary: fc.constant(null) }
    )
  })

const changeEvent = fc
  .record({
    before: fc.oneof(fc.constant(null), row(attributes)),
    after: row(attributes),
    source: fc.record({ table: fc.constant("business_events"), note: text }),
    op: fc.constantFrom("c", "u"),
    ts_ms: fc.integer({ min: 0 })
  })
  .chain((e) =>
    // an update whose attributes did not change: the same column text in both rows
    fc
      .boolean()
      .map((same) => (same && e.before !== null ? { ...e, before: { ...e.before, [column]: e.after[column] } } : e))
  )

const spacing = fc.constantFrom<number | undefined>(undefined, 1, 2)

type Json = { [k: string]: unknown }

// What the output must read as, built from the generated event: its rows' column parsed, flattened in `after` for the flat rule.
const reference = (event: Json, rule: "nested" | "flat", matchedAt: number): Json => {
  const rowOf = (value: unknown, flat: boolean): unknown => {
    if (value === null || typeof value !== "object") return value
    const r = value as Json
    const attrs = typeof r[column] === "string" ? JSON.parse(r[column]) : r[column]
    return { ...r, [column]: flat && attrs !== null ? Flatten.flatten(attrs) : attrs }
  }
  return {
    ...event,
    before: rowOf(event.before, false),
    after: rowOf(event.after, rule === "flat"),
    filterMetadata: { ruleName: rule, matchedAt }
  }
}

const routeOne = (set: RuleSet.RuleSet["Service"], value: string) =>
  Routing.routeChunk(set, "dlq", [
    Envelope.make(
      { topic: "raw", partition: 0, offset: 0n, key: encoder.encode('{"id":"k"}'), headers: [], timestamp: 0 },
      encoder.encode(value),
      Receipt.none
    )
  ])

describe("PassThrough", () => {
  it.effect("an output written from the event's text reads as the event's tree would (both models, any spacing)", () =>
    Effect.gen(function* () {
      const set = yield* RuleSet.fromSource({ source: "t.yaml", shape: Shape.debezium, read: Effect.succeed(rules) })
      const samples = fc.sample(fc.tuple(changeEvent, spacing, fc.boolean()), { numRuns: 300, seed: 3 })
      for (const [event, space, wrapped] of samples) {
        const body = JSON.stringify(event, null, space)
        const value = wrapped ? `{"schema":{},"payload":${body}}` : body
        const out = yield* routeOne(set, value)
        const routed = out.filter((o) => o.topic === "nested" || o.topic === "flat")
        assert.strictEqual(routed.length, event.after.event_type === "LoanCreated" ? 2 : 0, value)
        for (const o of routed) {
          const rule = o.topic as "nested" | "flat"
          const parsed = JSON.parse(String(o.value)) as Json
          const matchedAt = (parsed.filterMetadata as { matchedAt: number }).matchedAt
          assert.deepStrictEqual(parsed, reference(event, rule, matchedAt), `${rule}: ${value}`)
        }
      }
    }).pipe(Effect.scoped)
  )

  it("is used for an unwrapped event, and not where the text is not the event's", () => {
    const parsed = Result.getOrThrow(RuleFile.parseResult("t.yaml", rules, Shape.debezium))
    const event = {
      before: null,
      after: { id: "e1", event_type: "LoanCreated", [column]: JSON.stringify({ loan: { amount: 5 } }) },
      op: "c"
    }
    const writes = (value: string) => {
      const read = Routing.read(null, value)!
      const outcome = Router.routeUnsafe(parsed, read.record, 7)
      assert.strictEqual(outcome._tag, "Routed")
      if (outcome._tag !== "Routed") return []
      return outcome.outputs.map((o) =>
        read.source === undefined ? undefined : PassThrough.write(read.source, read.record, o.value, column)
      )
    }
    const plain = writes(JSON.stringify(event))
    assert.strictEqual(
      plain[0],
      `{"before":null,"after":{"id":"e1","event_type":"LoanCreated","${column}":{"loan":{"amount":5}}},"op":"c","filterMetadata":{"ruleName":"nested","matchedAt":7}}`
    )
    assert.strictEqual(
      plain[1],
      `{"before":null,"after":{"id":"e1","event_type":"LoanCreated","${column}":{"loan.amount":"5"}},"op":"c","filterMetadata":{"ruleName":"flat","matchedAt":7}}`
    )
    // wrapped, or with fields the router replaces: serialized from the tree
    assert.deepStrictEqual(writes(JSON.stringify({ schema: {}, payload: event })), [undefined, undefined])
    assert.deepStrictEqual(writes(JSON.stringify({ ...event, key: 1 })), [undefined, undefined])
    assert.deepStrictEqual(writes(JSON.stringify({ ...event, filterMetadata: 1 })), [undefined, undefined])
    // the column's text escaped otherwise than JSON.stringify writes it: not found, serialized
    assert.deepStrictEqual(writes(JSON.stringify(event).replace("amount", "\\u0061mount")), [undefined, undefined])
  })
})
