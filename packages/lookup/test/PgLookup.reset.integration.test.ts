import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { FaultProxy } from "@sluice/testkit"
import { Clock, Effect, Exit, Fiber, Layer, Option, Schedule } from "effect"
import * as Lookup from "../src/Lookup.ts"
import * as PgLookup from "../src/PgLookup.ts"
import * as Claims from "./utils/Claims.ts"
import { TestDatabase } from "./utils/TestDatabase.ts"

/** A pool on the test database through a fault proxy. */
const proxiedClient = (options: Omit<PgLookup.ClientOptions, "url">) =>
  Effect.gen(function* () {
    const db = yield* TestDatabase
    const proxy = yield* FaultProxy.make({ target: { host: "127.0.0.1", port: 5432 } })
    const client = yield* PgLookup.makeClient({ ...options, url: db.url({ host: proxy.host, port: proxy.port }) })
    return { proxy, client }
  })

/** How a driver promise ended, within `millis`: its rows, its error code, or "pending". */
const settle = (query: PromiseLike<ReadonlyArray<unknown>>, millis: number) =>
  Effect.promise(() =>
    Promise.resolve(query).then(
      (rows) => ({ _tag: "rows" as const, rows }),
      (error: { readonly code?: string }) => ({ _tag: "error" as const, code: String(error.code) })
    )
  ).pipe(Effect.timeoutOption(millis), Effect.map(Option.getOrElse(() => ({ _tag: "pending" as const }))))

const answers = (sql: PgLookup.PgSql, text: string) => settle(sql.unsafe("SELECT $1::text AS x", [text]), 3_000)

/** One turn of the event loop: lets the driver's socket events and microtasks run. */
const turn = Effect.promise(() => new Promise<void>((resume) => setImmediate(resume)))

type Phase = "reset" | "recovery" | "recovered"

interface Outcome {
  readonly phase: Phase
  readonly tag: string
  readonly millis: number
}

const Env = Layer.fresh(TestDatabase.layer)

describe("PgLookup under connection resets", { timeout: 60_000 }, () => {
  it.live("makeClient - a query sent as the previous one fails with a reset is rejected, and the pool recovers", () =>
    Effect.gen(function* () {
      // One connection, so the next query can only go to the one that just failed.
      const { proxy, client } = yield* proxiedClient({ poolSize: 1 })
      const { sql } = client
      yield* proxy.set(FaultProxy.FaultMode.reset)
      // The second query is handed to the pool from the first one's rejection,
      // after the socket reported its error but before it reported its close.
      let next: PromiseLike<ReadonlyArray<unknown>> | undefined
      const first = yield* settle(
        sql.unsafe("SELECT 1").then(
          (rows) => rows,
          (error) => {
            next = sql.unsafe("SELECT 2")
            throw error
          }
        ),
        3_000
      )
      assert.strictEqual(first._tag, "error")
      assert.isDefined(next)
      const second = yield* settle(next!, 3_000)
      assert.strictEqual(second._tag, "error", "rejected, not left pending")
      yield* proxy.set(FaultProxy.FaultMode.passThrough)
      // The failed connection's unsent bytes must not spoil the next connection.
      for (const text of ["a", "b", "c"]) {
        assert.deepStrictEqual(yield* answers(sql, text), { _tag: "rows", rows: [{ x: text }] })
      }
    }).pipe(Effect.provide(Env))
  )

  it.live("makeClient - a query cancelled while its connection is being opened does not take the connection away", () =>
    Effect.gen(function* () {
      // One connection and a long reconnect delay: the query waits for that connection to be opened again.
      const { proxy, client } = yield* proxiedClient({ poolSize: 1, maxReconnectDelay: "1 second" })
      const { sql } = client
      yield* proxy.set(FaultProxy.FaultMode.reset)
      // Enough failed attempts for the pool to wait the whole second before the next one.
      for (let i = 0; i < 5; i++) assert.strictEqual((yield* settle(sql.unsafe("SELECT 1"), 3_000))._tag, "error")
      // Two turns of the event loop: the last failed socket reports its close, and
      // the connection is free again. The query below is then the one it reconnects for.
      yield* turn
      yield* turn
      const waiting = sql.unsafe("SELECT 2")
      const settled = waiting.then(
        () => "answered",
        (error: { readonly code?: string }) => String(error.code)
      )
      // The driver takes a started query a microtask later.
      yield* turn
      waiting.cancel?.()
      assert.strictEqual(yield* Effect.promise(() => settled), "57014")
      yield* proxy.set(FaultProxy.FaultMode.passThrough)
      assert.deepStrictEqual(yield* answers(sql, "after"), { _tag: "rows", rows: [{ x: "after" }] })
    }).pipe(Effect.provide(Env))
  )

  it.live("make - under a stream of lookups, resets fail fast as Unavailable and lookups answer soon after", () =>
    Effect.gen(function* () {
      const { proxy, client } = yield* proxiedClient({ poolSize: 4 })
      // Batches of 100 keys: each getMany below is three concurrent queries,
      // more than the pool has connections, so some wait for one.
      const base = yield* Claims.makeResolver.pipe(Effect.provideService(PgLookup.PgClient, client))
      const lookupTimeout = 3_000
      const policy = yield* Policy.make({ name: "reset-stream", timeout: `${lookupTimeout} millis` })
      const lookup = Lookup.batched(Lookup.withPolicy(base, policy), { maxBatchSize: 100, batchWindow: "1 millis" })
      assert.isTrue(Option.isSome(yield* lookup.get("CLM-000001")))

      let phase: Phase = "reset"
      let running = true
      const outcomes: Array<Outcome> = []
      const worker = (id: number) =>
        Effect.gen(function* () {
          let round = 0
          while (running) {
            const keys = Array.from(
              { length: 250 },
              (_, j) => `CLM-${String(((id * 500 + round * 250 + j) % 1_999) + 1).padStart(6, "0")}`
            )
            round++
            const started = phase
            const start = yield* Clock.currentTimeMillis
            const exit = yield* Effect.exit(lookup.getMany(keys))
            const millis = (yield* Clock.currentTimeMillis) - start
            const tag = Exit.isSuccess(exit)
              ? "ok"
              : Option.match(Exit.findErrorOption(exit), { onNone: () => "defect", onSome: (e) => e.reason._tag })
            outcomes.push({ phase: started, tag, millis })
            if (tag !== "ok") yield* Effect.sleep("10 millis")
          }
        })
      yield* proxy.set(FaultProxy.FaultMode.reset)
      const workers = yield* Effect.forEach([0, 1, 2, 3], (id) => Effect.forkChild(worker(id)))
      yield* Effect.sleep("4 seconds")
      yield* proxy.set(FaultProxy.FaultMode.passThrough)
      phase = "recovery"
      // Recovered once a lookup has answered, plus a second for every connection to be back.
      yield* lookup.get("CLM-000002").pipe(Effect.retry(Schedule.spaced("20 millis")), Effect.timeout("5 seconds"))
      yield* Effect.sleep("1 second")
      phase = "recovered"
      yield* Effect.sleep("2 seconds")
      running = false
      yield* Fiber.joinAll(workers)

      const summary = new Map<string, { count: number; maxMillis: number }>()
      for (const o of outcomes) {
        const key = `${o.phase}/${o.tag}`
        const entry = summary.get(key) ?? { count: 0, maxMillis: 0 }
        entry.count++
        entry.maxMillis = Math.max(entry.maxMillis, o.millis)
        summary.set(key, entry)
      }
      yield* Effect.logInfo(
        Array.from(summary, ([key, s]) => `${key}: ${s.count} (slowest ${s.maxMillis} ms)`).join("; ")
      )
      const during = outcomes.filter((o) => o.phase === "reset" && o.tag !== "ok")
      assert.isNotEmpty(during, "the outage was seen")
      assert.deepStrictEqual(
        during.filter((o) => o.tag !== "Unavailable" || o.millis >= lookupTimeout / 2),
        [],
        "every failure during the outage is Unavailable, well within the lookup timeout"
      )
      const late = outcomes.filter((o) => o.phase === "recovered" && o.tag !== "ok")
      assert.deepStrictEqual(late, [], "every lookup answers once the pool is back")
      assert.isNotEmpty(outcomes.filter((o) => o.phase === "recovered"))
    }).pipe(Effect.provide(Env))
  )
})
