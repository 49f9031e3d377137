// The claims database as a DuckDB file, through the real CLI: `db seed`
// creates and fills the file, and the jobs, which open it read-only, stop at
// start with one line (and exit 1) when the file is missing, has no claims
// table, or is held by a writer.
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { DuckDbLookup } from "@sluice/lookup"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import { spawnSluice } from "./support/spawnSluice.ts"

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() => spawnSluice(args, env).done)

const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "sluice-duckdb-cli-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

// The enrich job against the broker, with the claims database at `path`.
const enrich = (bootstrap: string, path: string) =>
  run(["claims", "enrich", "--metrics-port", "0", "--bootstrap-servers", bootstrap, "--database-url", `duckdb:${path}`])

describe("sluice with a DuckDB claims file", { timeout: 120_000 }, () => {
  it.live("db seed creates the file and fills it; seeding again adds nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = Path.join(dir, "claims.duckdb")
      const first = yield* run(["db", "seed", "--claims", "1500"], { DATABASE_URL: `duckdb:${path}` })
      assert.strictEqual(first.status, 0, first.stderr)
      assert.deepStrictEqual(lines(first.stdout), ["claims in the table: 1500"])
      assert.deepStrictEqual(lines(first.stderr), [`database: DuckDB ${path} (DATABASE_URL)`])
      const again = yield* run(["db", "seed", "--claims", "1000", "--database-url", `duckdb:${path}`])
      assert.strictEqual(again.status, 0, again.stderr)
      assert.deepStrictEqual(lines(again.stdout), ["claims in the table: 1500"])
    }).pipe(Effect.scoped)
  )

  it.live(
    "jobs - a missing file, a file without the claims table, a file held by a writer: one line each, exit 1",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const broker = yield* EmbeddedKafka.make({ port: 0 })

        const missing = Path.join(dir, "missing.duckdb")
        const r1 = yield* enrich(broker.bootstrap, missing)
        assert.strictEqual(r1.status, 1, r1.stderr)
        assert.deepStrictEqual(lines(r1.stderr), [
          `error: the DuckDB database ${missing} cannot be opened read-only: the file ${missing} does not exist (check DATABASE_URL or --database-url)`
        ])
        // Opening read-only never creates the file.
        assert.isFalse(Fs.existsSync(missing))

        const empty = Path.join(dir, "empty.duckdb")
        yield* Effect.scoped(DuckDbLookup.makeClient({ path: empty, readOnly: false }))
        const r2 = yield* enrich(broker.bootstrap, empty)
        assert.strictEqual(r2.status, 1, r2.stderr)
        assert.deepStrictEqual(lines(r2.stderr), [
          `error: the DuckDB database ${empty} has no claims table (check DATABASE_URL or --database-url, or create it with sluice db migrate / sluice db seed)`
        ])

        // This process holds the file open for writing, as a running `db seed` would.
        const locked = Path.join(dir, "locked.duckdb")
        yield* DuckDbLookup.makeClient({ path: locked, readOnly: false })
        const r3 = yield* enrich(broker.bootstrap, locked)
        assert.strictEqual(r3.status, 1, r3.stderr)
        assert.deepStrictEqual(lines(r3.stderr), [
          `error: the DuckDB database ${locked} cannot be opened read-only: the file ${locked} is locked by a process that has it open for writing (check DATABASE_URL or --database-url)`
        ])
      }).pipe(Effect.scoped)
  )
})
