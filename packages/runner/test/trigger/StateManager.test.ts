import { assert, describe, it } from "@effect/vitest"
import { StateStore } from "@sluice/core"
import type { Lookup } from "@sluice/lookup"
import { FakeProfileApi } from "@sluice/testkit"
import { Effect, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import * as Checkpoint from "../../src/jobs/trigger/Checkpoint.ts"
import * as StateManager from "../../src/jobs/trigger/StateManager.ts"
import { event, stateManager, stepped } from "./support.ts"

const MINUTE = 60_000

// Each user's event times in minutes, with idle gaps longer and shorter than 10 minutes.
const schedule: Record<string, ReadonlyArray<number>> = {
  alice: [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30],
  bob: [0, 9.5, 19, 28.5],
  carol: [1, 12, 13, 24, 35.5],
  dave: [2, 14, 14.5, 15, 33],
  erin: [5]
}

// The reference: a call on a user's first event and on any event more than 10 idle minutes after the previous one.
const expectedCalls = (times: ReadonlyArray<number>): number =>
  times.filter((t, i) => i === 0 || t - times[i - 1]! > 10).length

describe("StateManager", { timeout: 60_000 }, () => {
  it.effect("enrich - one Profile API call per user per 10 minutes of activity, a new one after 10 idle minutes", () =>
    Effect.gen(function* () {
      const { api, state } = yield* stateManager()
      const ticks = Array.from(new Set(Object.values(schedule).flat())).sort((a, b) => a - b)
      let elapsed = 0
      let n = 0
      for (const t of ticks) {
        yield* TestClock.adjust((t - elapsed) * MINUTE)
        elapsed = t
        const due = Object.entries(schedule).filter(([, times]) => times.includes(t))
        const out = yield* state.enrich(due.map(([user]) => event(user, n++)))
        // Every event goes on with its user's profile.
        for (const e of out) {
          const expected = FakeProfileApi.recordOf(api.seed, e.value.event.user_id).profile
          assert.strictEqual(e.value.checkpoint.user.country, expected.country)
          assert.isFalse(e.value.checkpoint.empty)
        }
      }
      for (const [user, times] of Object.entries(schedule)) {
        assert.strictEqual(yield* api.calls(user), expectedCalls(times), user)
      }
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("enrich - concurrent first events of one user cost one call", () =>
    Effect.gen(function* () {
      const { api, state } = yield* stateManager()
      yield* api.setLatency("1 second")
      // Five events of one user in a chunk, and two chunks at once.
      const chunk = [1, 2, 3, 4, 5].map((n) => event("frank", n))
      const [a, b] = yield* stepped(
        Effect.all([state.enrich(chunk), state.enrich([event("frank", 6)])], { concurrency: "unbounded" })
      )
      assert.strictEqual(a.length + b.length, 6)
      assert.strictEqual(yield* api.calls("frank"), 1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect(
    "enrich - Profile API down: events flow with empty checkpoints, retried after the delay, resumed after recovery",
    () =>
      Effect.gen(function* () {
        const { api, policy, state } = yield* stateManager({ retryEmptyAfter: "30 seconds" })
        yield* api.down
        const users = ["g1", "g2", "g3", "g4"]
        const out = yield* stepped(state.enrich(users.map((u, i) => event(u, i))))
        assert.deepStrictEqual(
          out.map((e) => e.value.checkpoint.empty),
          users.map(() => true)
        )
        assert.strictEqual(yield* policy.breakerState, "open")
        // Within the retry delay the empty checkpoint is used as is: no call.
        yield* api.up
        yield* api.resetCounts
        yield* TestClock.adjust("10 seconds")
        const again = yield* stepped(state.enrich([event("g1", 10)]))
        assert.isTrue(again[0]!.value.checkpoint.empty)
        assert.strictEqual(yield* api.totalCalls, 0)
        // After the delay and the breaker's open period, the half-open breaker's probe goes through
        // and closes it; then the other users are asked again as their events come.
        yield* TestClock.adjust("25 seconds")
        const probe = yield* stepped(state.enrich([event("g1", 11)]))
        assert.isFalse(probe[0]!.value.checkpoint.empty)
        assert.strictEqual(yield* policy.breakerState, "closed")
        const recovered = yield* stepped(state.enrich([event("g2", 12), event("g3", 13), event("g4", 14)]))
        assert.deepStrictEqual(
          recovered.map((e) => e.value.checkpoint.empty),
          [false, false, false]
        )
        assert.strictEqual(yield* api.totalCalls, 4)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect("enrich - a slow Profile API times out: events flow with empty checkpoints", () =>
    Effect.gen(function* () {
      const { api, state } = yield* stateManager()
      yield* api.setLatency("8 seconds")
      const out = yield* stepped(state.enrich([event("h1", 1)]), "1 second")
      assert.isTrue(out[0]!.value.checkpoint.empty)
      assert.isAtLeast(yield* api.calls("h1"), 1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.effect(
    "enrich - expired checkpoints are never used, and leave the store at most once a second per partition",
    () =>
      Effect.gen(function* () {
        // A lookup answering at once, counting its calls per user: no HTTP, so the test clock alone moves time.
        const calls = new Map<string, number>()
        const lookup: Lookup.Lookup<string, Checkpoint.ProfileRecord> = {
          _tag: "Lookup",
          name: "stub",
          get: (user) =>
            Effect.sync(() => {
              calls.set(user, (calls.get(user) ?? 0) + 1)
              return Option.some({ profile: { userId: user }, visit: {}, history: [] })
            }),
          getMany: () => Effect.die("not used")
        }
        const stores = yield* StateStore.makeMemory()
        const store = yield* stores.open("trigger.checkpoints", Checkpoint.codec)
        const state = StateManager.make({ store, lookup, ttl: "10 minutes", expireEvery: "1 second" })
        // Users with two-letter names: all in partition 0 (see `event`).
        const at = (millis: number) => TestClock.setTime(millis)
        yield* state.enrich([event("u1", 1), event("u2", 2)])
        yield* at(10 * MINUTE - 500)
        // Dropping ran at 0; now u3 comes, u1 and u2 (loaded at 0) are still live.
        yield* state.enrich([event("u3", 3)])
        assert.strictEqual(yield* store.size(0), 3)
        yield* at(10 * MINUTE + 200)
        // u1 and u2 expired 200 ms ago; dropping ran 700 ms ago, so they are still in the store, yet u1's
        // event does not get its expired checkpoint: the API is asked again.
        const out = yield* state.enrich([event("u1", 4)])
        assert.strictEqual(out[0]!.value.checkpoint.loadedAt, 10 * MINUTE + 200)
        assert.strictEqual(calls.get("u1"), 2)
        assert.strictEqual(yield* store.size(0), 3)
        yield* at(10 * MINUTE + 600)
        // A second after the last dropping, u2 leaves the store.
        yield* state.enrich([event("u4", 5)])
        assert.strictEqual(yield* store.size(0), 3)
        assert.isTrue(Option.isNone(yield* store.get(0, "u2")))
        assert.strictEqual(calls.get("u2"), 1)
      }).pipe(Effect.scoped)
  )
})
