import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestConsole } from "effect/testing"
import * as Log from "../src/Log.ts"
import * as Services from "../src/Services.ts"

describe("Services", () => {
  it.live("observability - on port 0 the log line names the port the server got", () =>
    Effect.gen(function* () {
      const server = yield* Services.observability(0)
      const lines = (yield* TestConsole.logLines).map((line) => JSON.parse(String(line)))
      const listening = lines.find((line) => line.message === "observability server listening")
      assert.isDefined(listening)
      assert.strictEqual(listening.annotations.metricsPort, server.port)
      assert.notStrictEqual(server.port, 0)
      const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${server.port}/healthz`))
      assert.strictEqual(health.status, 200)
    }).pipe(Effect.scoped, Effect.provide([Log.layer("json"), TestConsole.layer]))
  )
})
