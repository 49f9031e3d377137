import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import postgres from "postgres"
import type * as CdcError from "../src/CdcError.ts"
import * as LogicalPostgres from "../src/LogicalPostgres.ts"

const refused = (port: number) =>
  Effect.promise(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port })
        socket.once("connect", () => {
          socket.destroy()
          resolve(false)
        })
        socket.once("error", () => resolve(true))
      })
  )

// A directory of stand-in `initdb` and `postgres` scripts, readable by the
// account the server would run as (the postgres user when the tests run as root).
const fakeBinaries = (initdb: string, server: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "fake-pg-bin-"))
      chmodSync(dir, 0o755)
      for (const [name, body] of [
        ["initdb", initdb],
        ["postgres", server]
      ] as const) {
        writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`)
        chmodSync(join(dir, name), 0o755)
      }
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

const detail = (exit: Exit.Exit<unknown, CdcError.CdcError>): string => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
  assert.isDefined(error)
  const reason = error?._tag === "Fail" ? error.error.reason : undefined
  assert.strictEqual(reason?._tag, "Unavailable")
  return reason?._tag === "Unavailable" ? reason.detail : ""
}

describe("LogicalPostgres", () => {
  it.live(
    "make - a server with wal_level=logical that takes a replication slot; stopped and deleted with the scope",
    () =>
      Effect.gen(function* () {
        const { port, dir } = yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* LogicalPostgres.make()
            const answers = yield* Effect.promise(async () => {
              const sql = postgres(server.url, { max: 1, onnotice: () => {} })
              try {
                const [level] = await sql`SHOW wal_level`
                const [slot] = await sql`SELECT slot_name FROM pg_create_logical_replication_slot('s', 'pgoutput')`
                return { level: level?.wal_level, slot: slot?.slot_name }
              } finally {
                await sql.end({ timeout: 1 })
              }
            })
            assert.deepStrictEqual(answers, { level: "logical", slot: "s" })
            assert.isTrue(existsSync(join(server.dir, "data", "PG_VERSION")))
            return server
          })
        )
        assert.isTrue(yield* refused(port))
        assert.isFalse(existsSync(dir))
      }),
    60_000
  )

  it.effect("findBinaries - a directory without initdb and postgres: one line naming it", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(LogicalPostgres.findBinaries("/nonexistent/pg/bin"))
      assert.strictEqual(detail(exit), "no executable initdb and postgres in /nonexistent/pg/bin")
    })
  )

  it.live("make - initdb failing: the detail is its last line", () =>
    Effect.gen(function* () {
      const bin = yield* fakeBinaries('echo "initdb: error: the disk is on fire" >&2; exit 1', "exit 1")
      const exit = yield* Effect.exit(Effect.scoped(LogicalPostgres.make({ binDir: bin })))
      assert.strictEqual(detail(exit), "initdb failed: initdb: error: the disk is on fire")
    }).pipe(Effect.scoped)
  )

  it.live(
    "make - a server that exits at once: the detail is its log's last line, without waiting out the timeout",
    () =>
      Effect.gen(function* () {
        const bin = yield* fakeBinaries('mkdir -p "$2"', 'echo "FATAL:  could not do the thing" >&2; exit 1')
        const exit = yield* Effect.exit(Effect.scoped(LogicalPostgres.make({ binDir: bin, startTimeout: 20_000 })))
        assert.strictEqual(detail(exit), "postgres did not start: FATAL:  could not do the thing")
      }).pipe(Effect.scoped)
  )
})
