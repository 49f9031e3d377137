import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as Router from "../src/Router.ts"
import * as RuleFile from "../src/RuleFile.ts"
import * as Shape from "../src/Shape.ts"

// Attribute trees follow one schema (each path always has the same type when present), as entity
// attributes do; any field or object may be missing and any leaf may be null.
type Kind = "number" | "string" | "boolean"
const leaves: ReadonlyArray<readonly [ReadonlyArray<string | number>, Kind]> = [
  [["loan", "amount"], "number"],
  [["loan", "status"], "string"],
  [["loan", "active"], "boolean"],
  [["borrower", "name"], "string"],
  [["borrower", "score"], "number"],
  [["items", 0, "qty"], "number"],
  [["items", 1, "sku"], "string"]
]

const numbers = fc.oneof(
  fc.constantFrom(0, 1, 5, 100000, -2.5, 0.1),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ min: -1e7, max: 1e7, noNaN: true })
)
const strings = fc.oneof(fc.constantFrom("active", "pending", "", "a"), fc.stringMatching(/^[a-c]{0,3}$/))
const arbitraryOf = (kind: Kind): fc.Arbitrary<unknown> =>
  kind === "number" ? numbers : kind === "string" ? strings : fc.boolean()
const maybe = <A>(arb: fc.Arbitrary<A>) =>
  fc.oneof(
    { weight: 6, arbitrary: arb },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constant(undefined) }
  )

const item = fc.record({ qty: maybe(numbers), sku: maybe(strings) })
const tree = fc.record({
  loan: fc.option(fc.record({ amount: maybe(numbers), status: maybe(strings), active: maybe(fc.boolean()) }), {
    nil: undefined
  }),
  borrower: fc.option(fc.record({ name: maybe(strings), score: maybe(numbers) }), { nil: undefined }),
  items: fc.option(fc.array(item, { maxLength: 3 }), { nil: undefined })
})

/** Drops `undefined` fields, as JSON has no such thing. */
const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

type Predicate =
  | { readonly _tag: "Compare"; readonly leaf: number; readonly op: string; readonly literal: unknown }
  | { readonly _tag: "And" | "Or"; readonly left: Predicate; readonly right: Predicate }
  | { readonly _tag: "Not"; readonly inner: Predicate }

const compare: fc.Arbitrary<Predicate> = fc.integer({ min: 0, max: leaves.length - 1 }).chain((leaf) => {
  const kind = leaves[leaf]![1]
  const ops = kind === "boolean" ? ["==", "!="] : ["==", "!=", "<", "<=", ">", ">="]
  return fc.record({
    _tag: fc.constant("Compare" as const),
    leaf: fc.constant(leaf),
    op: fc.constantFrom(...ops),
    literal: arbitraryOf(kind)
  })
})
const predicate: fc.Arbitrary<Predicate> = fc.letrec<{ p: Predicate }>((tie) => ({
  p: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    compare,
    fc.record({ _tag: fc.constantFrom("And" as const, "Or" as const), left: tie("p"), right: tie("p") }),
    fc.record({ _tag: fc.constant("Not" as const), inner: tie("p") })
  )
})).p

const celNumber = (n: number): string => {
  const text = String(Object.is(n, -0) ? 0 : n)
  return /[.e]/.test(text) ? text : `${text}.0`
}
const celLiteral = (kind: Kind, literal: unknown): string =>
  kind === "number" ? celNumber(literal as number) : kind === "string" ? JSON.stringify(literal) : String(literal)

/** `attrs.loan.amount`, `attrs.items[0].qty`, with a guard that every step is there and the leaf is not null. */
const nested = (p: Predicate): string => {
  switch (p._tag) {
    case "And":
      return `(${nested(p.left)} && ${nested(p.right)})`
    case "Or":
      return `(${nested(p.left)} || ${nested(p.right)})`
    case "Not":
      return `!(${nested(p.inner)})`
    case "Compare": {
      const [path, kind] = leaves[p.leaf]!
      const guards: Array<string> = []
      let access = "attrs"
      for (const step of path) {
        if (typeof step === "number") {
          guards.push(`size(${access}) > ${step}`)
          access = `${access}[${step}]`
        } else {
          guards.push(`${JSON.stringify(step)} in ${access}`)
          access = `${access}.${step}`
        }
      }
      guards.push(`${access} != null`)
      return `(${guards.join(" && ")} && ${access} ${p.op} ${celLiteral(kind, p.literal)})`
    }
  }
}

/** `attrs["loan.amount"]` read back as the leaf's type. */
const flat = (p: Predicate): string => {
  switch (p._tag) {
    case "And":
      return `(${flat(p.left)} && ${flat(p.right)})`
    case "Or":
      return `(${flat(p.left)} || ${flat(p.right)})`
    case "Not":
      return `!(${flat(p.inner)})`
    case "Compare": {
      const [path, kind] = leaves[p.leaf]!
      const key = JSON.stringify(path.join("."))
      const value = kind === "number" ? `double(attrs[${key}])` : `attrs[${key}]`
      const literal = kind === "boolean" ? JSON.stringify(String(p.literal)) : celLiteral(kind, p.literal)
      return `(${key} in attrs && ${value} ${p.op} ${literal})`
    }
  }
}

const ruleFile = (mode: RuleFile.Mode, model: RuleFile.Model, predicates: ReadonlyArray<Predicate>) =>
  [
    `mode: ${mode}`,
    "default: unmatched",
    "rules:",
    ...predicates.flatMap((p, i) => [
      `  - name: r${i}`,
      `    when: '${(model === "nested" ? nested(p) : flat(p)).replaceAll("'", "''")}'`,
      `    to: topic-${i}`,
      `    model: ${model}`
    ])
  ].join("\n")

const selected = (outcome: Router.Outcome): string => {
  assert.notStrictEqual(outcome._tag, "Rejected", outcome._tag === "Rejected" ? outcome.error.message : "")
  return outcome._tag === "Routed" ? outcome.outputs.map((o) => o.topic).join(",") : "unmatched"
}

describe("Router (property)", () => {
  it("route - nested and flat forms of the same predicates select the same records", () => {
    fc.assert(
      fc.property(
        fc.array(predicate, { minLength: 1, maxLength: 4 }),
        fc.array(tree, { minLength: 1, maxLength: 25 }),
        fc.constantFrom<RuleFile.Mode>("first-match", "fan-out"),
        (predicates, trees, mode) => {
          const load = (model: RuleFile.Model) =>
            Effect.runSync(RuleFile.parse(`${model}.yaml`, ruleFile(mode, model, predicates), Shape.debezium))
          const nestedRules = load("nested")
          const flatRules = load("flat")
          for (const attributes of trees) {
            const record = { op: "c", after: { id: "x", updated_attributes: json(attributes) } }
            assert.strictEqual(
              selected(Router.routeUnsafe(flatRules, record, 0)),
              selected(Router.routeUnsafe(nestedRules, record, 0)),
              JSON.stringify(record.after.updated_attributes)
            )
          }
        }
      ),
      { numRuns: 100 }
    )
  })
})
