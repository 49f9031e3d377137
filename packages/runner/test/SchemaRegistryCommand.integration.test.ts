import { mkdtempSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

const schema = JSON.stringify({ type: "record", name: "T", fields: [{ name: "a", type: "string" }] })
const evolved = JSON.stringify({ type: "record", name: "T", fields: [{ name: "b", type: "int" }] })

const post = (url: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/vnd.schemaregistry.v1+json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  })

// Waits (bounded) for the printed URL; the process is killed if it never comes.
const listeningUrl = (run: ReturnType<typeof spawnSluice>) =>
  Effect.sync(() => /listening on (\S+)/.exec(run.output().stdout)?.[1]).pipe(
    Effect.flatMap((url) => (url === undefined ? Effect.fail("not listening yet") : Effect.succeed(url))),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 150 }),
    Effect.onError(() => Effect.sync(() => run.child.kill("SIGKILL")))
  )

describe("sluice schema-registry", () => {
  it.live(
    "schema-registry - registers on the printed URL, refuses a breaking change, keeps ids across a restart",
    () =>
      Effect.gen(function* () {
        const dataDir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-registry-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const first = spawnSluice(["schema-registry", "--port", "0", "--data-dir", dataDir])
        const url = yield* listeningUrl(first)
        const registered = yield* post(`${url}/subjects/t-value/versions`, { schema })
        assert.strictEqual(registered.status, 200)
        const id = registered.body.id
        assert.isNumber(id)
        // BACKWARD by default: a new required field without a default breaks old records.
        const refused = yield* post(`${url}/subjects/t-value/versions`, { schema: evolved })
        assert.strictEqual(refused.status, 409)
        assert.strictEqual(refused.body.error_code, 409)
        assert.strictEqual(yield* stopSluice(first), 0)

        const second = spawnSluice(["schema-registry", "--port", "0", "--data-dir", dataDir])
        const again = yield* listeningUrl(second)
        const found = yield* post(`${again}/subjects/t-value`, { schema })
        assert.strictEqual(found.status, 200)
        assert.strictEqual(found.body.id, id)
        assert.strictEqual(found.body.version, 1)
        assert.strictEqual(yield* stopSluice(second), 0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "schema-registry --compatibility NONE - accepts the change BACKWARD refuses",
    () =>
      Effect.gen(function* () {
        const run = spawnSluice(["schema-registry", "--port", "0", "--compatibility", "NONE"])
        const url = yield* listeningUrl(run)
        assert.strictEqual((yield* post(`${url}/subjects/t-value/versions`, { schema })).status, 200)
        const evolvedVersion = yield* post(`${url}/subjects/t-value/versions`, { schema: evolved })
        assert.strictEqual(evolvedVersion.status, 200)
        assert.strictEqual(yield* stopSluice(run), 0)
      }),
    60_000
  )

  it.live(
    "schema-registry on a port in use - one line naming the port, exit 1",
    () =>
      Effect.gen(function* () {
        const server = yield* Effect.acquireRelease(
          Effect.promise(
            () =>
              new Promise<Net.Server>((resolve) => {
                const s = Net.createServer()
                s.listen(0, "127.0.0.1", () => resolve(s))
              })
          ),
          (s) => Effect.promise(() => new Promise<void>((resolve) => s.close(() => resolve())))
        )
        const address = server.address()
        const taken = typeof address === "object" && address !== null ? address.port : 0
        const exit = yield* Effect.promise(() => spawnSluice(["schema-registry", "--port", String(taken)]).done)
        assert.strictEqual(exit.status, 1)
        assert.strictEqual(exit.stderr.trim(), `error: port ${taken} is already in use (check --port)`)
      }).pipe(Effect.scoped),
    60_000
  )
})
