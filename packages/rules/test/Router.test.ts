import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { TestClock } from "effect/testing"
import * as Router from "../src/Router.ts"
import * as RuleFile from "../src/RuleFile.ts"
import * as RulesMetrics from "../src/RulesMetrics.ts"
import * as Shape from "../src/Shape.ts"
import * as Fixtures from "./fixtures/records.ts"

const load = (source: string, text: string) => RuleFile.parse(source, text, Shape.debezium)

const topics = (outcome: Router.Outcome): ReadonlyArray<string> =>
  outcome._tag === "Routed" ? outcome.outputs.map((o) => o.topic) : []

const count = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (s) => Number(s.count))

describe("Router", () => {
  for (const model of ["nested", "flat"] as const) {
    it.effect(`route - each rule selects the records its plain TypeScript reference selects (${model})`, () =>
      Effect.gen(function* () {
        const rules = yield* load(`fan-out-${model}.yaml`, Fixtures.ruleFile(model, "fan-out"))
        for (const [name, record] of Object.entries(Fixtures.all)) {
          const outcome = yield* Router.route(rules, record)
          const expected = Fixtures.rules.filter((r) => r.reference(record)).map((r) => r.to)
          if (expected.length === 0) {
            assert.deepStrictEqual(outcome, { _tag: "Unmatched", topic: "unmatched-business-events", value: record })
          } else assert.deepStrictEqual(topics(outcome), expected, name)
        }
      })
    )
  }

  it.effect("route - first-match sends a large loan to the first matching rule only, fan-out to both", () =>
    Effect.gen(function* () {
      const first = yield* load("first.yaml", Fixtures.ruleFile("nested", "first-match"))
      const fan = yield* load("fan.yaml", Fixtures.ruleFile("nested", "fan-out"))
      assert.deepStrictEqual(topics(yield* Router.route(first, Fixtures.largeLoan)), ["filtered-loan-created-events"])
      assert.deepStrictEqual(topics(yield* Router.route(fan, Fixtures.largeLoan)), [
        "filtered-loan-created-events",
        "filtered-large-loan-events"
      ])
      assert.deepStrictEqual(topics(yield* Router.route(fan, Fixtures.smallLoan)), ["filtered-loan-created-events"])
    })
  )

  it.effect("route - unmatched records go to the default topic, or nowhere when the file says drop", () =>
    Effect.gen(function* () {
      const dropping = yield* load("drop.yaml", Fixtures.ruleFile("flat", "first-match", "drop-unmatched: true"))
      const outcome = yield* Router.route(dropping, Fixtures.deletedCar)
      assert.deepStrictEqual(outcome, { _tag: "Unmatched", topic: undefined, value: Fixtures.deletedCar })
      assert.strictEqual(yield* count(RulesMetrics.unmatched, { rules: "drop.yaml", outcome: "dropped" }), 1)
    })
  )

  it.effect("route - a rule that fails on a record rejects the whole record and counts the error", () =>
    Effect.gen(function* () {
      const text = [
        "mode: fan-out",
        "default: rest",
        "rules:",
        "  - name: any-loan",
        '    when: after.entity_type == "Loan"',
        "    to: loans",
        "    model: nested",
        "  - name: unguarded",
        "    when: attrs.loan.loanAmount > 1",
        "    to: amounts",
        "    model: nested"
      ].join("\n")
      const rules = yield* load("errors.yaml", text)
      // a car has no loan: the second rule fails, so the first rule's match is not routed either
      const outcome = yield* Router.route(rules, Fixtures.car)
      assert.strictEqual(outcome._tag, "Rejected")
      if (outcome._tag === "Rejected") {
        assert.strictEqual(outcome.rule, "unguarded")
        assert.strictEqual(outcome.error.reason._tag, "EvaluationFailed")
        assert.match(outcome.error.message, /^errors\.yaml: rule "unguarded": evaluation failed: No such key: loan$/)
      }
      assert.deepStrictEqual(topics(yield* Router.route(rules, Fixtures.largeLoan)), ["loans", "amounts"])
      assert.strictEqual(yield* count(RulesMetrics.errors, { rules: "errors.yaml", rule: "unguarded" }), 1)
      assert.strictEqual(yield* count(RulesMetrics.matched, { rules: "errors.yaml", rule: "any-loan" }), 1)
      assert.strictEqual(
        yield* count(RulesMetrics.routed, { rules: "errors.yaml", rule: "any-loan", topic: "loans" }),
        1
      )
    })
  )

  it.effect("route - first-match stops at the first match: a later rule that would fail is not evaluated", () =>
    Effect.gen(function* () {
      const text = [
        "mode: first-match",
        "default: rest",
        "rules:",
        "  - name: cars",
        '    when: after.entity_type == "Car"',
        "    to: cars",
        "    model: nested",
        "  - name: unguarded",
        "    when: attrs.loan.loanAmount > 1",
        "    to: amounts",
        "    model: nested"
      ].join("\n")
      const rules = yield* load("first-errors.yaml", text)
      assert.deepStrictEqual(topics(yield* Router.route(rules, Fixtures.car)), ["cars"])
      assert.strictEqual((yield* Router.route(rules, Fixtures.payment))._tag, "Rejected")
      assert.strictEqual(yield* count(RulesMetrics.errors, { rules: "first-errors.yaml", rule: "unguarded" }), 1)
    })
  )

  it.effect("route - outputs carry filterMetadata from the Clock; flat rules flatten, project keeps listed paths", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_764_000_123_456)
      const text = [
        "mode: fan-out",
        "drop-unmatched: true",
        "rules:",
        "  - name: nested-whole",
        "    when: attrs.loan.status == 'active'",
        "    to: a",
        "    model: nested",
        "  - name: flat-projected",
        "    when: attrs['loan.status'] == 'active'",
        "    to: b",
        "    model: flat",
        "    project: [after.id, after.updated_attributes.loan, source.table, after.missing]"
      ].join("\n")
      const rules = yield* load("project.yaml", text)
      const before = structuredClone(Fixtures.largeLoan)
      const outcome = yield* Router.route(rules, Fixtures.largeLoan)
      assert.strictEqual(outcome._tag, "Routed")
      if (outcome._tag !== "Routed") return
      const [whole, projected] = outcome.outputs
      assert.deepStrictEqual(whole!.value, {
        ...Fixtures.largeLoan,
        filterMetadata: { ruleName: "nested-whole", matchedAt: 1_764_000_123_456 }
      })
      assert.deepStrictEqual(JSON.parse(JSON.stringify(projected!.value)), {
        after: {
          id: "loan-1",
          updated_attributes: {
            "loan.loanAmount": "150000",
            "loan.balance": "150000",
            "loan.status": "active",
            "loan.interestRate": "0.0525"
          }
        },
        source: { table: "business_events" },
        filterMetadata: { ruleName: "flat-projected", matchedAt: 1_764_000_123_456 }
      })
      // building the outputs left the input record as it was
      assert.deepStrictEqual(Fixtures.largeLoan, before)
    })
  )

  it.effect("routeAll - counts per rule and the latency histogram for a batch", () =>
    Effect.gen(function* () {
      const rules = yield* load("batch.yaml", Fixtures.ruleFile("flat", "first-match"))
      const records = Object.values(Fixtures.all)
      const outcomes = yield* Router.routeAll(rules, [...records, ...records])
      assert.strictEqual(outcomes.length, 2 * records.length)
      const expected = (name: string) =>
        2 * records.filter((r) => Fixtures.rules.find((x) => x.reference(r))?.name === name).length
      for (const r of Fixtures.rules) {
        assert.strictEqual(
          yield* count(RulesMetrics.routed, { rules: "batch.yaml", rule: r.name, topic: r.to }),
          expected(r.name),
          r.name
        )
      }
      const histogram = yield* Metric.value(
        Metric.withAttributes(RulesMetrics.evaluationMicros, { rules: "batch.yaml" })
      )
      assert.strictEqual(histogram.count, 2 * records.length)
    })
  )
})
