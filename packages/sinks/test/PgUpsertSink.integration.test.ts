import { assert, describe, it } from "@effect/vitest"
import { Envelope, Policy, Receipt } from "@sluice/core"
import { FaultProxy } from "@sluice/testkit"
import { BigDecimal, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import type postgres from "postgres"
import * as PgUpsertSink from "../src/PgUpsertSink.ts"
import { testDatabase } from "./utils/TestDatabase.ts"

interface Metric {
  readonly id: string
  readonly region: string
  readonly revenue: string
  readonly orders: number
}

const table: PgUpsertSink.Table = {
  name: "sales_metrics",
  key: [
    { name: "id", type: "text" },
    { name: "region", type: "text" }
  ],
  columns: [
    { name: "revenue", type: "numeric(30,10)" },
    { name: "orders", type: "bigint" }
  ]
}

const toRow = (m: Metric): PgUpsertSink.Row => ({
  id: m.id,
  region: m.region,
  revenue: BigDecimal.fromStringUnsafe(m.revenue),
  orders: m.orders
})

const origin = (offset: number): Envelope.Origin => ({
  topic: "metrics",
  partition: 0,
  offset: BigInt(offset),
  key: null,
  headers: [],
  timestamp: 0
})

// Deterministic records over few keys (so keys repeat inside chunks), with
// decimals a double cannot hold: 20 integer digits and 10 fraction digits.
const records = (count: number, seed: number): Array<Metric> => {
  // mulberry32: small, seeded, and good enough in its low bits for `% n`.
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  return Array.from({ length: count }, () => {
    const whole = `${(next() % 9) + 1}${String(next()).padStart(10, "0")}${String(next()).padStart(10, "0").slice(0, 9)}`
    const fraction = String(next()).padStart(10, "0").slice(0, 10)
    return {
      id: `m-${next() % 40}`,
      region: ["eu", "us"][next() % 2]!,
      revenue: `${next() % 3 === 0 ? "-" : ""}${whole}.${fraction}`,
      orders: next() % 1000
    }
  })
}

// The table a last-write-wins upsert must produce, computed by brute force.
const reference = (input: ReadonlyArray<Metric>): Array<string> => {
  const rows = new Map<string, Metric>()
  for (const m of input) rows.set(`${m.id}|${m.region}`, m)
  return Array.from(rows.values())
    .map((m) => `${m.id}|${m.region}|${BigDecimal.format(BigDecimal.fromStringUnsafe(m.revenue))}|${m.orders}`)
    .sort()
}

const tableContents = (sql: postgres.Sql) =>
  Effect.map(
    Effect.promise(() =>
      sql.unsafe(`SELECT id, region, revenue::text AS revenue, orders::text AS orders FROM sales_metrics`)
    ),
    (rows) =>
      rows
        .map((r) => `${r.id}|${r.region}|${BigDecimal.format(BigDecimal.fromStringUnsafe(r.revenue))}|${r.orders}`)
        .sort()
  )

const envelopes = (input: ReadonlyArray<Metric>, onAck: (offset: number) => Effect.Effect<void> = () => Effect.void) =>
  input.map((m, i) => Envelope.make(origin(i), m, Receipt.make(onAck(i))))

describe("PgUpsertSink", { timeout: 30_000 }, () => {
  it.live("make - the table equals a last-write-wins reference, and a replay leaves it unchanged", () =>
    Effect.gen(function* () {
      const db = yield* testDatabase
      const sql = yield* db.connect()
      yield* PgUpsertSink.createTable(sql, table)
      const input = records(600, 7)
      let acked = 0
      const sink = PgUpsertSink.make(sql, table, toRow)
      const run = Stream.fromIterable(envelopes(input, () => Effect.sync(() => acked++))).pipe(
        Stream.rechunk(37),
        Stream.run(sink)
      )
      yield* run
      assert.strictEqual(acked, input.length)
      const expected = reference(input)
      assert.isAbove(expected.length, 40)
      assert.deepStrictEqual(yield* tableContents(sql), expected)
      // A replay of the same records, in other chunks, rewrites the same rows.
      yield* Stream.fromIterable(envelopes(input)).pipe(Stream.rechunk(113), Stream.run(sink))
      assert.deepStrictEqual(yield* tableContents(sql), expected)
    }).pipe(Effect.scoped)
  )

  it.live("make - the same key twice in one chunk is written once, the later row winning", () =>
    Effect.gen(function* () {
      const db = yield* testDatabase
      const sql = yield* db.connect()
      yield* PgUpsertSink.createTable(sql, table)
      const input: Array<Metric> = [
        { id: "a", region: "eu", revenue: "1.10", orders: 1 },
        { id: "a", region: "us", revenue: "5", orders: 5 },
        { id: "a", region: "eu", revenue: "2.20", orders: 2 },
        { id: "a", region: "eu", revenue: "99999999999999999999.0000000001", orders: 3 }
      ]
      const w = PgUpsertSink.writer(sql, table)
      assert.strictEqual(yield* w.write(input.map(toRow)), 2)
      assert.deepStrictEqual(yield* tableContents(sql), reference(input))
    }).pipe(Effect.scoped)
  )

  it.live("make - chunks larger than one statement are written in one transaction", () =>
    Effect.gen(function* () {
      const db = yield* testDatabase
      const sql = yield* db.connect()
      yield* PgUpsertSink.createTable(sql, table)
      const input = records(300, 11)
      const sink = PgUpsertSink.make(sql, table, toRow, { maxRowsPerStatement: 7 })
      yield* Stream.fromIterable(envelopes(input)).pipe(Stream.rechunk(300), Stream.run(sink))
      assert.deepStrictEqual(yield* tableContents(sql), reference(input))
      // A bad value in the last statement rolls back the statements before it.
      yield* Effect.promise(() => sql.unsafe("TRUNCATE sales_metrics"))
      const rows = input.map(toRow)
      rows.push({ id: "bad", region: "eu", revenue: "not a number", orders: 1 })
      const error = yield* Effect.flip(PgUpsertSink.writer(sql, table, { maxRowsPerStatement: 7 }).write(rows))
      assert.strictEqual(error.reason._tag, "Rejected")
      assert.isFalse(error.isRetryable)
      assert.deepStrictEqual(yield* tableContents(sql), [])
    }).pipe(Effect.scoped)
  )

  it.live("make - a receipt is acknowledged only once another connection sees its row committed", () =>
    Effect.gen(function* () {
      const db = yield* testDatabase
      const sql = yield* db.connect()
      const observer = yield* db.connect({ max: 1 })
      yield* PgUpsertSink.createTable(sql, table)
      const input = records(120, 3)
      const seenAtAck: Array<boolean> = []
      const visible = (m: Metric) =>
        Effect.promise(() =>
          observer.unsafe(`SELECT orders::int AS orders FROM sales_metrics WHERE id = $1 AND region = $2`, [
            m.id,
            m.region
          ])
        ).pipe(Effect.map((rows) => rows.length === 1))
      const withChecks = input.map((m, i) =>
        Envelope.make(
          origin(i),
          m,
          Receipt.make(Effect.flatMap(visible(m), (v) => Effect.sync(() => seenAtAck.push(v))))
        )
      )
      yield* Stream.fromIterable(withChecks).pipe(
        Stream.rechunk(25),
        Stream.run(PgUpsertSink.make(sql, table, toRow, { maxRowsPerStatement: 10 }))
      )
      assert.strictEqual(seenAtAck.length, input.length)
      assert.isTrue(seenAtAck.every((v) => v))

      // A chunk the server refuses leaves every receipt of that chunk unacknowledged.
      let acked = 0
      const bad = [
        Envelope.make(
          origin(0),
          { id: "x", region: "eu", revenue: "1", orders: 1 },
          Receipt.make(Effect.sync(() => acked++))
        ),
        Envelope.make(
          origin(1),
          { id: "y", region: "eu", revenue: "1", orders: 1 },
          Receipt.make(Effect.sync(() => acked++))
        )
      ]
      const exit = yield* Stream.fromIterable(bad).pipe(
        Stream.run(
          PgUpsertSink.make(sql, table, (m: Metric) => ({ ...toRow(m), orders: m.id === "y" ? "many" : m.orders }))
        ),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(acked, 0)
    }).pipe(Effect.scoped)
  )

  it.live("make - a float for an exact decimal column fails to encode and is not retried", () =>
    Effect.gen(function* () {
      const db = yield* testDatabase
      const sql = yield* db.connect()
      yield* PgUpsertSink.createTable(sql, table)
      const error = yield* Effect.flip(
        PgUpsertSink.writer(sql, table).write([{ id: "a", region: "eu", revenue: 0.1, orders: 1 }])
      )
      assert.strictEqual(error.reason._tag, "Encode")
      assert.isFalse(error.isRetryable)
      // A safe integer is exact and accepted.
      assert.strictEqual(
        yield* PgUpsertSink.writer(sql, table).write([{ id: "a", region: "eu", revenue: 12, orders: 1 }]),
        1
      )
    }).pipe(Effect.scoped)
  )

  it.live("make - a database outage is retried under the policy, then the chunk commits and is acknowledged", () =>
    Effect.gen(function* () {
      const db = yield* testDatabase
      const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
      const direct = yield* db.connect()
      const sql = yield* db.connect({ host: proxy.host, port: proxy.port })
      yield* PgUpsertSink.createTable(direct, table)
      // Warm the pool so the outage also cuts established connections.
      yield* PgUpsertSink.writer(sql, table).write([{ id: "warm", region: "eu", revenue: "0", orders: 0 }])
      yield* Effect.promise(() => direct.unsafe("TRUNCATE sales_metrics"))

      let attempts = 0
      const counted: typeof sql = Object.assign(Object.create(sql), {
        unsafe: (...args: Parameters<typeof sql.unsafe>) => {
          attempts++
          return sql.unsafe(...args)
        }
      })
      const policy = yield* Policy.make({
        name: "sink-outage",
        timeout: "20 seconds",
        retry: { base: "50 millis", factor: 1.5, maxAttempts: 60, jitter: false }
      })
      const input = records(200, 5)
      let acked = 0
      yield* proxy.set(FaultProxy.FaultMode.reset)
      yield* proxy.set(FaultProxy.FaultMode.refuse)
      const fiber = yield* Stream.fromIterable(envelopes(input, () => Effect.sync(() => acked++))).pipe(
        Stream.rechunk(200),
        Stream.run(PgUpsertSink.make(counted, table, toRow, { policy })),
        Effect.forkChild
      )
      // Bounded poll: the sink must have failed at least twice while the database is away.
      yield* Effect.suspend(() => (attempts >= 3 ? Effect.void : Effect.fail("waiting"))).pipe(
        Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 })
      )
      assert.strictEqual(acked, 0)
      assert.deepStrictEqual(yield* tableContents(direct), [])
      yield* proxy.set(FaultProxy.FaultMode.passThrough)
      yield* Fiber.join(fiber)
      assert.strictEqual(acked, input.length)
      assert.isAtLeast(attempts, 3)
      assert.deepStrictEqual(yield* tableContents(direct), reference(input))
    }).pipe(Effect.scoped)
  )
})
