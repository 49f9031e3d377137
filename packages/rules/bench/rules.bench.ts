/**
 * Route evaluation: 10 rules in fan-out mode (every rule evaluated on every
 * record), nested versus flat, on Debezium change events of about 400 B and
 * about 8 KB, against a hand-written plain TypeScript loop with the same ten
 * predicates. Figures are ratios against baselines measured in the same run.
 *
 *   node packages/rules/bench/rules.bench.ts [records] [rounds]
 *
 * Scenarios, for each payload size:
 *
 * - plain nested (baseline): the ten predicates as TypeScript functions over
 *   the record; a match builds the same output object as the router
 *   (the record plus `filterMetadata`).
 * - plain flat (baseline): the same loop, after flattening the attributes with
 *   a hand-written flattener; predicates read `attrs["loan.loanAmount"]` and
 *   convert as CEL's `double()` would, and a match outputs the flat record.
 * - sluice nested / flat: `Router.routeAll` over batches of 500 records
 *   (metrics included, as a stream stage would call it).
 * - plain flat / sluice flat, arrives flat: the same records with the attributes
 *   already flattened before the run (as a producer or a CDC transform could
 *   send them); the plain loop reads the map directly, the router still
 *   copies it (flattening a flat map) before evaluating.
 * - sluice nested / flat, no metrics: `Router.routeUnsafe` per record, to show
 *   what the metrics cost.
 *
 * The ~8 KB run uses a quarter as many records. Records are parsed JSON
 * already; decoding costs the same in every scenario and is left out. Each round runs every scenario once in a rotating
 * order after a warm-up round; ratios are taken within a round and the median
 * over the rounds is reported. Results go to stdout and to
 * `bench/results/rules.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import * as Router from "../src/Router.ts"
import * as RuleFile from "../src/RuleFile.ts"
import * as Shape from "../src/Shape.ts"

const records = Number(process.argv[2] ?? 20_000)
const ROUNDS = Number(process.argv[3] ?? 5)
const BATCH = 500

// A fixed PRNG so every run routes the same records.
let seed = 11
const random = () => {
  seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
  return seed / 4_294_967_296
}
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

type Json = Record<string, unknown>

const attributesFor = (eventType: string, large: boolean): Json => {
  const base: Json =
    eventType === "LoanCreated"
      ? {
          loan: {
            loanAmount: Math.round(random() * 200_000),
            balance: Math.round(random() * 200_000),
            status: pick(["active", "pending", "closed"]),
            interestRate: Math.round(random() * 1000) / 10_000
          },
          borrower: { name: pick(["Ada", "Lin", "Grace", "Alan"]), country: pick(["US", "CA", "GB", "DE"]) }
        }
      : eventType === "CarCreated"
        ? {
            car: {
              make: pick(["Volvo", "Tesla", "Ford"]),
              year: 2010 + Math.floor(random() * 16),
              electric: random() < 0.4
            }
          }
        : eventType === "LoanPaymentSubmitted"
          ? { payment: { amount: Math.round(random() * 300_000) / 100, method: pick(["ach", "card", "wire"]) } }
          : { service: { kind: pick(["maintenance", "inspection"]), priority: Math.floor(random() * 5) } }
  if (!large) return base
  // about 8 KB: a history of past states, as entity attributes accumulate
  return {
    ...base,
    history: Array.from({ length: 80 }, (_, i) => ({
      seq: i,
      at: `2026-01-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z`,
      amount: Math.round(random() * 1_000_000) / 100,
      status: pick(["ok", "late", "partial"]),
      note: pick(["auto", "manual review", "customer call"])
    }))
  }
}

const makeRecords = (large: boolean, count: number): Array<Json> =>
  Array.from({ length: count }, (_, i) => {
    const eventType = pick(["LoanCreated", "LoanCreated", "CarCreated", "LoanPaymentSubmitted", "ServiceRequested"])
    const entityType = eventType.startsWith("Loan") ? "Loan" : eventType === "CarCreated" ? "Car" : "Service"
    return {
      op: random() < 0.8 ? "c" : "u",
      before: null,
      after: {
        id: `${entityType.toLowerCase()}-${i}`,
        entity_type: entityType,
        event_type: eventType,
        created_at: "2026-01-15T10:00:00Z",
        updated_attributes: attributesFor(eventType, large)
      },
      source: { connector: "postgresql", db: "business", schema: "public", table: "business_events", lsn: 1000 + i },
      ts_ms: 1_764_000_000_000 + i
    }
  })

// The ten rules: name, topic, nested CEL, flat CEL, plain nested, plain flat.
type Attrs = Json & { loan: Json; borrower: Json; car: Json; payment: Json }
type Flat = Record<string, string>
const eventType = (r: Json) => (r.after as Json).event_type as string
const entityType = (r: Json) => (r.after as Json).entity_type as string
const a = (r: Json) => (r.after as Json).updated_attributes as Attrs
const rules: ReadonlyArray<{
  name: string
  nested: string
  flat: string
  plainNested: (r: Json) => boolean
  plainFlat: (r: Json, f: Flat) => boolean
}> = [
  {
    name: "loan-created",
    nested: `after.event_type == "LoanCreated"`,
    flat: `after.event_type == "LoanCreated"`,
    plainNested: (r) => eventType(r) === "LoanCreated",
    plainFlat: (r) => eventType(r) === "LoanCreated"
  },
  {
    name: "large-loans",
    nested: `after.event_type == "LoanCreated" && attrs.loan.loanAmount > 100000`,
    flat: `after.event_type == "LoanCreated" && double(attrs["loan.loanAmount"]) > 100000.0`,
    plainNested: (r) => eventType(r) === "LoanCreated" && (a(r).loan.loanAmount as number) > 100000,
    plainFlat: (r, f) => eventType(r) === "LoanCreated" && Number(f["loan.loanAmount"]) > 100000
  },
  {
    name: "us-loans",
    nested: `after.event_type == "LoanCreated" && attrs.borrower.country == "US"`,
    flat: `after.event_type == "LoanCreated" && attrs["borrower.country"] == "US"`,
    plainNested: (r) => eventType(r) === "LoanCreated" && a(r).borrower.country === "US",
    plainFlat: (r, f) => eventType(r) === "LoanCreated" && f["borrower.country"] === "US"
  },
  {
    name: "active-cheap-loans",
    nested: `after.event_type == "LoanCreated" && attrs.loan.status == "active" && attrs.loan.interestRate < 0.06`,
    flat: `after.event_type == "LoanCreated" && attrs["loan.status"] == "active" && double(attrs["loan.interestRate"]) < 0.06`,
    plainNested: (r) =>
      eventType(r) === "LoanCreated" && a(r).loan.status === "active" && (a(r).loan.interestRate as number) < 0.06,
    plainFlat: (r, f) =>
      eventType(r) === "LoanCreated" && f["loan.status"] === "active" && Number(f["loan.interestRate"]) < 0.06
  },
  {
    name: "car-created",
    nested: `after.event_type == "CarCreated"`,
    flat: `after.event_type == "CarCreated"`,
    plainNested: (r) => eventType(r) === "CarCreated",
    plainFlat: (r) => eventType(r) === "CarCreated"
  },
  {
    name: "new-electric-cars",
    nested: `after.event_type == "CarCreated" && attrs.car.electric == true && attrs.car.year >= 2020`,
    flat: `after.event_type == "CarCreated" && attrs["car.electric"] == "true" && double(attrs["car.year"]) >= 2020.0`,
    plainNested: (r) =>
      eventType(r) === "CarCreated" && a(r).car.electric === true && (a(r).car.year as number) >= 2020,
    plainFlat: (r, f) => eventType(r) === "CarCreated" && f["car.electric"] === "true" && Number(f["car.year"]) >= 2020
  },
  {
    name: "payments",
    nested: `after.event_type == "LoanPaymentSubmitted"`,
    flat: `after.event_type == "LoanPaymentSubmitted"`,
    plainNested: (r) => eventType(r) === "LoanPaymentSubmitted",
    plainFlat: (r) => eventType(r) === "LoanPaymentSubmitted"
  },
  {
    name: "large-card-payments",
    nested: `after.event_type == "LoanPaymentSubmitted" && attrs.payment.method == "card" && attrs.payment.amount > 1000`,
    flat: `after.event_type == "LoanPaymentSubmitted" && attrs["payment.method"] == "card" && double(attrs["payment.amount"]) > 1000.0`,
    plainNested: (r) =>
      eventType(r) === "LoanPaymentSubmitted" &&
      a(r).payment.method === "card" &&
      (a(r).payment.amount as number) > 1000,
    plainFlat: (r, f) =>
      eventType(r) === "LoanPaymentSubmitted" && f["payment.method"] === "card" && Number(f["payment.amount"]) > 1000
  },
  {
    name: "service-events",
    nested: `after.event_type.startsWith("Service")`,
    flat: `after.event_type.startsWith("Service")`,
    plainNested: (r) => eventType(r).startsWith("Service"),
    plainFlat: (r) => eventType(r).startsWith("Service")
  },
  {
    name: "loan-updates",
    nested: `op == "u" && after.entity_type == "Loan"`,
    flat: `op == "u" && after.entity_type == "Loan"`,
    plainNested: (r) => r.op === "u" && entityType(r) === "Loan",
    plainFlat: (r) => r.op === "u" && entityType(r) === "Loan"
  }
]

const ruleFile = (model: "nested" | "flat") =>
  [
    "mode: fan-out",
    "drop-unmatched: true",
    "rules:",
    ...rules.flatMap((r) => [
      `  - name: ${r.name}`,
      `    when: '${model === "nested" ? r.nested : r.flat}'`,
      `    to: topic-${r.name}`,
      `    model: ${model}`
    ])
  ].join("\n")

const compiled = {
  nested: Effect.runSync(RuleFile.parse("bench-nested.yaml", ruleFile("nested"), Shape.debezium)),
  flat: Effect.runSync(RuleFile.parse("bench-flat.yaml", ruleFile("flat"), Shape.debezium))
}

// An independent flattener for the baseline: recursion over objects and arrays, nulls left out.
const plainFlatten = (value: unknown, prefix: string, out: Flat): Flat => {
  if (value === null || value === undefined) return out
  if (typeof value === "object") {
    for (const [k, v] of Object.entries(value)) plainFlatten(v, prefix === "" ? k : `${prefix}.${k}`, out)
  } else if (prefix !== "") out[prefix] = String(value)
  return out
}

let sink = 0
const plainNested = (batch: ReadonlyArray<Json>) => {
  const now = Date.now()
  for (const record of batch) {
    for (const rule of rules) {
      if (rule.plainNested(record)) {
        const out = { ...record, filterMetadata: { ruleName: rule.name, matchedAt: now } }
        sink += out.filterMetadata.matchedAt === 0 ? 1 : 0
      }
    }
  }
}
const plainFlat = (batch: ReadonlyArray<Json>) => {
  const now = Date.now()
  for (const record of batch) {
    const after = record.after as Json
    const flat = plainFlatten(after.updated_attributes, "", {})
    let flatRecord: Json | undefined
    for (const rule of rules) {
      if (rule.plainFlat(record, flat)) {
        flatRecord ??= { ...record, after: { ...after, updated_attributes: flat } }
        const out = { ...flatRecord, filterMetadata: { ruleName: rule.name, matchedAt: now } }
        sink += out.filterMetadata.matchedAt === 0 ? 1 : 0
      }
    }
  }
}
const plainArrivesFlat = (batch: ReadonlyArray<Json>) => {
  const now = Date.now()
  for (const record of batch) {
    const flat = (record.after as Json).updated_attributes as Flat
    for (const rule of rules) {
      if (rule.plainFlat(record, flat)) {
        const out = { ...record, filterMetadata: { ruleName: rule.name, matchedAt: now } }
        sink += out.filterMetadata.matchedAt === 0 ? 1 : 0
      }
    }
  }
}
const sluice = (rules: RuleFile.Rules) => (batch: ReadonlyArray<Json>) => {
  for (let i = 0; i < batch.length; i += BATCH) {
    const outcomes = Effect.runSync(Router.routeAll(rules, batch.slice(i, i + BATCH)))
    sink += outcomes.length === 0 ? 1 : 0
  }
}
const sluiceUnsafe = (rules: RuleFile.Rules) => (batch: ReadonlyArray<Json>) => {
  const now = Date.now()
  for (const record of batch) sink += Router.routeUnsafe(rules, record, now)._tag === "Rejected" ? 1 : 0
}

// The router and the baselines must select the same records, or the comparison means nothing.
const check = (data: ReadonlyArray<Json>) => {
  for (const model of ["nested", "flat"] as const) {
    for (const record of data.slice(0, 2000)) {
      const outcome = Router.routeUnsafe(compiled[model], record, 0)
      if (outcome._tag === "Rejected") throw new Error(`rejected: ${outcome.error.message}`)
      const got = outcome._tag === "Routed" ? outcome.outputs.map((o) => o.rule) : []
      const flat = plainFlatten((record.after as Json).updated_attributes, "", {})
      const want = rules
        .filter((r) => (model === "nested" ? r.plainNested(record) : r.plainFlat(record, flat)))
        .map((r) => r.name)
      if (got.join() !== want.join()) throw new Error(`${model}: router ${got} vs plain ${want}`)
    }
  }
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const results: Array<Record<string, unknown>> = []
// a quarter as many large records: flattening 8 KB is slow enough that the full count takes minutes
for (const [payload, large, count] of [
  ["~400 B", false, records],
  ["~8 KB", true, Math.max(1, Math.floor(records / 4))]
] as const) {
  const data = makeRecords(large, count)
  check(data)
  const bytes = Math.round(data.reduce((n, r) => n + JSON.stringify(r).length, 0) / data.length)
  // the same records with the attributes already flat, as a producer or a CDC transform could send them
  const flatData = data.map((r) => {
    const after = r.after as Json
    return { ...r, after: { ...after, updated_attributes: plainFlatten(after.updated_attributes, "", {}) } }
  })
  const scenarios: ReadonlyArray<readonly [string, string, () => void]> = [
    ["plain nested", "nested", () => plainNested(data)],
    ["plain flat", "flat", () => plainFlat(data)],
    ["plain flat, arrives flat", "arrives-flat", () => plainArrivesFlat(flatData)],
    ["sluice nested", "nested", () => sluice(compiled.nested)(data)],
    ["sluice flat", "flat", () => sluice(compiled.flat)(data)],
    ["sluice flat, arrives flat", "arrives-flat", () => sluice(compiled.flat)(flatData)],
    ["sluice nested, no metrics", "nested", () => sluiceUnsafe(compiled.nested)(data)],
    ["sluice flat, no metrics", "flat", () => sluiceUnsafe(compiled.flat)(data)]
  ]
  const ms = new Map<string, Array<number>>(scenarios.map(([name]) => [name, []]))
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < scenarios.length; k++) {
      const [name, , run] = scenarios[(k + Math.max(round, 0)) % scenarios.length]!
      const start = performance.now()
      run()
      const elapsed = performance.now() - start
      if (round >= 0) ms.get(name)!.push(elapsed)
    }
  }
  const ratio = (name: string, baseline: string) =>
    median(ms.get(name)!.map((m, round) => ms.get(baseline)!.at(round)! / m))
  for (const [name, model] of scenarios) {
    const baseline = model === "nested" ? "plain nested" : model === "flat" ? "plain flat" : "plain flat, arrives flat"
    results.push({
      payload,
      averageBytes: bytes,
      scenario: name,
      medianMs: median(ms.get(name)!),
      records: count,
      eventsPerSecond: Math.round((count / median(ms.get(name)!)) * 1000),
      vsPlainSameModel: ratio(name, baseline),
      flatVsNested:
        model !== "nested" && name.startsWith("sluice")
          ? ratio(name, name.includes("no metrics") ? "sluice nested, no metrics" : "sluice nested")
          : null
    })
  }
}

console.log(
  `\nroute evaluation: ${rules.length} rules, fan-out, ${records} records of ~400 B and ${Math.floor(records / 4)} of ~8 KB, median of ${ROUNDS} interleaved rounds\n`
)
console.log(
  `${"payload".padEnd(8)} ${"scenario".padEnd(28)} ${"median ms".padStart(10)} ${"events/s".padStart(11)} ${"vs plain (same model)".padStart(22)} ${"flat vs nested".padStart(15)}`
)
for (const r of results) {
  console.log(
    `${String(r.payload).padEnd(8)} ${String(r.scenario).padEnd(28)} ${(r.medianMs as number).toFixed(1).padStart(10)} ${String(r.eventsPerSecond).padStart(11)} ${`${(r.vsPlainSameModel as number).toFixed(2)}x`.padStart(22)} ${(r.flatVsNested === null ? "" : `${(r.flatVsNested as number).toFixed(2)}x`).padStart(15)}`
  )
}
console.log(
  `\naverage record size: ${[...new Set(results.map((r) => `${r.payload} = ${r.averageBytes} B`))].join(", ")}`
)
console.log("flat vs nested > 1 means the flat model routed faster")
mkdirSync(join(import.meta.dirname, "../../../bench/results"), { recursive: true })
writeFileSync(join(import.meta.dirname, "../../../bench/results/rules.json"), `${JSON.stringify(results, null, 2)}\n`)
console.log(`written to bench/results/rules.json${sink < 0 ? "" : ""}`)
