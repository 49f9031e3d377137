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
 * rules are written against, so the outputs carry it as JSON, not as text
 * (written as the column's text where the output holds the tree unchanged,
 * see `AttributeText`).
 *
 * One input record's receipt is split among its outputs, so the input is
 * acknowledged once all of them are written: at least once.
 *
 * Outputs are JSON unless an `Encoder` is given (`RouteFormat`); a record an
 * output of which the encoder refuses goes to the dead-letter topic with the
 * reason, none of its outputs written. Every dead letter carries the
 * `x-sluice-dlq-*` headers of `@sluice/core`'s `DeadLetter`: the reason, its
 * kind (`not-a-change-event`, `rule-failed`, `schema`) and the origin.
 *
 * @since 0.1.0
 */

import { Debezium, Json } from "@sluice/cdc"
import { DeadLetter, type Envelope, Receipt } from "@sluice/core"
import type { KafkaError } from "@sluice/kafka"
import { Router, type RuleSet, Shape } from "@sluice/rules"
import { Effect, Metric, Result } from "effect"
import * as AttributeText from "./AttributeText.ts"
import type * as CdcSink from "./CdcSink.ts"
import type * as RouteFormat from "./RouteFormat.ts"

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

// A Buffer (what the Kafka client hands over) is read with its own UTF-8
// decoder, which replaces invalid bytes as `TextDecoder` does and costs about
// half as much per record in `sluice cdc route` (`cdc-route.bench.ts`
// profiles: 63 against 24 ms for 40,000 records of 400 B).
const textOf = (bytes: Uint8Array | string): string =>
  typeof bytes === "string" ? bytes : Buffer.isBuffer(bytes) ? bytes.toString("utf8") : text.decode(bytes)

// Debezium writes int64 columns as JSON numbers that can exceed 2^53, which
// `Json.parse` of `@sluice/cdc` reads exactly (as bigint). Its reviver runs
// for every value and makes it several times slower than the built-in parser,
// so the built-in one reads first and the exact one again only when the result
// holds an integer beyond 2^53 - 1 (every such source number reads as one; a
// microsecond timestamp does not). Walking the parsed tree costs less than
// scanning the text for long digit runs.
const holdsUnsafeInteger = (value: unknown): boolean => {
  // beyond the doubles altogether, an integer's text reads as Infinity
  if (typeof value === "number")
    return !Number.isSafeInteger(value) && (Number.isInteger(value) || !Number.isFinite(value))
  if (value === null || typeof value !== "object") return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (holdsUnsafeInteger(value[i])) return true
    return false
  }
  for (const key in value) if (holdsUnsafeInteger((value as { [k: string]: unknown })[key])) return true
  return false
}

const parseJson = (source: string): unknown => {
  const value: unknown = JSON.parse(source)
  return holdsUnsafeInteger(value) ? Json.parse(source).value : value
}

// The built-in writer throws on a bigint, which only the exact parser makes:
// the exact writer is the fallback, not the rule, for the same reason.
const stringifyJson = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value)
  } catch {
    return Json.stringify(value)
  }
}

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
    const { payload } = Debezium.splitSchema(parseJson(textOf(value)))
    if (payload === null || typeof payload !== "object" || Array.isArray(payload) || !("op" in payload)) {
      return undefined
    }
    // The event was just parsed and nothing else holds it: its rows take the attribute trees in place, and the
    // event the key, rather than being copied field by field for every record.
    const event = payload as { [k: string]: unknown }
    withAttributes(event.before)
    withAttributes(event.after)
    event.key = key === null ? null : Debezium.splitSchema(parseJson(textOf(key))).payload
    return event
  } catch {
    return undefined
  }
}

// Reads the attribute column of a row (a JSON string, as Debezium writes `jsonb`) into the tree it holds.
const withAttributes = (row: unknown): void => {
  if (row === null || typeof row !== "object") return
  const fields = row as { [k: string]: unknown }
  const value = fields[attributeColumn]
  if (typeof value === "string") fields[attributeColumn] = AttributeText.remember(parseJson(value), value)
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
  chunk: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>,
  encoder?: RouteFormat.Encoder
): Effect.Effect<Array<CdcSink.Outgoing>, KafkaError.KafkaError> =>
  Effect.gen(function* () {
    const out: Array<CdcSink.Outgoing> = []
    const toRoute: Array<Router.Record> = []
    const routedEnvelopes: Array<Envelope.Envelope<Envelope.Payload>> = []
    const dropped: Array<Receipt.Receipt> = []
    const dead: Array<string> = []
    const deadLetter = (e: Envelope.Envelope<Envelope.Payload>, kind: string, reason: string) => {
      const letter = DeadLetter.make(e.origin, e.value, kind, reason)
      out.push({
        topic: deadLetterTopic,
        key: e.origin.key,
        value: e.value,
        receipt: e.receipt,
        headers: DeadLetter.headers(letter)
      })
      dead.push(kind)
    }
    for (const e of chunk) {
      if (e.value === null || e.value.length === 0) {
        dropped.push(e.receipt)
        continue
      }
      const record = decode(e.origin.key, e.value)
      if (record === undefined) {
        deadLetter(e, "not-a-change-event", "not a Debezium change event (JSON with an op field)")
        continue
      }
      toRoute.push(record)
      routedEnvelopes.push(e)
    }
    // One version of the rules for the whole chunk, read with its number for the outputs that name it.
    const { rules: inForce, version } = yield* rules.snapshot
    const outcomes = yield* Router.routeAll(inForce, toRoute)
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!
      const e = routedEnvelopes[i]!
      switch (outcome._tag) {
        case "Routed": {
          if (encoder === undefined) {
            const receipts = Receipt.children(e.receipt, outcome.outputs.length)
            outcome.outputs.forEach((o, j) => {
              // The `key` variable is the router's addition, not part of the event.
              const { key: _key, ...value } = o.value
              out.push({
                topic: o.topic,
                key: e.origin.key,
                value: AttributeText.stringify(value, attributeColumn, stringifyJson) ?? null,
                receipt: receipts[j]!
              })
            })
            break
          }
          const encoded: Array<Envelope.Payload> = []
          let refused: string | undefined
          for (const o of outcome.outputs) {
            const result = yield* encoder.routed(o, version)
            if (Result.isFailure(result)) {
              refused = result.failure
              break
            }
            encoded.push(result.success)
          }
          if (refused !== undefined) {
            deadLetter(e, "schema", refused)
            break
          }
          const receipts = Receipt.children(e.receipt, encoded.length)
          encoded.forEach((value, j) => {
            out.push({ topic: outcome.outputs[j]!.topic, key: e.origin.key, value, receipt: receipts[j]! })
          })
          break
        }
        case "Unmatched": {
          if (outcome.topic === undefined) dropped.push(e.receipt)
          else if (encoder === undefined) {
            out.push({ topic: outcome.topic, key: e.origin.key, value: e.value, receipt: e.receipt })
          } else {
            const result = yield* encoder.unmatched(outcome.topic, outcome.value)
            if (Result.isFailure(result)) deadLetter(e, "schema", result.failure)
            else out.push({ topic: outcome.topic, key: e.origin.key, value: result.success, receipt: e.receipt })
          }
          break
        }
        case "Rejected": {
          deadLetter(e, "rule-failed", outcome.error.message)
          break
        }
      }
    }
    for (const reason of dead) yield* Metric.update(Metric.withAttributes(deadLetters, { reason }), 1)
    // Nothing to write for these: the sink acknowledges them with the rest of the chunk.
    for (const receipt of dropped) out.push({ topic: undefined, key: null, value: null, receipt })
    return out
  })
