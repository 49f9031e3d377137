import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Context, Effect, Layer } from "effect"
import * as DuckDbLookup from "../../src/DuckDbLookup.ts"
import * as Claims from "./Claims.ts"
import { extraClaims, SEEDED } from "./TestDatabase.ts"

/** Inserts `rows` into the claims table, amounts and timestamps as text cast in SQL (exact). */
export const insert = (sql: DuckDbLookup.DuckDbSql, rows: ReadonlyArray<Claims.Row>) =>
  Effect.tryPromise({
    try: () =>
      sql.query(
        `INSERT INTO claims
         SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[])::DECIMAL(10,2),
                unnest($4::VARCHAR[]), unnest($5::VARCHAR[])::TIMESTAMP
         ON CONFLICT (claim_id) DO NOTHING`,
        [
          rows.map((r) => r.claim_id),
          rows.map((r) => r.member_id),
          rows.map((r) => r.claim_amount),
          rows.map((r) => r.claim_status),
          rows.map((r) => r.created_date)
        ]
      ),
    catch: (error) => DuckDbLookup.classifyError("claims", error)
  })

/** A throw-away DuckDB file with the seeded claims (and `extraClaims`), removed on release. */
export class DuckDbDatabase extends Context.Service<DuckDbDatabase, { readonly path: string }>()(
  "test/DuckDbDatabase"
) {
  static readonly layer = Layer.effect(
    DuckDbDatabase,
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sluice-duckdb-"))),
        (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
      )
      const path = Path.join(dir, "claims.duckdb")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const writer = yield* DuckDbLookup.makeClient({ path, readOnly: false, poolSize: 1 })
          yield* Effect.tryPromise(() => writer.sql.query(Claims.migration))
          yield* insert(writer.sql, Claims.seedRows(SEEDED))
          yield* insert(
            writer.sql,
            extraClaims.map((c) => ({ ...c, claim_status: "APPROVED", created_date: null }))
          )
        })
      )
      return { path }
    })
  )

  /** A read-only `DuckDbClient` on the test file. */
  static readonly client = (options: Omit<DuckDbLookup.ClientOptions, "path"> = {}) =>
    Layer.unwrap(Effect.map(DuckDbDatabase, (db) => DuckDbLookup.layer({ ...options, path: db.path })))
}
