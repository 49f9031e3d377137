import type { Envelope } from "@sluice/core"
import { Policy, Receipt, StateStore } from "@sluice/core"
import { HttpLookup } from "@sluice/lookup"
import { FakeProfileApi } from "@sluice/testkit"
import { type Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Checkpoint from "../../src/jobs/trigger/Checkpoint.ts"
import * as StateManager from "../../src/jobs/trigger/StateManager.ts"
import type { UserEvent } from "../../src/jobs/trigger/UserEvent.ts"

const utf8 = new TextEncoder()

/** An event of `user` as the input topic carries it (keyed by user id, one partition per user hash). */
export const event = (
  user: string,
  n: number,
  eventType = "page_view",
  receipt: Receipt.Receipt = Receipt.none
): Envelope.Envelope<UserEvent> => ({
  origin: {
    topic: "user-tracking-events",
    partition: user.length % 2,
    offset: BigInt(n),
    key: utf8.encode(user),
    headers: [],
    timestamp: 0
  },
  value: { event_id: `${user}-e${n}`, user_id: user, event_type: eventType, event_name: "home_page", timestamp: n },
  receipt
})

/** Real requests complete on real time while the test clock stands still: step the clock until the fiber is done. */
export const settle = <A, E>(fiber: Fiber.Fiber<A, E>, step: Duration.Input = "100 millis", maxSteps = 400) =>
  Effect.gen(function* () {
    for (let i = 0; i < maxSteps; i++) {
      if (fiber.pollUnsafe() !== undefined) break
      yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      yield* TestClock.adjust(step)
    }
    return yield* Fiber.join(fiber)
  })

/** Runs `effect` to its end while stepping the test clock. */
export const stepped = <A, E>(effect: Effect.Effect<A, E>, step?: Duration.Input) =>
  Effect.flatMap(Effect.forkChild(effect), (fiber) => settle(fiber, step))

/** A state manager over an in-memory store and the fake Profile API, as the job builds it. */
export const stateManager = (options: { readonly retryEmptyAfter?: Duration.Input } = {}) =>
  Effect.gen(function* () {
    const api = yield* FakeProfileApi.make({ seed: 11 })
    const policy = yield* Policy.make({
      name: "profile-api",
      timeout: "20 seconds",
      retry: { base: "200 millis", maxAttempts: 2, jitter: false },
      breaker: { trip: { _tag: "consecutive", failures: 3 }, openDuration: "20 seconds" }
    })
    const lookup = yield* HttpLookup.make({
      name: "profile-api",
      baseUrl: api.url,
      schema: Checkpoint.ProfileRecord,
      timeout: "5 seconds",
      policy
    })
    const stores = yield* StateStore.makeMemory({ roundTrip: true })
    const store = yield* stores.open("trigger.checkpoints", Checkpoint.codec)
    const state = StateManager.make({
      store,
      lookup,
      ttl: "10 minutes",
      retryEmptyAfter: options.retryEmptyAfter ?? "30 seconds"
    })
    return { api, policy, state, store }
  })
