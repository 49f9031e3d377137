import { assert, layer } from "@effect/vitest"
import { Cause, Clock, Context, Effect, Fiber, Layer, Schedule } from "effect"
import postgres from "postgres"
import * as FaultProxy from "../src/FaultProxy.ts"
import { FaultMode } from "../src/FaultProxy.ts"

const server = { host: "127.0.0.1", port: 5432 }

/** A database of its own for this suite, dropped afterwards. */
class Database extends Context.Service<Database, { readonly name: string }>()("test/Database") {
  static readonly layer = Layer.effect(
    Database,
    Effect.acquireRelease(
      Effect.gen(function* () {
        const name = `sluice_faultproxy_${Math.random().toString(36).slice(2, 10)}`
        const admin = postgres({ ...server, user: "postgres", database: "postgres", max: 1, onnotice: () => {} })
        yield* Effect.promise(() => admin.unsafe(`CREATE DATABASE ${name}`))
        yield* Effect.promise(() => admin.end())
        return { name }
      }),
      ({ name }) =>
        Effect.promise(async () => {
          const admin = postgres({ ...server, user: "postgres", database: "postgres", max: 1, onnotice: () => {} })
          await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          await admin.end()
        })
    )
  )
}

type PgError = Error & { readonly code?: string }

/** A single-connection client through the proxy, ended with the scope. */
const client = Effect.gen(function* () {
  const proxy = yield* FaultProxy.FaultProxy
  const { name } = yield* Database
  return yield* Effect.acquireRelease(
    Effect.sync(() =>
      postgres({
        host: proxy.host,
        port: proxy.port,
        user: "postgres",
        database: name,
        max: 1,
        connect_timeout: 2,
        onnotice: () => {}
      })
    ),
    (sql) => Effect.promise(() => sql.end({ timeout: 0 }))
  )
})

const query = (sql: postgres.Sql, text: string) =>
  Effect.tryPromise({ try: () => sql.unsafe(text), catch: (error) => error as PgError })

const selectOne = (sql: postgres.Sql) =>
  Effect.map(query(sql, "SELECT 1 AS one"), (rows) => rows[0]?.one as number | undefined)

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeNanos
    const value = yield* effect
    return [value, Number((yield* Clock.currentTimeNanos) - start) / 1e6] as const
  })

const ProxyLive = FaultProxy.layer({ target: server })

// The suite runs on the live clock (excludeTestServices): the proxy delays real sockets.
// Every test leaves the proxy in PassThrough, so the suite can share it.
const restore = Effect.ensuring(
  FaultProxy.FaultProxy.use((proxy) => proxy.set(FaultMode.passThrough).pipe(Effect.orDie))
)

layer(Layer.mergeAll(ProxyLive, Database.layer), { timeout: 60_000, excludeTestServices: true })(
  "FaultProxy with PostgreSQL",
  (it) => {
    it.effect("PassThrough - queries go through", () =>
      Effect.gen(function* () {
        const sql = yield* client
        assert.strictEqual(yield* selectOne(sql), 1)
      })
    )

    it.effect("Latency - a query round trip takes at least twice the latency", () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.FaultProxy
        const sql = yield* client
        yield* selectOne(sql)
        const [, direct] = yield* timed(selectOne(sql))
        yield* proxy.set(FaultMode.latency("150 millis"))
        const [one, delayed] = yield* timed(selectOne(sql))
        assert.strictEqual(one, 1)
        assert.isAtLeast(delayed, 299, `pass-through ${direct} ms, with latency ${delayed} ms`)
      }).pipe(restore)
    )

    it.effect("Blackhole - a query on an open connection gets no answer", () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.FaultProxy
        const sql = yield* client
        yield* selectOne(sql)
        yield* proxy.set(FaultMode.blackhole)
        const error = yield* Effect.flip(selectOne(sql).pipe(Effect.timeout("500 millis")))
        assert.isTrue(Cause.isTimeoutError(error))
      }).pipe(restore)
    )

    it.effect("Reset - an in-flight query fails", () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.FaultProxy
        const sql = yield* client
        yield* selectOne(sql)
        const inFlight = yield* Effect.forkChild(Effect.flip(query(sql, "SELECT pg_sleep(10)")))
        // Wait until the server is running the query, so the reset hits it mid-flight.
        yield* Effect.gen(function* () {
          const observer = yield* client
          const running = yield* query(
            observer,
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'"
          )
          return running[0]?.n === 1
        }).pipe(
          Effect.scoped,
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (running) => running }),
          Effect.timeout("5 seconds")
        )
        yield* proxy.set(FaultMode.reset)
        const error = yield* Fiber.join(inFlight)
        assert.strictEqual(error.code, "ECONNRESET")
      }).pipe(restore)
    )

    it.effect("Refuse - new connections fail with ECONNREFUSED, PassThrough recovers", () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.FaultProxy
        yield* proxy.set(FaultMode.refuse)
        const refused = yield* Effect.scoped(Effect.flip(Effect.flatMap(client, selectOne)))
        assert.strictEqual(refused.code, "ECONNREFUSED")
        yield* proxy.set(FaultMode.passThrough)
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(client, selectOne)), 1)
      }).pipe(restore)
    )

    it.effect("PassThrough - new connections succeed after Reset and Blackhole", () =>
      Effect.gen(function* () {
        const proxy = yield* FaultProxy.FaultProxy
        yield* proxy.set(FaultMode.blackhole)
        yield* proxy.set(FaultMode.reset)
        const reset = yield* Effect.scoped(Effect.flip(Effect.flatMap(client, selectOne)))
        assert.strictEqual(reset.code, "ECONNRESET")
        yield* proxy.set(FaultMode.passThrough)
        assert.strictEqual(yield* Effect.scoped(Effect.flatMap(client, selectOne)), 1)
      }).pipe(restore)
    )
  }
)
