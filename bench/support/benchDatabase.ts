/**
 * A database of the benchmark's own on the PostgreSQL server
 * (`DATABASE_URL`, else 127.0.0.1:5432 as postgres), created at the start and
 * dropped at the end, so runs never see each other's data or statistics.
 */
import { Effect, Redacted } from "effect"
import postgres from "postgres"

/** The server's maintenance database, used to create, drop and observe the bench database. */
export const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

/** A created database: its name and URL, and `drop` to remove it. */
export interface BenchDatabase {
  readonly name: string
  readonly url: string
  readonly drop: () => Promise<void>
}

/** Creates `<prefix>_<pid>_<random>`. */
export const createDatabase = async (prefix: string): Promise<BenchDatabase> => {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: async () => {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await sql.end()
      }
    }
  }
}

/** `createDatabase` as a scoped resource: dropped when the scope closes; the URL is `Redacted` for the lookup clients. */
export const scopedDatabase = (prefix: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => createDatabase(prefix)),
      (db) => Effect.promise(() => db.drop())
    ),
    (db) => ({ name: db.name, url: Redacted.make(db.url) })
  )
