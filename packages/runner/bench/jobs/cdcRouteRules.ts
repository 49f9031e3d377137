/**
 * The ten routing rules of `cdc-route.bench.ts`, over the events of
 * `CdcGenerator` (LoanCreated, CarCreated, LoanPaymentSubmitted, service
 * events): the rule file `sluice cdc route` reads, in the nested or the flat
 * model, and the same rules written by hand as if/else chains for the kafkajs
 * reference job. First match wins; the specific rules of an event type come
 * before its catch-all, so a record is tried against one to four rules.
 */

/** Where records no rule matches go (with the run's suffix). */
export const defaultTopic = "unmatched-business-events"

interface Rule {
  readonly name: string
  readonly to: string
  readonly nested: string
  readonly flat: string
}

const loan = `after.event_type == "LoanCreated"`
const car = `after.event_type == "CarCreated"`
const payment = `after.event_type == "LoanPaymentSubmitted"`

/** The rules in file order. */
export const rules: ReadonlyArray<Rule> = [
  {
    name: "large-loans",
    to: "filtered-large-loans",
    nested: `${loan} && attrs.loan.loanAmount > 250000`,
    flat: `${loan} && double(attrs["loan.loanAmount"]) > 250000.0`
  },
  {
    name: "long-term-loans",
    to: "filtered-long-term-loans",
    nested: `${loan} && attrs.loan.termMonths >= 60`,
    flat: `${loan} && double(attrs["loan.termMonths"]) >= 60.0`
  },
  { name: "loan-created", to: "filtered-loan-created-events", nested: loan, flat: loan },
  {
    name: "tesla-cars",
    to: "filtered-tesla-cars",
    nested: `${car} && attrs.car.make == "Tesla"`,
    flat: `${car} && attrs["car.make"] == "Tesla"`
  },
  {
    name: "new-cars",
    to: "filtered-new-cars",
    nested: `${car} && attrs.car.year >= 2022`,
    flat: `${car} && double(attrs["car.year"]) >= 2022.0`
  },
  { name: "car-created", to: "filtered-car-created-events", nested: car, flat: car },
  {
    name: "wire-payments",
    to: "filtered-wire-payments",
    nested: `${payment} && attrs.payment.method == "WIRE"`,
    flat: `${payment} && attrs["payment.method"] == "WIRE"`
  },
  {
    name: "large-payments",
    to: "filtered-large-payments",
    nested: `${payment} && attrs.payment.amount > 4000`,
    flat: `${payment} && double(attrs["payment.amount"]) > 4000.0`
  },
  { name: "loan-payment-submitted", to: "filtered-loan-payment-submitted-events", nested: payment, flat: payment },
  {
    name: "service-events",
    to: "filtered-service-events",
    nested: `after.entity_type == "Service"`,
    flat: `after.entity_type == "Service"`
  }
]

/** Every topic a run writes to, without the suffix. */
export const topics: ReadonlyArray<string> = [...new Set(rules.map((r) => r.to)), defaultTopic]

/** The rule file of one run: every topic carries `-<suffix>`, so runs do not mix. */
export const ruleFile = (model: "nested" | "flat", suffix: string): string =>
  [
    "mode: first-match",
    `default: ${defaultTopic}-${suffix}`,
    "rules:",
    ...rules.flatMap((r) => [
      `  - name: ${r.name}`,
      `    when: '${model === "nested" ? r.nested : r.flat}'`,
      `    to: ${r.to}-${suffix}`,
      `    model: ${model}`
    ]),
    ""
  ].join("\n")

type Json = Record<string, unknown>
type Matched = { readonly name: string; readonly to: string; readonly index: number } | undefined

const matched = rules.map((r, index) => ({ name: r.name, to: r.to, index }))
const rule = (i: number): Matched => matched[i]

/** The rules by hand: `after` is the row, `attrs` its attribute tree or flat map. */
export const byHand = {
  nested: (_event: Json, after: Json, attrs: Json): Matched => {
    const type = after.event_type
    if (type === "LoanCreated") {
      const l = attrs.loan as Json
      if ((l.loanAmount as number) > 250000) return rule(0)
      if ((l.termMonths as number) >= 60) return rule(1)
      return rule(2)
    } else if (type === "CarCreated") {
      const c = attrs.car as Json
      if (c.make === "Tesla") return rule(3)
      if ((c.year as number) >= 2022) return rule(4)
      return rule(5)
    } else if (type === "LoanPaymentSubmitted") {
      const p = attrs.payment as Json
      if (p.method === "WIRE") return rule(6)
      if ((p.amount as number) > 4000) return rule(7)
      return rule(8)
    } else if (after.entity_type === "Service") {
      return rule(9)
    }
    return undefined
  },
  flat: (_event: Json, after: Json, attrs: Record<string, string>): Matched => {
    const type = after.event_type
    if (type === "LoanCreated") {
      if (Number(attrs["loan.loanAmount"]) > 250000) return rule(0)
      if (Number(attrs["loan.termMonths"]) >= 60) return rule(1)
      return rule(2)
    } else if (type === "CarCreated") {
      if (attrs["car.make"] === "Tesla") return rule(3)
      if (Number(attrs["car.year"]) >= 2022) return rule(4)
      return rule(5)
    } else if (type === "LoanPaymentSubmitted") {
      if (attrs["payment.method"] === "WIRE") return rule(6)
      if (Number(attrs["payment.amount"]) > 4000) return rule(7)
      return rule(8)
    } else if (after.entity_type === "Service") {
      return rule(9)
    }
    return undefined
  }
}

/** The flat model by hand: nested attributes as a dot-key string map. */
const flatten = (out: Record<string, string>, prefix: string, value: unknown): Record<string, string> => {
  if (value === null || value === undefined) return out
  if (typeof value === "object") {
    for (const [k, child] of Object.entries(value)) flatten(out, prefix === "" ? k : `${prefix}.${k}`, child)
  } else if (prefix !== "") out[prefix] = String(value)
  return out
}

/**
 * Whether a parsed tree holds an integer the built-in parser did not read
 * exactly (beyond 2^53 - 1). Debezium writes int64 columns as JSON numbers,
 * so a hand-written router that must not change a value checks this as the
 * router does, and would read such a record again with an exact parser
 * (none of the benchmark's events holds one).
 */
const holdsUnsafeInteger = (value: unknown): boolean => {
  if (typeof value === "number")
    return !Number.isSafeInteger(value) && (Number.isInteger(value) || !Number.isFinite(value))
  if (value === null || typeof value !== "object") return false
  for (const child of Array.isArray(value) ? value : Object.values(value)) if (holdsUnsafeInteger(child)) return true
  return false
}

const parseExact = (text: string): unknown => {
  const value: unknown = JSON.parse(text)
  if (holdsUnsafeInteger(value)) throw new Error("an int64 beyond 2^53: needs an exact JSON parser")
  return value
}

/**
 * One raw change event routed by hand, as the kafkajs reference job does it:
 * `JSON.parse` of the event and of its `updated_attributes` text (each
 * checked for integers beyond 2^53, as the router checks them), the rules,
 * and the output (the event with the attributes as JSON and `filterMetadata`)
 * written with `JSON.stringify`; an unmatched record is written as it was
 * read. `topic` is the rule's topic, or `undefined` for the default topic;
 * `rule` its index in `rules`.
 */
export const routeRecordByHand = (
  raw: Buffer,
  model: "nested" | "flat",
  matchedAt: number
): { readonly topic: string | undefined; readonly rule: number; readonly value: string | Buffer } => {
  const event = parseExact(raw.toString()) as Json
  const after = event.after as Json
  const tree = parseExact(after.updated_attributes as string) as Json
  const attrs = model === "flat" ? flatten({}, "", tree) : tree
  const rule =
    model === "flat" ? byHand.flat(event, after, attrs as Record<string, string>) : byHand.nested(event, after, tree)
  if (rule === undefined) return { topic: undefined, rule: -1, value: raw }
  return {
    topic: rule.to,
    rule: rule.index,
    value: JSON.stringify({
      ...event,
      after: { ...after, updated_attributes: attrs },
      filterMetadata: { ruleName: rule.name, matchedAt }
    })
  }
}
