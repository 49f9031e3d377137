import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Expression from "../src/Expression.ts"

// the event trigger's filter environment: the event with its fields declared, the profile parts as maps
const trigger = Expression.makeEnvironment({
  event: {
    eventId: "string",
    userId: "string",
    eventType: "string",
    eventName: "string",
    properties: "map<string, dyn>"
  },
  user: "map<string, dyn>",
  visit: "map<string, dyn>",
  history: "list<map<string, dyn>>"
})

const context = (eventType: string, country: string) => ({
  event: { eventId: "e1", userId: "u1", eventType, eventName: "home_page", properties: {} },
  user: { country },
  visit: {},
  history: []
})

describe("Expression", () => {
  it.effect("compile - the seed's filter expression compiles against the trigger environment and selects", () =>
    Effect.gen(function* () {
      const filter = yield* Expression.compile(trigger, `event.eventType == "page_view" && user.country == "US"`, {
        expect: "bool"
      })
      assert.strictEqual(filter.resultType, "bool")
      const cases = [
        ["page_view", "US"],
        ["page_view", "CA"],
        ["click", "US"]
      ] as const
      for (const [eventType, country] of cases) {
        assert.strictEqual(
          yield* Expression.test(filter, context(eventType, country)),
          eventType === "page_view" && country === "US"
        )
      }
    })
  )

  it.effect("compile - a misspelt event field is a type error with its line and column", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Expression.compile(trigger, `event.eventType == "page_view" &&\n  event.countr == "US"`, {
          source: "filter.cel"
        })
      )
      assert.strictEqual(error.reason._tag, "InvalidExpression")
      assert.strictEqual(error.message, "filter.cel: expression 2:9: No such key: countr")
    })
  )

  it.effect("compile - a syntax error names its position", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Expression.compile(trigger, `user.country == `))
      assert.strictEqual(error.message, "<inline>: expression 1:17: Unexpected token: EOF")
    })
  )

  it.effect("test - a runtime failure is a typed EvaluationFailed error, a non-boolean result too", () =>
    Effect.gen(function* () {
      const filter = yield* Expression.compile(trigger, `user.age > 18`, { source: "filter.cel", expect: "bool" })
      const missing = yield* Effect.flip(Expression.test(filter, context("page_view", "US")))
      assert.strictEqual(missing.reason._tag, "EvaluationFailed")
      assert.strictEqual(missing.message, "filter.cel: evaluation failed: No such key: age")
      const dynamic = yield* Expression.compile(trigger, `user.flag`, { source: "f" })
      const notBool = yield* Effect.flip(Expression.test(dynamic, { ...context("x", "US"), user: { flag: "yes" } }))
      assert.strictEqual(notBool.message, "f: evaluation failed: expected a bool result, got string")
    })
  )

  it.effect("evaluate - returns the value; JSON numbers compare with int and double literals", () =>
    Effect.gen(function* () {
      const env = Expression.makeEnvironment({ doc: "dyn" })
      const sum = yield* Expression.compile(env, `doc.a + doc.b`)
      assert.strictEqual(yield* Expression.evaluate(sum, { doc: { a: 1.5, b: 2 } }), 3.5)
      const cmp = yield* Expression.compile(env, `doc.a > 100000 && doc.a < 200000.0`)
      assert.strictEqual(yield* Expression.evaluate(cmp, { doc: { a: 150000 } }), true)
    })
  )

  it.effect("evaluateAs - decodes the value with a schema; another type is an EvaluationFailed error", () =>
    Effect.gen(function* () {
      const env = Expression.makeEnvironment({ doc: "dyn" })
      const topic = yield* Expression.compile(env, `"filtered-" + doc.kind`, { source: "topic" })
      assert.strictEqual(
        yield* Expression.evaluateAs(Schema.String)(topic, { doc: { kind: "loans" } }),
        "filtered-loans"
      )
      const count = yield* Expression.compile(env, `size(doc.items)`, { source: "count" })
      assert.strictEqual(yield* Expression.evaluateAs(Schema.BigInt)(count, { doc: { items: [1, 2, 3] } }), 3n)
      const error = yield* Effect.flip(Expression.evaluateAs(Schema.String)(count, { doc: { items: [] } }))
      assert.strictEqual(error.reason._tag, "EvaluationFailed")
      assert.match(error.message, /^count: evaluation failed: unexpected result: Expected string$/)
    })
  )

  it.effect("compile - expect bool rejects an expression of another type", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Expression.compile(trigger, `event.eventType`, { expect: "bool" }))
      assert.strictEqual(error.message, "<inline>: expression 1:1: expected a bool expression, found string")
    })
  )
})
