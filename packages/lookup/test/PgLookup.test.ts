import { assert, describe, it } from "@effect/vitest"
import { classify } from "../src/internal/classify.ts"
import * as PgLookup from "../src/PgLookup.ts"

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
})
