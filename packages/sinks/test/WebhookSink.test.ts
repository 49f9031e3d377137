import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { Effect, Fiber } from "effect"
import { HttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import * as WebhookSink from "../src/WebhookSink.ts"

// An HTTP client whose requests never answer, counting them.
const silent = () => {
  let requests = 0
  const client = HttpClient.make(() =>
    Effect.suspend(() => {
      requests++
      return Effect.never
    })
  )
  return { client, requests: () => requests }
}

describe("WebhookSink", () => {
  it.effect("makeClient - each attempt times out after 3 seconds by default, then the policy retries it", () =>
    Effect.gen(function* () {
      const http = silent()
      const policy = yield* Policy.make({
        name: "hook-clock",
        retry: { base: "1 second", maxAttempts: 2, jitter: false }
      })
      const client = yield* WebhookSink.makeClient({ url: "http://127.0.0.1:9/hook", policy }).pipe(
        Effect.provideService(HttpClient.HttpClient, http.client)
      )
      const fiber = yield* Effect.forkChild(client.post({ id: 1 }, "k-1"))
      yield* TestClock.adjust("2999 millis")
      assert.strictEqual(http.requests(), 1)
      assert.isUndefined(fiber.pollUnsafe())
      // The first attempt gives up at 3 s; the retry starts after the 1 s backoff.
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("999 millis")
      assert.strictEqual(http.requests(), 1)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(http.requests(), 2)
      yield* TestClock.adjust("3 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error.reason._tag, "Unavailable")
      const cause = error.reason._tag === "Unavailable" ? error.reason.cause : undefined
      assert.deepInclude(cause, { _tag: "SinkError" })
      assert.strictEqual((cause as { reason: { _tag: string; timeoutMillis: number } }).reason.timeoutMillis, 3000)
      assert.strictEqual(http.requests(), 2)
    })
  )

  it.effect("makeClient - the policy's overall timeout bounds a delivery however many attempts remain", () =>
    Effect.gen(function* () {
      const http = silent()
      const policy = yield* Policy.make({
        name: "hook-budget",
        timeout: "5 seconds",
        retry: { base: "100 millis", maxAttempts: 10, jitter: false }
      })
      const client = yield* WebhookSink.makeClient({
        url: "http://127.0.0.1:9/hook",
        policy,
        timeout: "1 second"
      }).pipe(Effect.provideService(HttpClient.HttpClient, http.client))
      const fiber = yield* Effect.forkChild(client.post({ id: 1 }, "k-1"))
      yield* TestClock.adjust("5 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error.reason._tag, "Timeout")
      // 1 s attempts with 100, 200, 400 ms backoff start at 0, 1.1, 2.3 and 3.7 s;
      // the fifth would start at 5.5 s, after the budget.
      assert.strictEqual(http.requests(), 4)
    })
  )
})
