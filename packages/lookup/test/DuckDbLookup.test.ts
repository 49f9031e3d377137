import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as DuckDbLookup from "../src/DuckDbLookup.ts"
import { classify } from "../src/internal/duckDbClassify.ts"
import * as Pool from "../src/internal/duckDbPool.ts"

/** A connection whose statements never finish until interrupted, as a long scan would. */
const hangingConnection = () => {
  const calls = { prepared: 0, interrupts: 0 }
  let stop: ((error: Error) => void) | undefined
  const connection: DuckDbLookup.DuckDbConnection = {
    prepare: async () => {
      calls.prepared++
      return {
        bind: () => {},
        runAndReadAll: () =>
          new Promise((_, reject) => {
            stop = reject
          })
      }
    },
    interrupt: () => {
      calls.interrupts++
      stop?.(new Error("INTERRUPT Error: Interrupted!"))
    },
    closeSync: () => {}
  }
  return { connection, calls }
}

const options = (statementTimeout: Duration.Duration) => ({
  path: ":memory:",
  readOnly: true,
  poolSize: 1,
  statementTimeout
})

describe("DuckDbLookup", () => {
  it.effect("makeFetch - a statement past statementTimeout fails as Timeout and is interrupted in the engine", () =>
    Effect.gen(function* () {
      const { connection, calls } = hangingConnection()
      const sql = Pool.make([connection], (p) => p as string)
      const fetch = DuckDbLookup.makeFetch(
        { sql, options: options(Duration.seconds(2)) },
        {
          name: "claims",
          source: { table: "claims", keyColumn: "claim_id", columns: ["claim_id"] },
          decoder: { decodeRows: () => ({ _tag: "Success", success: [] }) as never },
          key: (row: { claim_id: string }) => row.claim_id
        }
      )
      const fiber = yield* Effect.forkChild(Effect.flip(fetch(["CLM-000001"])))
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(calls.interrupts, 0)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.reason._tag === "Timeout" && error.reason.timeoutMillis === 2_000)
      assert.strictEqual(calls.interrupts, 1)
    })
  )

  it.effect("pool - a caller waiting for a busy connection leaves the queue when it gives up", () =>
    Effect.gen(function* () {
      const { connection, calls } = hangingConnection()
      const sql = Pool.make([connection], (p) => p as string)
      const first = new AbortController()
      const busy = sql.query("SELECT 1", [], { signal: first.signal })
      const second = new AbortController()
      const waiting = sql.query("SELECT 2", [], { signal: second.signal })
      second.abort()
      const waited = yield* Effect.flip(Effect.tryPromise(() => waiting))
      assert.include(String(waited.cause), "INTERRUPT")
      // the waiter never reached the connection
      assert.strictEqual(calls.interrupts, 0)
      first.abort()
      yield* Effect.flip(Effect.tryPromise(() => busy))
      assert.strictEqual(calls.interrupts, 1)
    })
  )

  it("classify - I/O and connection errors are retryable Unavailable; interrupts are Timeout; the rest is final", () => {
    for (const message of [
      'IO Error: Could not read from file "claims.duckdb"',
      "Connection Error: Connection already closed!"
    ]) {
      const error = classify("claims", new Error(message))
      assert.strictEqual(error.reason._tag, "Unavailable", message)
      assert.isTrue(error.isRetryable, message)
    }
    assert.strictEqual(classify("claims", new Error("INTERRUPT Error: Interrupted!")).reason._tag, "Timeout")
    for (const message of [
      "Catalog Error: Table with name claims does not exist!\nDid you mean ...",
      'Parser Error: syntax error at or near "SELEC"',
      "Conversion Error: could not convert",
      "no type at all"
    ]) {
      const error = classify("claims", new Error(message))
      assert.strictEqual(error.reason._tag, "Unavailable", message)
      assert.isFalse(error.isRetryable, message)
      assert.notInclude(error.message, "\n")
    }
  })

  it("selectStatement - quotes identifiers and rejects casts that are not type names", () => {
    assert.strictEqual(
      DuckDbLookup.selectStatement({ table: 'odd"name', keyColumn: "id", columns: ["id"], keyType: "BIGINT" }),
      `SELECT "id" FROM "odd""name" SEMI JOIN (SELECT unnest($1::BIGINT[]) AS batch_key) ON "id" = batch_key`
    )
    assert.throws(() =>
      DuckDbLookup.selectStatement({ table: "t", keyColumn: "id", columns: [{ name: "a", cast: "INT); DROP" }] })
    )
  })
})
