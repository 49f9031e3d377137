import { mkdtempSync, renameSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { RulesMetrics } from "@sluice/rules"
import { EmbeddedKafka } from "@sluice/testkit"
import { ConfigProvider, Effect, Fiber, Logger, Metric, References } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Readiness from "../src/http/Readiness.ts"
import * as CdcConfig from "../src/jobs/cdc/CdcConfig.ts"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as DemoCommand from "../src/jobs/cdc/DemoCommand.ts"
import * as RouteCommand from "../src/jobs/cdc/RouteCommand.ts"
import { countRecords } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"

const rawTopic = "raw-business-events"

// One rule: loan creations to `topic`, everything else to `unmatched`.
const rulesText = (topic: string, when = `after.event_type == "LoanCreated"`) =>
  [
    "mode: first-match",
    "default: unmatched",
    "rules:",
    "  - name: loans",
    `    when: '${when}'`,
    `    to: ${topic}`,
    "    model: nested",
    ""
  ].join("\n")

// Written aside and renamed over the file, as editors and deploy tools replace files.
const replace = (path: string, text: string) =>
  Effect.sync(() => {
    writeFileSync(`${path}.next`, text)
    renameSync(`${path}.next`, path)
  })

const batch = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => CdcGenerator.event({ seed: 11, maxBytes: 2048 }, from + i))

// The rule of the test in plain TypeScript.
const loanCount = (events: ReadonlyArray<CdcGenerator.BusinessEvent>) =>
  events.filter((e) => e.eventType === "LoanCreated").length

const produce = (bootstrap: string, events: ReadonlyArray<CdcGenerator.BusinessEvent>) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    try {
      await producer.send({
        topic: rawTopic,
        acks: -1,
        messages: events.map((e) => DemoCommand.changeEvent(e, "sluice"))
      })
    } finally {
      await producer.disconnect()
    }
  })

const reloads = (source: string, outcome: "applied" | "invalid") =>
  Effect.map(Metric.value(Metric.withAttributes(RulesMetrics.reloads, { source, outcome })), (s) => Number(s.count))

describe("cdc route, rule reload", () => {
  it.live(
    "a rule file changed on disk applies to later records without a restart; an invalid edit keeps the rules and logs one line",
    () =>
      Effect.gen(function* () {
        const warnings: Array<string> = []
        const capture = Logger.make(({ message, fiber, logLevel }) => {
          if (logLevel !== "Warn") return
          const annotations = fiber.getRef(References.CurrentLogAnnotations)
          warnings.push(
            `${Array.isArray(message) ? message.join(" ") : String(message)} | ${String(annotations.error)}`
          )
        })
        yield* Effect.gen(function* () {
          const broker = yield* EmbeddedKafka.make({ port: 0 })
          const dir = mkdtempSync(join(tmpdir(), "cdc-route-reload-"))
          const rules = join(dir, "rules.yaml")
          writeFileSync(rules, rulesText("loans-v1"))
          const config = yield* CdcConfig.load().pipe(
            Effect.provideService(
              ConfigProvider.ConfigProvider,
              ConfigProvider.fromEnv({ env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, METRICS_PORT: "0" } })
            )
          )
          const readiness = yield* Readiness.make()
          const job = yield* Effect.forkScoped(
            RouteCommand.runRoute(config, { rules, pollInterval: "100 millis" }, readiness)
          )
          const topics = ["loans-v1", "loans-v2", "unmatched"]
          const counts = Effect.forEach(topics, (t) => countRecords(broker, [t]))

          // 1. The rules of the start.
          const first = batch(0, 120)
          yield* produce(broker.bootstrap, first)
          const afterFirst = yield* pollUntil(
            "the first batch routed",
            counts,
            ([v1, v2, other]) => v1! + v2! + other! >= first.length,
            { timeoutMs: 60_000 }
          )
          assert.deepStrictEqual(afterFirst, [loanCount(first), 0, first.length - loanCount(first)])

          // 2. The file changes: once the job has reloaded it, new records follow the new rule.
          yield* replace(rules, rulesText("loans-v2"))
          yield* pollUntil("the reload", reloads(rules, "applied"), (n) => n >= 1, { timeoutMs: 30_000 })
          const second = batch(120, 120)
          yield* produce(broker.bootstrap, second)
          const total2 = first.length + second.length
          const afterSecond = yield* pollUntil(
            "the second batch routed",
            counts,
            ([v1, v2, other]) => v1! + v2! + other! >= total2,
            { timeoutMs: 60_000 }
          )
          assert.deepStrictEqual(afterSecond, [
            loanCount(first),
            loanCount(second),
            total2 - loanCount(first) - loanCount(second)
          ])

          // 3. An invalid edit (a type error) is refused: the rules of step 2 stay in force.
          yield* replace(rules, rulesText("loans-v3", "op > 1"))
          yield* pollUntil("the refused reload", reloads(rules, "invalid"), (n) => n >= 1, { timeoutMs: 30_000 })
          const third = batch(240, 120)
          yield* produce(broker.bootstrap, third)
          const total3 = total2 + third.length
          const afterThird = yield* pollUntil(
            "the third batch routed",
            counts,
            ([v1, v2, other]) => v1! + v2! + other! >= total3,
            { timeoutMs: 60_000 }
          )
          assert.deepStrictEqual(afterThird, [
            loanCount(first),
            loanCount(second) + loanCount(third),
            total3 - loanCount(first) - loanCount(second) - loanCount(third)
          ])
          assert.strictEqual(yield* countRecords(broker, ["loans-v3"]), 0)
          assert.strictEqual(yield* reloads(rules, "applied"), 1)
          yield* Fiber.interrupt(job)
        }).pipe(Effect.scoped, Effect.provide(Logger.layer([capture])))
        // Exactly one line about the bad edit, naming the file, the rule and the position.
        const bad = warnings.filter((w) => w.includes("not valid"))
        assert.strictEqual(bad.length, 1, warnings.join("\n"))
        assert.match(bad[0]!, /rules\.yaml:5: rule "loans": expression 1:1: no such overload: string > int/)
      }),
    180_000
  )
})
