// `sluice demo commerce` as a user runs it: one process, the machine's
// PostgreSQL through DATABASE_URL on a database made for the test. The demo
// must end by itself with a summary that matches its tables.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Generator from "../src/jobs/commerce/Generator.ts"
import { freshDatabase } from "./support/database.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const figure = (summary: string, label: string): string => {
  const m = new RegExp(`^  ${label}\\s+(.+)$`, "m").exec(summary)
  assert.isNotNull(m, `no "${label}" in the summary:\n${summary}`)
  return m![1]!
}

describe("sluice demo commerce", () => {
  it.live(
    "runs the generator and the four jobs to the end and prints a summary of their tables",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("commerce_demo")
        const args = ["demo", "commerce", "--orders", "300", "--seed", "5", "--events-per-second", "5000"]
        const { status, stdout, stderr } = yield* Effect.promise(
          () => spawnSluice(args, { DATABASE_URL: db.url, METRICS_PORT: "0" }).done
        )
        assert.strictEqual(status, 0, stderr)
        const records = yield* Generator.generate({ ...Generator.defaults, seed: 5, orders: 300 })
        assert.strictEqual(Number(figure(stdout, "records sent")), records.length)
        const count = (table: string) =>
          Effect.promise(() => db.sql.unsafe(`SELECT count(*)::int AS n FROM commerce_demo.${table}`)).pipe(
            Effect.map((rows) => Number(rows[0]!.n))
          )
        assert.strictEqual(
          Number(figure(stdout, "sales windows").split(" ")[0]),
          yield* count("realtime_sales_metrics")
        )
        const sum = (text: string) => [...text.matchAll(/ (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0)
        assert.strictEqual(sum(` ${figure(stdout, "segments")}`), yield* count("customer_segments"))
        assert.strictEqual(sum(` ${figure(stdout, "anomalies")}`), yield* count("anomaly_alerts"))
        assert.strictEqual(sum(` ${figure(stdout, "inventory").split(";")[0]}`), yield* count("inventory_insights"))
        assert.isAbove(yield* count("inventory_insights"), 0)
        // The jobs' own tables in the public schema are left alone.
        const [publicTables] = yield* Effect.promise(() =>
          db.sql.unsafe(
            "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'inventory_insights'"
          )
        )
        assert.strictEqual(Number(publicTables!.n), 0)
      }),
    240_000
  )
})
