/**
 * The per-record work of `sluice cdc route` without Kafka, against the same
 * work written by hand (`jobs/cdcRouteByHand.ts`): read the change event and
 * its attributes, apply the ten rules of `jobs/cdcRouteRules.ts`, write the
 * output JSON. Tells the router's own cost apart from the Kafka client's in
 * `cdc-route.bench.ts`, and checks that both write the same bytes.
 *
 *   node packages/runner/bench/cdc-route-cpu.bench.ts [--size 8192] [--model nested|flat] [--rounds 7]
 */
import { parseArgs } from "node:util"
import { Router, RuleFile, Shape } from "@sluice/rules"
import { Result } from "effect"
import * as AttributeText from "../src/jobs/cdc/AttributeText.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as DemoCommand from "../src/jobs/cdc/DemoCommand.ts"
import * as Routing from "../src/jobs/cdc/Routing.ts"
import * as RouteRules from "./jobs/cdcRouteRules.ts"

const { values: flags } = parseArgs({
  options: {
    size: { type: "string", default: "8192" },
    model: { type: "string", default: "nested" },
    events: { type: "string", default: "2000" },
    rounds: { type: "string", default: "7" }
  }
})
const size = Number(flags.size)
const model = flags.model === "flat" ? "flat" : "nested"
const events = Number(flags.events)
const inputs = Array.from({ length: events }, (_, i) => {
  const { key, value } = DemoCommand.changeEvent(
    CdcGenerator.event({ seed: 17, minBytes: size, maxBytes: size }, i),
    "sluice"
  )
  return { key: Buffer.from(key), value: Buffer.from(value) }
})
const rules = Result.getOrThrow(RuleFile.parseResult("bench.yaml", RouteRules.ruleFile(model, "x"), Shape.debezium))

const byHand = (): Array<string | Buffer> => inputs.map((m) => RouteRules.routeRecordByHand(m.value, model, 1).value)

const bySluice = (): Array<string | Buffer> =>
  inputs.map((m) => {
    const record = Routing.decode(m.key, m.value)
    if (record === undefined) throw new Error("not a change event")
    const outcome = Router.routeUnsafe(rules, record, 1)
    if (outcome._tag === "Rejected") throw new Error(outcome.error.message)
    if (outcome._tag === "Unmatched") return m.value
    const { key: _key, ...value } = outcome.outputs[0]!.value
    // as `Routing.routeChunk` writes a JSON output
    return AttributeText.stringify(value, "updated_attributes", (v) => JSON.stringify(v))!
  })

const bytes = (out: ReadonlyArray<string | Buffer>) =>
  out.reduce((a, v) => a + (typeof v === "string" ? Buffer.byteLength(v) : v.length), 0)

const hand = byHand()
const sluice = bySluice()
const same = hand.every((v, i) => String(v) === String(sluice[i]))
const rounds: Array<{ hand: number; sluice: number }> = []
for (let r = 0; r < Number(flags.rounds); r++) {
  // alternating, so a burst of load from elsewhere falls on both
  const t0 = process.hrtime.bigint()
  byHand()
  const t1 = process.hrtime.bigint()
  bySluice()
  const t2 = process.hrtime.bigint()
  rounds.push({ hand: Number(t1 - t0) / 1000 / events, sluice: Number(t2 - t1) / 1000 / events })
}
const range = (xs: ReadonlyArray<number>) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`
const ratios = rounds.map((r) => r.sluice / r.hand)
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`cdc route work without Kafka: ${size} B, ${model}, ${events} events, ${rounds.length} rounds`)
console.log(
  `input ${(inputs.reduce((a, m) => a + m.value.length, 0) / events).toFixed(0)} B/event; output ${(bytes(hand) / events).toFixed(0)} B/event by hand, ${(bytes(sluice) / events).toFixed(0)} B/event sluice; outputs ${same ? "identical" : "DIFFER"}`
)
console.log(
  `by hand ${range(rounds.map((r) => r.hand))} µs/event, sluice ${range(rounds.map((r) => r.sluice))} µs/event, sluice/hand ${range(ratios)} (median ${median(ratios).toFixed(2)})`
)

// Writing an output only: serializing the attribute tree against splicing the
// text it was read from (`AttributeText`), every text remembered whatever its
// size, so the threshold can be read off at each size. `Buffer.from` as the
// Kafka client does, which also flattens the spliced string.
const routedValues = inputs.flatMap((m) => {
  const event = JSON.parse(m.value.toString()) as { after: Record<string, unknown> }
  const text = String(event.after.updated_attributes)
  const tree = AttributeText.remember(JSON.parse(text) as unknown, text, 0)
  return [{ ...event, after: { ...event.after, updated_attributes: tree }, filterMetadata: { ruleName: "r" } }]
})
const writeRounds: Array<{ serialize: number; splice: number }> = []
for (let r = 0; r < Number(flags.rounds); r++) {
  const t0 = process.hrtime.bigint()
  for (const v of routedValues) Buffer.from(JSON.stringify(v))
  const t1 = process.hrtime.bigint()
  for (const v of routedValues) Buffer.from(AttributeText.stringify(v, "updated_attributes", (x) => JSON.stringify(x))!)
  const t2 = process.hrtime.bigint()
  writeRounds.push({ serialize: Number(t1 - t0) / 1000 / events, splice: Number(t2 - t1) / 1000 / events })
}
console.log(
  `writing an output: serializing the attributes ${range(writeRounds.map((r) => r.serialize))} µs (median ${median(writeRounds.map((r) => r.serialize)).toFixed(1)}), splicing their text ${range(writeRounds.map((r) => r.splice))} µs (median ${median(writeRounds.map((r) => r.splice)).toFixed(1)})`
)
if (!same) process.exit(1)
