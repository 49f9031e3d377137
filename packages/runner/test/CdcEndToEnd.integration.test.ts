import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { PgLookup } from "@sluice/lookup"
import { EmbeddedKafka } from "@sluice/testkit"
import { ConfigProvider, Effect, Fiber, Redacted } from "effect"
import * as Cluster from "../../cdc/test/support/Cluster.ts"
import * as Readiness from "../src/http/Readiness.ts"
import * as CaptureCommand from "../src/jobs/cdc/CaptureCommand.ts"
import * as CdcConfig from "../src/jobs/cdc/CdcConfig.ts"
import * as CdcTables from "../src/jobs/cdc/CdcTables.ts"
import * as ExampleRules from "../src/jobs/cdc/ExampleRules.ts"
import * as GenerateCommand from "../src/jobs/cdc/GenerateCommand.ts"
import * as RouteCommand from "../src/jobs/cdc/RouteCommand.ts"
import { countRecords } from "./support/kafka.ts"
import { pollUntil } from "./support/poll.ts"

const dlqTopic = "raw-business-events-dlq"

// What the example rules should have routed, asked of the tables themselves.
const referenceQuery = `
SELECT
  (SELECT count(*) FROM business_events WHERE event_type = 'LoanCreated')::int AS "filtered-loan-created-events",
  (SELECT count(*) FROM business_events WHERE event_type = 'CarCreated')::int AS "filtered-car-created-events",
  (SELECT count(*) FROM business_events WHERE event_type = 'LoanPaymentSubmitted')::int
    AS "filtered-loan-payment-submitted-events",
  (SELECT count(*) FROM business_events WHERE entity_type = 'Service')::int AS "filtered-service-events",
  ((SELECT count(*) FROM loan_entities) + (SELECT count(*) FROM car_entities)
    + (SELECT count(*) FROM service_entities))::int AS "unmatched-business-events"`

layer(Cluster.PgCluster.layer, { timeout: 180_000, excludeTestServices: true })("cdc end to end", (it) => {
  it.effect(
    "generator → PostgreSQL → capture → route: counts per consumer topic equal a query over the tables",
    () =>
      Effect.gen(function* () {
        const db = yield* Cluster.database
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const pg = yield* PgLookup.makeClient({ url: Redacted.make(db.url), poolSize: 2 })
        yield* CdcTables.migrate(pg.sql)
        // Before the capture starts: these arrive through the snapshot (op r).
        yield* GenerateCommand.run(pg.sql, { seed: 3, count: 150, eventsPerSecond: 100_000, maxBytes: 4096 })

        const config = yield* CdcConfig.load().pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({
              env: { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, DATABASE_URL: db.url, METRICS_PORT: "0" }
            })
          )
        )
        const dir = mkdtempSync(join(tmpdir(), "cdc-e2e-"))
        const rules = join(dir, "rules.yaml")
        writeFileSync(rules, ExampleRules.text)
        const capture = yield* Effect.forkScoped(
          CaptureCommand.runCapture(
            config,
            { singleTopic: true, unwrap: false, statusInterval: "1 second" },
            yield* Readiness.make()
          )
        )
        const route = yield* Effect.forkScoped(RouteCommand.runRoute(config, { rules }, yield* Readiness.make()))
        // While both run: these arrive through the replication stream (op c).
        yield* GenerateCommand.run(pg.sql, { seed: 4, count: 150, eventsPerSecond: 2_000, maxBytes: 65_536 })

        const [reference] = (yield* Effect.promise(() => pg.sql.unsafe(referenceQuery))) as unknown as [
          Record<string, number>
        ]
        const expectedTotal = Object.values(reference).reduce((a, b) => a + b, 0)
        assert.strictEqual(expectedTotal, 600)
        yield* pollUntil("every change routed", countRecords(broker, ExampleRules.topics), (n) => n >= expectedTotal, {
          timeoutMs: 120_000,
          intervalMs: 250
        })
        const counts: Record<string, number> = {}
        for (const topic of ExampleRules.topics) counts[topic] = yield* countRecords(broker, [topic])
        assert.deepStrictEqual(counts, reference)
        assert.strictEqual(yield* countRecords(broker, [dlqTopic]), 0)
        // The raw topic holds one change per row written.
        assert.strictEqual(yield* countRecords(broker, [config.rawTopic]), expectedTotal)
        yield* Fiber.interrupt(route)
        yield* Fiber.interrupt(capture)
      }).pipe(Effect.scoped),
    180_000
  )
})
