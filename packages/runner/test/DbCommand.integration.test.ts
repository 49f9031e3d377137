import { randomBytes } from "node:crypto"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import postgres from "postgres"
import { spawnSluice } from "./support/spawnSluice.ts"

const admin = "postgres://postgres@127.0.0.1:5432/postgres"
const dbName = `sluice_cli_${randomBytes(6).toString("hex")}`
const dbUrl = `postgres://postgres:not-shown-pw@127.0.0.1:5432/${dbName}`

const sluice = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => spawnSluice(args, env).done

let sql: postgres.Sql

beforeAll(async () => {
  const root = postgres(admin, { max: 1, onnotice: () => {} })
  await root.unsafe(`CREATE DATABASE ${dbName}`)
  await root.end()
  sql = postgres(dbUrl, { max: 1, onnotice: () => {} })
})

afterAll(async () => {
  await sql?.end()
  const root = postgres(admin, { max: 1, onnotice: () => {} })
  await root.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)
  await root.end()
})

describe("sluice db", () => {
  it("migrate - creates the claims table, again without error, and names the database without its password", async () => {
    const first = await sluice(["db", "migrate"], { DATABASE_URL: dbUrl })
    assert.strictEqual(first.status, 0, first.stderr)
    const tables = await sql`SELECT table_name FROM information_schema.tables WHERE table_name = 'claims'`
    assert.strictEqual(tables.length, 1)
    assert.include(first.stderr, `127.0.0.1:5432/${dbName} (DATABASE_URL)`)
    assert.notInclude(first.stdout + first.stderr, "not-shown-pw")

    const second = await sluice(["db", "migrate"], { DATABASE_URL: dbUrl })
    assert.strictEqual(second.status, 0, second.stderr)
  })

  it("seed - inserts the requested claims and prints the count; seeding again adds nothing", async () => {
    const first = await sluice(["db", "seed", "--claims", "500"], { DATABASE_URL: dbUrl })
    assert.strictEqual(first.status, 0, first.stderr)
    const [row] = await sql`SELECT count(*)::int AS n, min(claim_id) AS lo, max(claim_id) AS hi FROM claims`
    assert.deepStrictEqual({ ...row }, { n: 500, lo: "CLM-000001", hi: "CLM-000500" })
    assert.include(first.stdout, "claims in the table: 500")

    const again = await sluice(["db", "seed", "--claims", "500", "--database-url", dbUrl])
    assert.strictEqual(again.status, 0, again.stderr)
    assert.include(again.stdout, "claims in the table: 500")
    assert.include(again.stderr, "(--database-url)")
  })

  it("migrate - an unreachable database fails with one error line and a non-zero exit", async () => {
    const r = await sluice(["db", "migrate"], { DATABASE_URL: "postgres://postgres:pw@127.0.0.1:1/nothing" })
    assert.notStrictEqual(r.status, 0)
    const errors = r.stderr.split("\n").filter((l) => /error/i.test(l))
    assert.strictEqual(errors.length, 1, r.stderr)
    assert.include(errors[0], "ECONNREFUSED")
    assert.notInclude(r.stderr, "    at ")
  })

  it("migrate - a DATABASE_URL that is not a URL fails naming the variable, value hidden", async () => {
    const r = await sluice(["db", "migrate"], { DATABASE_URL: "nope-secret" })
    assert.notStrictEqual(r.status, 0)
    assert.include(r.stderr, "Invalid value for DATABASE_URL")
    assert.notInclude(r.stderr, "nope-secret")
  })

  it("seed --help - describes the command and its flags", async () => {
    const r = await sluice(["db", "seed", "--help"])
    assert.strictEqual(r.status, 0)
    assert.include(r.stdout, "--claims")
    assert.include(r.stdout, "--database-url")
  })
})
