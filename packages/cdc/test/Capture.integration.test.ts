import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { BigDecimal, Deferred, Effect, Exit, Fiber, Metric, Schedule, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import postgres from "postgres"
import * as Capture from "../src/Capture.ts"
import * as ChangeEvent from "../src/ChangeEvent.ts"
import * as Debezium from "../src/Debezium.ts"
import * as Decimal from "../src/Decimal.ts"
import * as Json from "../src/Json.ts"
import * as Lsn from "../src/Lsn.ts"
import * as Temporal from "../src/Temporal.ts"
import * as Cluster from "./support/Cluster.ts"

const orders = Debezium.changeEvent(
  Schema.Struct({
    id: Schema.Int,
    customer: Schema.String,
    total: Decimal.precise(2),
    placed: Temporal.microTimestamp,
    meta: Schema.NullOr(Json.column)
  })
)
const ItemId = Schema.Union([Schema.Int, Schema.BigInt])
// items keeps the default replica identity: a delete carries only the key.
const items = Debezium.changeEvent(Schema.Struct({ id: ItemId, qty: Schema.Int }), {
  before: Schema.Struct({ id: ItemId })
})

// One line per record, with every value spelled out exactly.
const show = (row: unknown): string =>
  row === null
    ? "-"
    : Object.entries(row as Record<string, unknown>)
        .map(([k, v]) =>
          BigDecimal.isBigDecimal(v)
            ? `${k}=${Decimal.toPlainString(v)}`
            : `${k}=${typeof v === "bigint" ? `${v}n` : JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x))}`
        )
        .join(",")

const describeRecord = (r: Capture.Captured) =>
  Effect.gen(function* () {
    const codec: Debezium.Codec<unknown> = (r.topic.endsWith(".orders") ? orders : items) as Debezium.Codec<unknown>
    const decoded = yield* codec.decode(r.value)
    // The key's payload, whether or not it carries a Connect schema.
    const key = r.key === null ? "null" : Json.stringify(Debezium.splitSchema(Json.parse(r.key).value).payload)
    if (ChangeEvent.isTombstone(decoded)) return `${r.topic} ${key} tombstone`
    return `${r.topic} ${key} ${decoded.op} ${show(decoded.before)} | ${show(decoded.after)}`
  })

const setup = `
  CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2) NOT NULL,
                       placed timestamp NOT NULL, meta jsonb);
  ALTER TABLE orders REPLICA IDENTITY FULL;
  CREATE TABLE items (id bigint PRIMARY KEY, qty int NOT NULL);
  INSERT INTO orders VALUES (1, 'ada', 10.5, '2026-03-14 09:26:53.589793', '{"gift": true}'),
                            (2, 'lin', 0.01, '2026-03-14 10:00:00', NULL);
  INSERT INTO items VALUES (9007199254740993, 3);
`

const script: ReadonlyArray<string> = [
  `BEGIN; INSERT INTO orders VALUES (3, 'bob', 1234.5, '2026-03-15 00:00:00.000001', '[1, 2]');
          INSERT INTO items VALUES (5, 1); COMMIT;`,
  `UPDATE orders SET total = total + 0.25, customer = 'ada lovelace' WHERE id = 1`,
  `DELETE FROM orders WHERE id = 2`,
  `UPDATE items SET qty = 7 WHERE id = 5`,
  `TRUNCATE items`,
  `INSERT INTO orders VALUES (4, 'eve', 99999999.99, '1999-12-31 23:59:59.999999', NULL)`,
  `UPDATE orders SET id = 40 WHERE id = 4`
]

const snapshotLines = [
  `dbserver1.public.orders {"id":1} r - | id=1,customer="ada",total=10.50,placed=1773480413589793000n,meta={"gift":true}`,
  `dbserver1.public.orders {"id":2} r - | id=2,customer="lin",total=0.01,placed=1773482400000000000n,meta=null`,
  `dbserver1.public.items {"id":9007199254740993} r - | id=9007199254740993n,qty=3`
]
const scriptLines = [
  [
    `dbserver1.public.orders {"id":3} c - | id=3,customer="bob",total=1234.50,placed=1773532800000001000n,meta=[1,2]`,
    `dbserver1.public.items {"id":5} c - | id=5,qty=1`
  ],
  [
    `dbserver1.public.orders {"id":1} u id=1,customer="ada",total=10.50,placed=1773480413589793000n,meta={"gift":true} | id=1,customer="ada lovelace",total=10.75,placed=1773480413589793000n,meta={"gift":true}`
  ],
  [
    `dbserver1.public.orders {"id":2} d id=2,customer="lin",total=0.01,placed=1773482400000000000n,meta=null | -`,
    `dbserver1.public.orders {"id":2} tombstone`
  ],
  // items has the default replica identity: no old row for an update
  [`dbserver1.public.items {"id":5} u - | id=5,qty=7`],
  [`dbserver1.public.items null t - | -`],
  [`dbserver1.public.orders {"id":4} c - | id=4,customer="eve",total=99999999.99,placed=946684799999999000n,meta=null`],
  // a new primary key: the old key is deleted, the new one created
  [
    `dbserver1.public.orders {"id":4} d id=4,customer="eve",total=99999999.99,placed=946684799999999000n,meta=null | -`,
    `dbserver1.public.orders {"id":4} tombstone`,
    `dbserver1.public.orders {"id":40} c - | id=40,customer="eve",total=99999999.99,placed=946684799999999000n,meta=null`
  ]
]

// Slots belong to the cluster: each test's database names its own.
const config = (db: { readonly url: string; readonly name: string }): Capture.Config => ({
  url: db.url,
  serverName: "dbserver1",
  slot: db.name,
  publication: "sluice_orders",
  tables: ["public.orders", "public.items"],
  statusInterval: "200 millis"
})

const withSql = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => postgres(url, { max: 1, onnotice: () => {} })),
    (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
  )

const exec = (sql: postgres.Sql, text: string) => Effect.promise(() => sql.unsafe(text).simple())

// A capture process (support/captureProcess.ts) printing `lsn key op` per
// record, acknowledged once printed; killed with the scope.
const captureProcess = (db: { readonly url: string; readonly name: string }) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const lines: Array<string> = []
      const script = fileURLToPath(new URL("./support/captureProcess.ts", import.meta.url))
      const child = spawn(process.execPath, [script, db.url, db.name, "public.load"], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      let partial = ""
      child.stdout.on("data", (chunk: Buffer) => {
        const text = partial + chunk.toString("utf8")
        const parts = text.split("\n")
        partial = parts.pop()!
        lines.push(...parts)
      })
      return { child, lines }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

const kill = (child: ReturnType<typeof spawn>) =>
  Effect.callback<void>((resume) => {
    child.kill("SIGKILL")
    if (child.exitCode !== null || child.signalCode !== null) resume(Effect.void)
    else child.once("exit", () => resume(Effect.void))
  })

// Each record's LSN by its row's id, from `lsn key op` lines.
const lsnById = (lines: ReadonlyArray<string>): Map<number, string> =>
  new Map(lines.map((l) => [(JSON.parse(l.split(" ")[1]!) as { id: number }).id, l.split(" ")[0]!] as const))

const ids = (lines: ReadonlyArray<string>) => lines.map((l) => (JSON.parse(l.split(" ")[1]!) as { id: number }).id)

const waitForLines = (lines: Array<string>, n: number) =>
  Effect.sync(() => lines.length).pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (len) => len >= n, times: 1500 }),
    Effect.flatMap((len) => (len >= n ? Effect.void : Effect.die(`only ${len} of ${n} lines`)))
  )

// Runs a capture in the background, collecting what it emits.
const collect = (capture: Capture.Capture) =>
  Effect.gen(function* () {
    const seen: Array<Capture.Captured> = []
    yield* capture.records.pipe(
      Stream.runForEach((r) => Effect.sync(() => seen.push(r))),
      Effect.forkScoped
    )
    const waitFor = (n: number) =>
      Effect.sync(() => seen.length).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (len) => len >= n, times: 750 }),
        Effect.flatMap((len) => (len >= n ? Effect.void : Effect.die(`only ${len} of ${n} records arrived`)))
      )
    return { seen, waitFor }
  })

layer(Cluster.PgCluster.layer, { timeout: 120_000, excludeTestServices: true })("Capture", (it) => {
  it.effect("make - a snapshot, then every change of a scripted run once, in order, with exact values", () =>
    Effect.gen(function* () {
      const db = yield* Cluster.database
      const sql = yield* withSql(db.url)
      yield* exec(sql, setup)
      const capture = yield* Capture.make(config(db))
      const { seen, waitFor } = yield* collect(capture)
      yield* waitFor(snapshotLines.length)
      for (const statement of script) yield* exec(sql, statement)
      const expected = [...snapshotLines, ...scriptLines.flat()]
      yield* waitFor(expected.length)
      // Nothing more arrives (a duplicate would show up here).
      yield* exec(sql, "INSERT INTO items VALUES (6, 6)")
      yield* exec(sql, "DELETE FROM items WHERE id = 6")
      yield* waitFor(expected.length + 3)
      const lines = yield* Effect.forEach(seen, describeRecord)
      assert.deepStrictEqual(lines, [
        ...expected,
        `dbserver1.public.items {"id":6} c - | id=6,qty=6`,
        `dbserver1.public.items {"id":6} d id=6 | -`,
        `dbserver1.public.items {"id":6} tombstone`
      ])
      // The slot holds the WAL of everything not acknowledged; acknowledging
      // the last record lets it go.
      const held = yield* capture.slotLag
      assert.isTrue(held > 0n)
      // The gauge reports it on the status interval.
      const gauge = yield* Metric.value(Capture.slotLagOf(db.name)).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (g) => g.value > 0, times: 100 })
      )
      assert.isTrue(gauge.value > 0)
      yield* capture.acknowledge(seen[seen.length - 1]!.lsn)
      const after = yield* capture.slotLag.pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (lag) => lag < held, times: 100 })
      )
      assert.isTrue(after < held, `${after} < ${held}`)
      // Positions never go back; within a transaction only the last record
      // carries the commit's position, the others the one just before it.
      const lsns = seen.map((r) => r.lsn)
      for (let i = 1; i < lsns.length; i++) assert.isTrue(lsns[i]! >= lsns[i - 1]!)
      assert.strictEqual(seen[4]!.lsn, seen[3]!.lsn + 1n)
    }).pipe(Effect.scoped)
  )

  it.effect("make - after a restart the slot resumes after the last acknowledged record: nothing missing", () =>
    Effect.gen(function* () {
      const db = yield* Cluster.database
      const sql = yield* withSql(db.url)
      yield* exec(sql, setup)

      // First run: everything through the delete arrives, only the update is acknowledged.
      const firstLines = yield* Effect.gen(function* () {
        const capture = yield* Capture.make(config(db))
        const { seen, waitFor } = yield* collect(capture)
        yield* waitFor(snapshotLines.length)
        for (const statement of script.slice(0, 3)) yield* exec(sql, statement)
        yield* waitFor(snapshotLines.length + 5)
        const update = seen[snapshotLines.length + 2]!
        yield* capture.acknowledge(update.lsn)
        const confirmed = (yield* Effect.promise(() =>
          sql.unsafe("SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots")
        )) as unknown as Array<{ lsn: string }>
        assert.strictEqual(confirmed.length, 1)
        return yield* Effect.forEach(seen, describeRecord)
      }).pipe(Effect.scoped)
      assert.deepStrictEqual(firstLines, [...snapshotLines, ...scriptLines.slice(0, 3).flat()])

      // While the capture is down.
      for (const statement of script.slice(3)) yield* exec(sql, statement)

      // Second run: the unacknowledged delete again, then what happened meanwhile; no snapshot.
      // This run writes Connect schemas too: the same events decode from them.
      const capture = yield* Capture.make({ ...config(db), schemas: true })
      const { seen, waitFor } = yield* collect(capture)
      const expected = scriptLines.slice(2).flat()
      yield* waitFor(expected.length)
      assert.deepStrictEqual(yield* Effect.forEach(seen, describeRecord), expected)
      const first = JSON.parse(seen[0]!.value!) as { schema: { name: string }; payload: { op: string } }
      assert.strictEqual(first.schema.name, "dbserver1.public.orders.Envelope")
      assert.strictEqual(first.payload.op, "d")
    }).pipe(Effect.scoped)
  )

  it.effect("make - PostgreSQL restarted mid-stream: the retried stream resumes from the slot, nothing missing", () =>
    Effect.gen(function* () {
      const db = yield* Cluster.database
      const sql = yield* withSql(db.url)
      yield* exec(sql, setup)
      const capture = yield* Capture.make(config(db))
      const ids = new Set<number>()
      let delivered = 0
      yield* capture.records.pipe(
        Stream.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 100 }))),
        // The consumer makes each record durable, then acknowledges it.
        Stream.runForEach((r) =>
          Effect.gen(function* () {
            delivered++
            if (r.topic === "dbserver1.public.orders") {
              const e = yield* orders.decode(r.value)
              if (!ChangeEvent.isTombstone(e) && e.after !== null) ids.add(e.after.id)
            }
            yield* capture.acknowledge(r.lsn)
          })
        ),
        Effect.forkScoped
      )
      const waitForIds = (n: number) =>
        Effect.sync(() => ids.size).pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (size) => size >= n, times: 1500 }),
          Effect.flatMap((size) => (size >= n ? Effect.void : Effect.die(`only ${size} of ${n} rows arrived`)))
        )
      const insert = (from: number, to: number) =>
        exec(
          sql,
          `INSERT INTO orders SELECT g, 'c' || g, g / 100.0, '2026-01-01'::timestamp + g * interval '1 second', NULL
             FROM generate_series(${from}, ${to}) g`
        )
      yield* waitForIds(2) // the snapshot's two orders
      for (let batch = 0; batch < 10; batch++) yield* insert(100 + batch * 10, 109 + batch * 10)
      yield* waitForIds(22)
      yield* db.restart
      for (let batch = 10; batch < 20; batch++) yield* insert(100 + batch * 10, 109 + batch * 10)
      yield* waitForIds(202)
      const expected = [1, 2, ...Array.from({ length: 200 }, (_, i) => 100 + i)]
      assert.deepStrictEqual(
        [...ids].sort((a, b) => a - b),
        expected
      )
      // At least once: a redelivery is possible, but bounded by what was in flight.
      assert.isTrue(delivered >= 200 + snapshotLines.length)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "make - kill -9 of the capture during a 50,000-row load, then a restart: every row arrives, at its LSN",
    () =>
      Effect.gen(function* () {
        const db = yield* Cluster.database
        const sql = yield* withSql(db.url)
        yield* exec(sql, "CREATE TABLE load (id int PRIMARY KEY, v text NOT NULL)")
        const rows = 50_000
        const insert = (batch: number) => {
          const from = batch * 1000 + 1
          return exec(sql, `INSERT INTO load SELECT g, md5(g::text) FROM generate_series(${from}, ${from + 999}) g`)
        }
        const run = () => captureProcess(db)

        const first = yield* run()
        // The load starts once the capture streams (its slot is in use): a crash
        // during the initial snapshot is the documented exception.
        yield* Effect.promise(() => sql`SELECT active FROM pg_replication_slots WHERE slot_name = ${db.name}`).pipe(
          Effect.repeat({
            schedule: Schedule.spaced("50 millis"),
            until: (rows) => rows[0]?.active === true,
            times: 400
          })
        )
        // 50 transactions of 1,000 rows: the first capture is killed after the
        // second, and the load goes on while no capture runs.
        const confirmed = () =>
          Effect.promise(
            () => sql`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = ${db.name}`
          ).pipe(Effect.map((rows) => String(rows[0]?.lsn)))
        const startedAt = yield* confirmed()
        yield* insert(0)
        yield* insert(1)
        yield* waitForLines(first.lines, 1500)
        // killed once the slot has moved, so the restart has something to resume after
        yield* confirmed().pipe(
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (lsn) => lsn !== startedAt, times: 400 })
        )
        yield* kill(first.child)
        for (let batch = 2; batch < 50; batch++) yield* insert(batch)
        const firstRun = lsnById(first.lines)
        assert.isTrue(firstRun.size < rows, "the first capture was killed before the end")

        const second = yield* run()
        const all = new Map(firstRun)
        yield* Effect.sync(() => {
          for (const [id, lsn] of lsnById(second.lines)) {
            // a record sent again is the same change: same row, same position
            const before = all.get(id)
            if (before !== undefined) assert.strictEqual(lsn, before, `row ${id} again at another LSN`)
            all.set(id, lsn)
          }
          return all.size
        }).pipe(Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (size) => size >= rows, times: 1200 }))
        assert.strictEqual(all.size, rows)
        assert.deepStrictEqual(
          [...all.keys()].sort((a, b) => a - b),
          Array.from({ length: rows }, (_, i) => i + 1)
        )
        // It resumed from the slot instead of starting over.
        assert.isTrue(second.lines.length < rows, `${second.lines.length} records after the restart`)
      }).pipe(Effect.scoped)
  )

  it.effect("make - kill -9 during the initial snapshot: the restart reads the tables again, every row arrives", () =>
    Effect.gen(function* () {
      const db = yield* Cluster.database
      const sql = yield* withSql(db.url)
      const rows = 50_000
      yield* exec(sql, "CREATE TABLE load (id int PRIMARY KEY, v text NOT NULL)")
      yield* exec(sql, `INSERT INTO load SELECT g, md5(g::text) FROM generate_series(1, ${rows}) g`)

      const first = yield* captureProcess(db)
      yield* waitForLines(first.lines, 1500)
      yield* kill(first.child)
      const beforeKill = new Set(ids(first.lines))
      assert.isTrue(beforeKill.size < rows, "the first capture was killed during the snapshot")
      assert.isTrue(
        first.lines.every((l) => l.endsWith(" r")),
        "only snapshot records before the kill"
      )
      // Changed while the capture is down: the delete must reach the consumer.
      yield* exec(sql, "DELETE FROM load WHERE id = 1")
      yield* exec(sql, `INSERT INTO load VALUES (${rows + 1}, 'new')`)

      const second = yield* captureProcess(db)
      const keys = (lines: ReadonlyArray<string>) => new Set(ids(lines))
      // The stream's insert comes last: after the new snapshot's records.
      yield* Effect.sync(() => second.lines.some((l) => l.endsWith(`{"id":${rows + 1}} c`))).pipe(
        Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (seen) => seen, times: 2400 })
      )
      const after = keys(second.lines)
      // The second run read every row still there, then streamed the changes
      // since the slot's creation (the delete of a row it no longer has too).
      assert.strictEqual(after.size, rows + 1)
      assert.strictEqual(second.lines.filter((l) => l.endsWith(" r")).length, rows)
      assert.deepStrictEqual(
        second.lines.filter((l) => !l.endsWith(" r")).map((l) => l.split(" ").slice(1).join(" ")),
        ['{"id":1} d', `{"id":${rows + 1}} c`]
      )
      // The snapshot is complete once its last record was acknowledged.
      const pending = yield* Effect.promise(
        () => sql`SELECT count(*)::int AS n FROM sluice_cdc_snapshot_pending WHERE slot = ${db.name}`
      ).pipe(Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (r) => r[0]?.n === 0, times: 200 }))
      assert.strictEqual(pending[0]?.n, 0)
    }).pipe(Effect.scoped)
  )

  it.effect("make - a user who may not create the pending-snapshot table: one clear error, not retried", () =>
    Effect.gen(function* () {
      const db = yield* Cluster.database
      const sql = yield* withSql(db.url)
      const role = `${db.name}_reader`
      yield* exec(sql, setup)
      yield* exec(
        sql,
        `CREATE PUBLICATION sluice_orders FOR TABLE orders, items;
         CREATE ROLE ${role} LOGIN REPLICATION; GRANT SELECT ON orders, items TO ${role};
         REVOKE CREATE ON SCHEMA public FROM PUBLIC`
      )
      yield* Effect.addFinalizer(() => exec(sql, `DROP OWNED BY ${role}; DROP ROLE ${role}`).pipe(Effect.ignore))
      const url = db.url.replace("postgres@", `${role}@`)
      const error = yield* Effect.flip(Capture.make({ ...config(db), url }))
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "cannot create the pending-snapshot table")
      assert.include(error.message, "sluice_cdc_snapshot_pending")
    }).pipe(Effect.scoped)
  )

  it.effect("make - a stop while the consumer lags does not wait out a timeout; the last acknowledgement holds", () =>
    Effect.gen(function* () {
      const db = yield* Cluster.database
      const sql = yield* withSql(db.url)
      yield* exec(sql, "CREATE TABLE wide (id int PRIMARY KEY, pad text NOT NULL)")
      const rows = 4000
      const taken = 100
      // The capture runs on a TestClock that never moves: a stop that waited
      // for one of its timeouts (the replication stream's close) would never
      // end, and the live deadline below would fail the test.
      const testClock = TestClock.layer()
      const captureScope = yield* Scope.make()
      const capture = yield* Capture.make({
        ...config(db),
        tables: ["public.wide"],
        publication: "sluice_wide",
        bufferSize: 16
      }).pipe(Scope.provide(captureScope), Effect.provide(testClock))
      // The consumer acknowledges `taken` records, then stalls (a Kafka write
      // that does not return): the capture's buffer fills and the
      // replication stream is paused with more of the server's data unread.
      const seen: Array<Capture.Captured> = []
      const stalled = yield* Deferred.make<void>()
      const consumer = yield* capture.records.pipe(
        Stream.runForEach((r) =>
          seen.length < taken
            ? Effect.andThen(
                Effect.sync(() => seen.push(r)),
                capture.acknowledge(r.lsn)
              )
            : Effect.andThen(Deferred.succeed(stalled, undefined), Effect.never)
        ),
        Effect.provide(testClock),
        Effect.forkScoped
      )
      // Streaming from the slot before the rows are written: they are changes, not a snapshot.
      yield* Effect.promise(() =>
        sql.unsafe("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active", [db.name])
      ).pipe(Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (r) => r.length > 0, times: 500 }))
      // Several transactions, megabytes of changes: more than socket buffers hold.
      for (let from = 1; from <= rows; from += 1000)
        yield* exec(sql, `INSERT INTO wide SELECT g, repeat('x', 1000) FROM generate_series(${from}, ${from + 999}) g`)
      yield* Deferred.await(stalled)
      const acked = yield* capture.acknowledged
      assert.strictEqual(acked, seen[taken - 1]!.lsn)

      yield* Fiber.interrupt(consumer).pipe(
        Effect.andThen(Scope.close(captureScope, Exit.void)),
        Effect.timeoutOrElse({
          duration: "15 seconds",
          orElse: () => Effect.die("the stop waited for a timeout")
        })
      )

      // The acknowledgement sent before the stop reached the slot, and nothing past it.
      const [slot] = (yield* Effect.promise(() =>
        sql.unsafe("SELECT confirmed_flush_lsn::text AS lsn, active FROM pg_replication_slots WHERE slot_name = $1", [
          db.name
        ])
      )) as unknown as [{ lsn: string; active: boolean }]
      assert.strictEqual(Lsn.parse(slot.lsn), acked + 1n)

      // A new capture brings every row not acknowledged: none is missing.
      const again = yield* Capture.make({ ...config(db), tables: ["public.wide"], publication: "sluice_wide" })
      const rest = yield* collect(again)
      const idOf = (r: Capture.Captured) => (JSON.parse(r.key!) as { id: number }).id
      yield* Effect.sync(() => new Set([...seen, ...rest.seen].map(idOf)).size).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (n) => n >= rows, times: 750 })
      )
      const all = new Set([...seen, ...rest.seen].map(idOf))
      assert.deepStrictEqual(
        [...all].sort((a, b) => a - b),
        Array.from({ length: rows }, (_, i) => i + 1)
      )
    }).pipe(Effect.scoped)
  )
})
