import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@sluice/core"
import { FakeProfileApi } from "@sluice/testkit"
import { type Duration, Effect, Exit, Fiber, Option, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import * as HttpLookup from "../src/HttpLookup.ts"

const User = Schema.Struct({ profile: Schema.Struct({ userId: Schema.String, country: Schema.String }) })

// Real requests complete on real time while the test clock stands still: let
// them, and move the test clock on in steps until the fiber is done (bounded).
const settle = <A, E>(fiber: Fiber.Fiber<A, E>, step: Duration.Input = "100 millis", maxSteps = 400) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps; i++) {
      if (fiber.pollUnsafe() !== undefined) break
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.await(fiber)
  })

const setup = (options: { readonly ratePerSecond?: number; readonly timeout?: Duration.Input } = {}) =>
  Effect.gen(function* () {
    const api = yield* FakeProfileApi.make({ seed: 3 })
    const policy = yield* Policy.make({
      name: "profiles",
      retry: { base: "200 millis", maxAttempts: 2, jitter: false },
      breaker: { trip: { _tag: "consecutive", failures: 2 }, openDuration: "30 seconds" }
    })
    const lookup = yield* HttpLookup.make({
      name: "profiles",
      baseUrl: api.url,
      schema: User,
      timeout: options.timeout ?? "5 seconds",
      ratePerSecond: options.ratePerSecond,
      policy
    })
    return { api, policy, lookup }
  })

describe("HttpLookup", { timeout: 30_000 }, () => {
  it.effect("make - answers the API's record for a user", () =>
    Effect.gen(function* () {
      const { api, lookup } = yield* setup()
      const user = yield* lookup.get("u-1")
      const expected = FakeProfileApi.recordOf(api.seed, "u-1").profile
      assert.deepStrictEqual(Option.getOrThrow(user).profile, { userId: "u-1", country: expected.country })
      assert.strictEqual(yield* api.calls("u-1"), 1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("make - concurrent gets of one user are one call", () =>
    Effect.gen(function* () {
      const { api, lookup } = yield* setup()
      yield* api.setLatency("1 second")
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], () => lookup.get("u-2"), { concurrency: "unbounded" })
      )
      const exit = yield* settle(fiber)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.filter(Option.isSome).length, 8)
      assert.strictEqual(yield* api.calls("u-2"), 1)
      // Once answered, a later get asks again: coalescing is not a cache.
      yield* settle(yield* Effect.forkChild(lookup.get("u-2")))
      assert.strictEqual(yield* api.calls("u-2"), 2)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("rateLimiter - spaces calls 1/rate apart on the clock", () =>
    Effect.gen(function* () {
      const { api, lookup } = yield* setup({ ratePerSecond: 2 })
      const users = ["a", "b", "c", "d", "e"]
      const fiber = yield* Effect.forkChild(Effect.forEach(users, (u) => lookup.get(u), { concurrency: "unbounded" }))
      // Reservations at 0, 500, 1000, 1500, 2000 ms: at 1.2 s exactly three have gone out.
      yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 100)))
      assert.strictEqual(yield* api.totalCalls, 1)
      yield* TestClock.adjust("1200 millis")
      for (let i = 0; i < 100 && (yield* api.totalCalls) < 3; i++) {
        yield* Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 10)))
      }
      assert.strictEqual(yield* api.totalCalls, 3)
      const exit = yield* settle(fiber)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(yield* api.totalCalls, 5)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("make - a slow API times out, then the breaker opens and rejects without calling", () =>
    Effect.gen(function* () {
      const { api, policy, lookup } = yield* setup({ timeout: "5 seconds" })
      yield* api.setLatency("10 seconds")
      // Two failed lookups in a row (each after its retry) trip the breaker.
      for (const user of ["s-0", "s-1"]) {
        const exit = yield* settle(yield* Effect.forkChild(lookup.get(user)), "1 second")
        assert.isTrue(Exit.isFailure(exit))
      }
      assert.strictEqual(yield* policy.breakerState, "open")
      const callsWhenOpen = yield* api.totalCalls
      const rejected = yield* Effect.flip(lookup.get("s-2"))
      assert.strictEqual(rejected.reason._tag, "CircuitOpen")
      assert.strictEqual(yield* api.totalCalls, callsWhenOpen)
      // Recovery: fast again, and once the open period has passed calls go through.
      yield* api.setLatency(0)
      yield* TestClock.adjust("31 seconds")
      const user = yield* lookup.get("s-3")
      assert.isTrue(Option.isSome(user))
      assert.strictEqual(yield* api.calls("s-3"), 1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("make - an API that is down fails retryable Unavailable and opens the breaker", () =>
    Effect.gen(function* () {
      const { api, policy, lookup } = yield* setup()
      yield* api.down
      for (const user of ["d-0", "d-1"]) {
        const exit = yield* settle(yield* Effect.forkChild(Effect.flip(lookup.get(user))))
        assert.isTrue(Exit.isSuccess(exit) && exit.value.reason._tag === "Unavailable" && exit.value.isRetryable)
      }
      assert.strictEqual(yield* policy.breakerState, "open")
      const error = yield* Effect.flip(lookup.get("d-2"))
      assert.strictEqual(error.reason._tag, "CircuitOpen")
      yield* api.up
      yield* TestClock.adjust("31 seconds")
      assert.isTrue(Option.isSome(yield* lookup.get("d-3")))
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )
})
