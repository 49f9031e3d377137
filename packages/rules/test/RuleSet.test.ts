import { mkdtemp, rename, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Metric, Ref, References } from "effect"
import { TestClock } from "effect/testing"
import type * as Router from "../src/Router.ts"
import * as RuleSet from "../src/RuleSet.ts"
import * as RulesMetrics from "../src/RulesMetrics.ts"
import * as Shape from "../src/Shape.ts"
import * as Fixtures from "./fixtures/records.ts"

const file = (topic: string, when = `after.event_type == "LoanCreated"`) =>
  [
    "mode: first-match",
    "default: unmatched",
    "rules:",
    "  - name: loans",
    `    when: '${when}'`,
    `    to: ${topic}`,
    "    model: nested"
  ].join("\n")

const topicOf = (outcome: Router.Outcome) =>
  outcome._tag === "Routed" ? outcome.outputs[0]!.topic : outcome._tag === "Unmatched" ? outcome.topic : "rejected"

const reloads = (source: string, outcome: string) =>
  Effect.map(Metric.value(Metric.withAttributes(RulesMetrics.reloads, { source, outcome })), (s) => Number(s.count))

describe("RuleSet", () => {
  it.effect("fromSource - a change applies at the next poll, an invalid change keeps the old rules and is logged", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const capture = Logger.make(({ message, fiber, logLevel }) => {
        if (logLevel !== "Warn") return
        const annotations = fiber.getRef(References.CurrentLogAnnotations)
        warnings.push(`${Array.isArray(message) ? message.join(" ") : String(message)} | ${String(annotations.error)}`)
      })
      yield* Effect.gen(function* () {
        const text = yield* Ref.make(file("loans-v1"))
        const rules = yield* RuleSet.fromSource({
          source: "clock.yaml",
          shape: Shape.debezium,
          read: Ref.get(text),
          pollInterval: "5 seconds"
        })
        yield* Effect.yieldNow
        assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "loans-v1")

        yield* Ref.set(text, file("loans-v2"))
        yield* TestClock.adjust("4999 millis")
        assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "loans-v1")
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "loans-v2")
        assert.strictEqual(yield* rules.version, 1)
        const snapshot = yield* rules.snapshot
        assert.strictEqual(snapshot.version, 1)
        assert.strictEqual(snapshot.rules.rules[0]!.to, "loans-v2")

        yield* Ref.set(text, file("loans-v3", "op > 1"))
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "loans-v2")
        assert.strictEqual(yield* rules.version, 1)
        // the same invalid text seen again is not reported again
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(yield* reloads("clock.yaml", "invalid"), 1)

        yield* Ref.set(text, file("loans-v4"))
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "loans-v4")
        assert.strictEqual(yield* rules.version, 2)
        assert.strictEqual(yield* reloads("clock.yaml", "applied"), 2)
      }).pipe(Effect.scoped, Effect.provide(Logger.layer([capture])))
      assert.deepStrictEqual(warnings, [
        `clock.yaml changed but is not valid, keeping the previous version | clock.yaml:5: rule "loans": expression 1:1: no such overload: string > int`
      ])
    })
  )

  it.effect("make - an invalid file at start fails with one line naming the file, rule and position", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "sluice-rules-")))
      yield* Effect.addFinalizer(() => Effect.promise(() => rm(dir, { recursive: true, force: true })))
      const path = join(dir, "rules.yaml")
      yield* Effect.promise(() => writeFile(path, file("t", `op == "c" && op.startsWith(1)`)))
      const error = yield* Effect.flip(RuleSet.make({ source: path, shape: Shape.debezium }))
      assert.strictEqual(
        error.message,
        `${path}:5: rule "loans": expression 1:14: found no matching overload for 'string.startsWith(int)'`
      )
      const viaLayer = yield* Effect.flip(
        Effect.asVoid(RuleSet.RuleSet).pipe(Effect.provide(RuleSet.layer({ source: path, shape: Shape.debezium })))
      )
      assert.strictEqual(viaLayer.message, error.message)
      const missing = yield* Effect.flip(RuleSet.make({ source: join(dir, "nope.yaml"), shape: Shape.debezium }))
      assert.match(missing.message, /nope\.yaml: cannot read the file: ENOENT/)
    })
  )

  it.live("make - a file replaced on disk by rename is picked up without a restart", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "sluice-rules-")))
      yield* Effect.addFinalizer(() => Effect.promise(() => rm(dir, { recursive: true, force: true })))
      const path = join(dir, "rules.yaml")
      yield* Effect.promise(() => writeFile(path, file("before")))
      const rules = yield* RuleSet.make({ source: path, shape: Shape.debezium, pollInterval: "20 millis" })
      assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "before")
      // written aside and renamed over the file, as editors and deploy tools do
      yield* Effect.promise(() => writeFile(join(dir, "next.yaml"), file("after")))
      yield* Effect.promise(() => rename(join(dir, "next.yaml"), path))
      for (let i = 0; i < 250 && (yield* rules.version) === 0; i++) yield* Effect.sleep("20 millis")
      assert.strictEqual(topicOf(yield* rules.route(Fixtures.largeLoan)), "after")
    })
  )
})
