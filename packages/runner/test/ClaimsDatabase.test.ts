import { assert, describe, it } from "@effect/vitest"
import { Option, Redacted } from "effect"
import * as Config from "../src/Config.ts"
import * as ClaimsDatabase from "../src/jobs/claims/ClaimsDatabase.ts"
import * as Parse from "../src/Parse.ts"

const parsed = (text: string) => {
  const r = Parse.databaseUrl(text)
  return r.ok ? Option.some(Redacted.value(r.value)) : Option.none()
}

describe("ClaimsDatabase", () => {
  it("DATABASE_URL - duckdb:<path> and duckdb::memory: are accepted beside postgres URLs", () => {
    assert.deepStrictEqual(parsed("duckdb:claims.duckdb"), Option.some("duckdb:claims.duckdb"))
    assert.deepStrictEqual(parsed("duckdb:/var/data/claims.duckdb"), Option.some("duckdb:/var/data/claims.duckdb"))
    assert.deepStrictEqual(parsed("duckdb::memory:"), Option.some("duckdb::memory:"))
    assert.deepStrictEqual(parsed("postgres://u@h:5432/db"), Option.some("postgres://u@h:5432/db"))
    assert.isTrue(Option.isNone(parsed("duckdb:")))
    assert.isTrue(Option.isNone(parsed("mysql://h/db")))
  })

  it("duckDbPath - the path of a duckdb: URL, none for PostgreSQL or no URL", () => {
    assert.deepStrictEqual(
      ClaimsDatabase.duckDbPath(Option.some(Redacted.make("duckdb:claims.duckdb"))),
      Option.some("claims.duckdb")
    )
    assert.deepStrictEqual(
      ClaimsDatabase.duckDbPath(Option.some(Redacted.make("duckdb::memory:"))),
      Option.some(":memory:")
    )
    assert.isTrue(Option.isNone(ClaimsDatabase.duckDbPath(Option.some(Redacted.make("postgres://h/db")))))
    assert.isTrue(Option.isNone(ClaimsDatabase.duckDbPath(Option.none())))
  })

  it("displayUrl - a DuckDB URL is shown as written (a path, no credentials)", () => {
    assert.strictEqual(Config.displayUrl(Redacted.make("duckdb:data/claims.duckdb")), "duckdb:data/claims.duckdb")
    assert.strictEqual(
      Config.displayUrl(Redacted.make("postgres://u:secret@h:5432/db")),
      "postgres://<redacted>@h:5432/db"
    )
  })
})
