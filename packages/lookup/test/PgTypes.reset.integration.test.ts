import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import postgres from "postgres"
import { TestDatabase } from "./utils/TestDatabase.ts"

/**
 * A relay to the test database that resets the client's connection when the
 * client sends postgres.js' array-type query, the first query of every new
 * connection (`fetch_types`, on by default): the server is lost exactly while
 * that query is out, as when PostgreSQL restarts under a client that is
 * reconnecting.
 */
const resettingRelay = Effect.acquireRelease(
  Effect.callback<Net.Server>((resume) => {
    const server = Net.createServer((client) => {
      const upstream = Net.connect(5432, "127.0.0.1")
      upstream.on("data", (chunk) => client.write(chunk))
      upstream.on("error", () => client.destroy())
      client.on("error", () => upstream.destroy())
      client.on("close", () => upstream.destroy())
      client.on("data", (chunk) => {
        if (chunk.includes("typarray")) {
          upstream.destroy()
          client.resetAndDestroy()
        } else upstream.write(chunk)
      })
    })
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed(server))
    })
  }),
  (server) =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

describe("postgres.js under a connection reset while it fetches array types", { timeout: 30_000 }, () => {
  it.live("the waiting query fails with the reset and no rejection goes unhandled", () =>
    Effect.gen(function* () {
      const db = yield* TestDatabase
      const relay = yield* resettingRelay
      const port = (relay.address() as Net.AddressInfo).port
      const unhandled: Array<unknown> = []
      const record = (reason: unknown) => unhandled.push(reason)
      yield* Effect.acquireRelease(
        Effect.sync(() => process.on("unhandledRejection", record)),
        () => Effect.sync(() => process.off("unhandledRejection", record))
      )
      const sql = postgres(Redacted.value(db.url({ host: "127.0.0.1", port })), { max: 1, onnotice: () => {} })
      yield* Effect.addFinalizer(() => Effect.promise(() => sql.end({ timeout: 1 })))
      const outcome = yield* Effect.promise(() =>
        sql`SELECT 1 AS one`.then(
          () => "rows",
          (error: { readonly code?: string }) => String(error.code)
        )
      )
      // Unhandled rejections are reported after the microtask queue drains: give them a few turns.
      for (let i = 0; i < 5; i++) yield* Effect.promise(() => new Promise<void>((resume) => setImmediate(resume)))
      assert.include(["ECONNRESET", "CONNECTION_CLOSED"], outcome)
      assert.deepStrictEqual(
        unhandled.map((reason) => String(reason)),
        []
      )
    }).pipe(Effect.scoped, Effect.provide(TestDatabase.layer))
  )
})
