import { Effect } from "effect"
import postgres from "postgres"

const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

/** A database of its own on the test server, dropped when the scope closes. */
export const freshDatabase = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
      await admin.unsafe(`CREATE DATABASE ${name}`)
      await admin.end()
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      return { name, url: url.toString(), sql: postgres(url.toString(), { max: 2, onnotice: () => {} }) }
    }),
    ({ name, sql }) =>
      Effect.promise(async () => {
        await sql.end()
        const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await admin.end()
      })
  )
