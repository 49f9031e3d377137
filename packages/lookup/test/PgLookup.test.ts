import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { classify } from "../src/internal/classify.ts"
import * as PgLookup from "../src/PgLookup.ts"
import * as RowDecoder from "../src/RowDecoder.ts"

const withCode = (code: string, message = code) => Object.assign(new Error(message), { code })

describe("PgLookup", () => {
  it("classify - connection failures are retryable Unavailable", () => {
    for (const code of ["ECONNREFUSED", "ECONNRESET", "CONNECTION_ENDED", "CONNECT_TIMEOUT", "57P01", "08006"]) {
      const error = classify("claims", withCode(code))
      assert.strictEqual(error.reason._tag, "Unavailable", code)
      assert.isTrue(error.isRetryable, code)
    }
  })

  it("classify - SQLSTATE 57014 (statement timeout) is Timeout", () => {
    const error = classify("claims", withCode("57014", "canceling statement due to statement timeout"))
    assert.strictEqual(error.reason._tag, "Timeout")
  })

  it("classify - other errors are Unavailable and not retryable", () => {
    for (const cause of [withCode("42P01", "relation does not exist"), new Error("no code"), "a string"]) {
      const error = classify("claims", cause)
      assert.strictEqual(error.reason._tag, "Unavailable")
      assert.isFalse(error.isRetryable)
    }
  })

  it("classify - looks inside AggregateError for the code", () => {
    const error = classify("claims", new AggregateError([withCode("ECONNREFUSED")], "connect failed"))
    assert.isTrue(error.isRetryable)
  })

  it("selectStatement - quotes identifiers and rejects casts that are not type names", () => {
    assert.strictEqual(
      PgLookup.selectStatement({ table: 'odd"name', keyColumn: "id", columns: ["id"], keyType: "int8" }),
      `SELECT "id" FROM "odd""name" WHERE "id" = ANY($1::int8[])`
    )
    assert.throws(() =>
      PgLookup.selectStatement({ table: "t", keyColumn: "id", columns: [{ name: "x", cast: "text; DROP TABLE t" }] })
    )
  })

  it.effect("resolver - runs on any client with `unsafe`: one prepared statement per fetch, rows keyed", () =>
    Effect.gen(function* () {
      const statements: Array<{ query: string; parameters: ReadonlyArray<unknown> | undefined; prepare?: boolean }> = []
      const table: Record<string, string> = { a: "Ann", c: "Cy" }
      const fake: PgLookup.PgSql = {
        unsafe: (query, parameters, options) => {
          statements.push({
            query,
            parameters,
            ...(options?.prepare === undefined ? {} : { prepare: options.prepare })
          })
          const keys = (parameters?.[0] ?? []) as ReadonlyArray<string>
          return Promise.resolve(keys.filter((k) => k in table).map((id) => ({ id, name: table[id] })))
        }
      }
      const client = PgLookup.PgClient.of({
        sql: fake,
        options: { poolSize: 1, statementTimeout: Duration.seconds(1), connectTimeout: Duration.seconds(1) }
      })
      const resolver = yield* PgLookup.resolver({
        name: "people",
        source: { table: "people", keyColumn: "id", columns: ["id", "name"] },
        decoder: RowDecoder.struct({ id: RowDecoder.string, name: RowDecoder.string }),
        key: (row: { readonly id: string }) => row.id
      }).pipe(Effect.provideService(PgLookup.PgClient, client))
      const rows = yield* resolver.fetch(["a", "b", "c"])
      assert.deepStrictEqual(
        [...rows.entries()],
        [
          ["a", { id: "a", name: "Ann" }],
          ["c", { id: "c", name: "Cy" }]
        ]
      )
      assert.deepStrictEqual(statements, [
        {
          query: `SELECT "id", "name" FROM "people" WHERE "id" = ANY($1::text[])`,
          parameters: [["a", "b", "c"]],
          prepare: true
        }
      ])
    })
  )
})
