import { Context, Effect, Layer, Redacted } from "effect"
import postgres from "postgres"
import * as PgLookup from "../../src/PgLookup.ts"
import * as Claims from "./Claims.ts"

export const host = "127.0.0.1"
export const port = 5432

/** The seeded claims every integration test can rely on. */
export const SEEDED = 2_000

/** Rows added on top of the seed to check exact decimals. */
export const extraClaims = [
  { claim_id: "CLM-DEC-SMALL", member_id: "MBR-00001", claim_amount: "0.10" },
  { claim_id: "CLM-DEC-MAX", member_id: "MBR-00002", claim_amount: "99999999.99" }
] as const

/** A throw-away database on the local server, created, migrated and seeded, dropped on release. */
export class TestDatabase extends Context.Service<
  TestDatabase,
  { readonly name: string; readonly url: (options?: { host?: string; port?: number }) => Redacted.Redacted<string> }
>()("test/TestDatabase") {
  static readonly layer = Layer.effect(
    TestDatabase,
    Effect.gen(function* () {
      const name = `sluice_lookup_${Math.random().toString(36).slice(2, 10)}`
      const admin = yield* Effect.acquireRelease(
        Effect.sync(() =>
          postgres({ host, port, username: "postgres", database: "postgres", max: 1, onnotice: () => {} })
        ),
        (sql) => Effect.promise(() => sql.end({ timeout: 2 }))
      )
      yield* Effect.acquireRelease(
        Effect.promise(() => admin.unsafe(`CREATE DATABASE ${name}`)),
        () => Effect.promise(() => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
      )
      const url = (options: { host?: string; port?: number } = {}) =>
        Redacted.make(`postgres://postgres@${options.host ?? host}:${options.port ?? port}/${name}`)
      const sql = postgres(Redacted.value(url()), { max: 2, onnotice: () => {} })
      yield* Claims.migrate(sql)
      yield* Claims.seed(sql, { count: SEEDED, batchSize: 700 })
      yield* Claims.insert(
        sql,
        extraClaims.map((c) => ({ ...c, claim_status: "APPROVED", created_date: null }))
      )
      yield* Effect.promise(() => sql.end({ timeout: 2 }))
      return { name, url }
    })
  )

  /** A `PgClient` on the test database. */
  static readonly client = (options: Omit<PgLookup.ClientOptions, "url"> = {}) =>
    Layer.unwrap(Effect.map(TestDatabase, (db) => PgLookup.layer({ ...options, url: db.url() })))
}
