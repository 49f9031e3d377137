/**
 * What the router writes for a chunk of raw records: each Debezium change
 * event (with or without its `{ schema, payload }` wrapper) is routed by the
 * rule set in force; every output is keyed like its input and carries
 * `filterMetadata`. A record no rule matches goes to the file's default
 * topic or is dropped and counted, as the file says. A record that is not a
 * change event, or that a rule fails on, goes to the dead-letter topic as it
 * was read. A tombstone (the null value after a delete) has nothing to
 * route and is only acknowledged.
 *
 * Debezium writes a `jsonb` column as a string holding the JSON (its
 * `io.debezium.data.Json` type); the router reads the attribute column
 * (`updated_attributes` of `before` and `after`) back into the tree the
 * rules are written against, so the outputs carry it as JSON, not as text.
 *
 * One input record's receipt is split among its outputs, so the input is
 * acknowledged once all of them are written: at least once.
 *
 * @since 0.1.0
 */

import { Debezium, Json } from "@sluice/cdc"
import { type Envelope, Receipt } from "@sluice/core"
import { type Router, type RuleSet, Shape } from "@sluice/rules"
import { Effect, Metric } from "effect"
import type * as CdcSink from "./CdcSink.ts"

/**
 * `sluice_cdc_route_dead_letters_total{reason}`: raw records sent to the dead-letter topic.
 *
 * @since 0.1.0
 * @category metrics
 */
export const deadLetters = Metric.counter("sluice_cdc_route_dead_letters_total", {
  description: "Raw records the router sent to its dead-letter topic, by reason",
  incremental: true
})

const text = new TextDecoder()

// The column of a row that holds the business attributes, as in `Shape.debezium`.
const attributeColumn = Shape.debezium.attributes[Shape.debezium.attributes.length - 1]!

/**
 * Reads a raw record as the router's input: the change event's payload plus
 * its key as `key`; `undefined` when it is not a change event.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (key: Uint8Array | null, value: Uint8Array | string): Router.Record | undefined => {
  try {
    const parsed = Json.parse(typeof value === "string" ? value : text.decode(value)).value
    const { payload } = Debezium.splitSchema(parsed)
    if (payload === null || typeof payload !== "object" || Array.isArray(payload) || !("op" in payload)) {
      return undefined
    }
    const event = payload as { [k: string]: unknown }
    const rowWithAttributes = (row: unknown): unknown => {
      if (row === null || typeof row !== "object") return row
      const value = (row as { [k: string]: unknown })[attributeColumn]
      return typeof value === "string" ? { ...row, [attributeColumn]: Json.parse(value).value } : row
    }
    const keyValue = key === null ? null : Debezium.splitSchema(Json.parse(text.decode(key)).value).payload
    return { ...event, before: rowWithAttributes(event.before), after: rowWithAttributes(event.after), key: keyValue }
  } catch {
    return undefined
  }
}

/**
 * Routes a chunk under one version of the rules and answers the records to write.
 *
 * @since 0.1.0
 * @category routing
 */
export const routeChunk = (
  rules: RuleSet.RuleSet["Service"],
  deadLetterTopic: string,
  chunk: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>
): Effect.Effect<Array<CdcSink.Outgoing>> =>
  Effect.gen(function* () {
    const out: Array<CdcSink.Outgoing> = []
    const toRoute: Array<Router.Record> = []
    const routedEnvelopes: Array<Envelope.Envelope<Envelope.Payload>> = []
    const dropped: Array<Receipt.Receipt> = []
    const dead: Array<string> = []
    for (const e of chunk) {
      if (e.value === null || e.value.length === 0) {
        dropped.push(e.receipt)
        continue
      }
      const record = decode(e.origin.key, e.value)
      if (record === undefined) {
        out.push({ topic: deadLetterTopic, key: e.origin.key, value: e.value, receipt: e.receipt })
        dead.push("not-a-change-event")
        continue
      }
      toRoute.push(record)
      routedEnvelopes.push(e)
    }
    const outcomes = yield* rules.routeAll(toRoute)
    outcomes.forEach((outcome, i) => {
      const e = routedEnvelopes[i]!
      switch (outcome._tag) {
        case "Routed": {
          const receipts = Receipt.children(e.receipt, outcome.outputs.length)
          outcome.outputs.forEach((o, j) => {
            // The `key` variable is the router's addition, not part of the event.
            const { key: _key, ...value } = o.value
            out.push({ topic: o.topic, key: e.origin.key, value: Json.stringify(value) ?? null, receipt: receipts[j]! })
          })
          break
        }
        case "Unmatched": {
          if (outcome.topic === undefined) dropped.push(e.receipt)
          else out.push({ topic: outcome.topic, key: e.origin.key, value: e.value, receipt: e.receipt })
          break
        }
        case "Rejected": {
          out.push({ topic: deadLetterTopic, key: e.origin.key, value: e.value, receipt: e.receipt })
          dead.push("rule-failed")
          break
        }
      }
    })
    for (const reason of dead) yield* Metric.update(Metric.withAttributes(deadLetters, { reason }), 1)
    // Nothing to write for these: the sink acknowledges them with the rest of the chunk.
    for (const receipt of dropped) out.push({ topic: undefined, key: null, value: null, receipt })
    return out
  })
