import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric, Ref, Result } from "effect"
import { TestClock } from "effect/testing"
import * as Expression from "../src/Expression.ts"
import * as RulesMetrics from "../src/RulesMetrics.ts"
import * as ScriptFilter from "../src/ScriptFilter.ts"

const environment = Expression.makeEnvironment({
  event: { eventId: "string", userId: "string", eventType: "string" },
  user: "map<string, dyn>",
  visit: "map<string, dyn>",
  history: "list<map<string, dyn>>"
})

const event = (eventType: string, user: Record<string, unknown>) => ({
  event: { eventId: "e", userId: "u", eventType },
  user,
  visit: {},
  history: [{ eventType: "click" }]
})

const results = (outcome: string) =>
  Effect.map(Metric.value(Metric.withAttributes(RulesMetrics.filterResults, { source: "filter.cel", outcome })), (s) =>
    Number(s.count)
  )

describe("ScriptFilter", () => {
  it.effect("fromSource - pass, reject, runtime error, reload and an invalid reload", () =>
    Effect.gen(function* () {
      const text = yield* Ref.make(`event.eventType == "page_view" && user.country == "US"\n`)
      const filter = yield* ScriptFilter.fromSource({
        source: "filter.cel",
        environment,
        read: Ref.get(text),
        pollInterval: "2 seconds"
      })
      yield* Effect.yieldNow
      assert.isTrue(yield* filter.test(event("page_view", { country: "US" })))
      assert.isFalse(yield* filter.test(event("page_view", { country: "CA" })))
      const error = yield* Effect.flip(filter.test(event("page_view", {})))
      assert.strictEqual(error.message, "filter.cel: evaluation failed: No such key: country")
      assert.deepStrictEqual([yield* results("pass"), yield* results("reject"), yield* results("error")], [1, 1, 1])

      yield* Ref.set(text, `size(history) > 0 && user.?country.orValue("") == "CA"`)
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(yield* filter.test(event("page_view", { country: "CA" })))
      assert.isTrue(yield* filter.test(event("click", { country: "CA" })))

      yield* Ref.set(text, `event.eventTyp == "x"`)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* filter.version, 1)
      assert.isTrue(yield* filter.test(event("click", { country: "CA" })))
    })
  )

  it.effect("testAll - the outcome of test for each context, in order, and the same counts", () =>
    Effect.gen(function* () {
      const filter = yield* ScriptFilter.fromSource({
        source: "batch.cel",
        environment,
        read: Effect.succeed(`event.eventType == "page_view" && user.country == "US"`)
      })
      const countries = ["US", "CA", undefined]
      const contexts = Array.from({ length: 60 }, (_, i) => {
        const country = countries[i % 3]
        return event(i % 2 === 0 ? "page_view" : "click", country === undefined ? {} : { country })
      })
      const count = (outcome: string) =>
        Effect.map(
          Metric.value(Metric.withAttributes(RulesMetrics.filterResults, { source: "batch.cel", outcome })),
          (s) => Number(s.count)
        )
      const all = yield* filter.testAll(contexts)
      const batchCounts = [yield* count("pass"), yield* count("reject"), yield* count("error")]
      // The reference: `test` on each context, one at a time.
      const one = yield* Effect.forEach(contexts, (c) => Effect.result(filter.test(c)))
      assert.deepStrictEqual(
        all.map((r) => (Result.isFailure(r) ? `error: ${r.failure.message}` : r.success)),
        one.map((r) => (Result.isFailure(r) ? `error: ${r.failure.message}` : r.success))
      )
      const totals = [yield* count("pass"), yield* count("reject"), yield* count("error")]
      assert.deepStrictEqual(
        batchCounts,
        totals.map((t) => t / 2)
      )
      assert.isAbove(batchCounts[2]!, 0)
    })
  )

  it.effect("fromSource - an invalid filter at start is one line with its position", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        ScriptFilter.fromSource({ source: "filter.cel", environment, read: Effect.succeed(`event.eventType == `) })
      )
      assert.strictEqual(error.message, "filter.cel: expression 1:19: Unexpected token: EOF")
    })
  )
})
