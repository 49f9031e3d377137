// `sluice demo cdc` as a user runs it: one process that ends by itself with a
// summary. With the machine's PostgreSQL binaries it captures the rows it
// inserted; with a binaries directory that holds none it says why in one line
// and writes the change events directly. Either way the counts per consumer
// topic must equal the example rules applied by hand to the generated events.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as CdcGenerator from "../src/jobs/cdc/CdcGenerator.ts"
import * as ExampleRules from "../src/jobs/cdc/ExampleRules.ts"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

const count = 200
const seed = 7

// The example rules (first match, default topic) written out in plain TypeScript.
const topicOf = (e: CdcGenerator.BusinessEvent): string =>
  e.eventType === "LoanCreated"
    ? "filtered-loan-created-events"
    : e.eventType === "CarCreated"
      ? "filtered-car-created-events"
      : e.eventType === "LoanPaymentSubmitted"
        ? "filtered-loan-payment-submitted-events"
        : e.entityType === "Service"
          ? "filtered-service-events"
          : "unmatched-business-events"

const reference = (): Record<string, number> => {
  const counts: Record<string, number> = Object.fromEntries(ExampleRules.topics.map((t) => [t, 0]))
  for (let i = 0; i < count; i++) {
    const topic = topicOf(CdcGenerator.event({ seed, maxBytes: 8192 }, i))
    counts[topic] = (counts[topic] ?? 0) + 1
  }
  return counts
}

const figure = (summary: string, label: string): string => {
  const m = new RegExp(`^  ${label}\\s+(.+)$`, "m").exec(summary)
  assert.isNotNull(m, `no "${label}" in the summary:\n${summary}`)
  return m![1]!
}

const perTopic = (summary: string): Record<string, number> =>
  Object.fromEntries(ExampleRules.topics.map((t) => [t, Number(figure(summary, t))]))

// The demo, stopped if it has not ended by itself within the test's time.
const demo = (extra: ReadonlyArray<string>) =>
  Effect.acquireUseRelease(
    Effect.sync(() =>
      spawnSluice(
        ["demo", "cdc", "--count", String(count), "--seed", String(seed), "--events-per-second", "2000", ...extra],
        { METRICS_PORT: "0" }
      )
    ),
    (sluice) => Effect.promise(() => sluice.done),
    (sluice) => stopSluice(sluice, 5_000)
  )

describe("sluice demo cdc", () => {
  it.live(
    "with PostgreSQL binaries: inserted rows are captured, and the counts per topic follow the rules; without: says why, same counts",
    () =>
      Effect.gen(function* () {
        const bogus = mkdtempSync(join(tmpdir(), "no-pg-bin-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(bogus, { recursive: true, force: true })))
        // Both at once: each is mostly waiting, and the file must stay short.
        const [captured, direct] = yield* Effect.all([demo([]), demo(["--pg-bin", bogus])], {
          concurrency: 2
        })
        const expected = reference()
        assert.strictEqual(
          Object.values(expected).reduce((a, b) => a + b, 0),
          count
        )

        assert.strictEqual(captured.status, 0, captured.stderr)
        assert.match(figure(captured.stdout, "source"), /^PostgreSQL \d+/)
        assert.strictEqual(figure(captured.stdout, "rows inserted"), `${count} (business_events)`)
        assert.strictEqual(figure(captured.stdout, "rows captured"), `${count} (raw-business-events)`)
        assert.deepStrictEqual(perTopic(captured.stdout), expected)
        assert.strictEqual(figure(captured.stdout, "dead letters"), "0 (raw-business-events-dlq)")
        assert.notInclude(captured.stderr, "no PostgreSQL with logical replication")

        assert.strictEqual(direct.status, 0, direct.stderr)
        const reasons = direct.stderr.split("\n").filter((l) => l.startsWith("cdc demo: no PostgreSQL"))
        assert.deepStrictEqual(reasons, [
          `cdc demo: no PostgreSQL with logical replication (no executable initdb and postgres in ${bogus}); ` +
            "generated events go to raw-business-events directly as Debezium change events"
        ])
        assert.strictEqual(figure(direct.stdout, "events sent"), `${count} (raw-business-events)`)
        assert.deepStrictEqual(perTopic(direct.stdout), expected)
      }).pipe(Effect.scoped),
    60_000
  )
})
