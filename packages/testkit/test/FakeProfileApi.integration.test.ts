import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as FakeProfileApi from "../src/FakeProfileApi.ts"

const get = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url)
    const text = await response.text()
    return { status: response.status, body: text.length === 0 ? undefined : JSON.parse(text) }
  })

// Lets real I/O (the server, fetch) make progress without advancing any Effect clock.
const ioTurns = (n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
  })

describe("FakeProfileApi", () => {
  it.live("make - answers each user's record, derived from the seed alone, and counts calls per user", () =>
    Effect.gen(function* () {
      const api = yield* FakeProfileApi.make({ seed: 7 })
      const other = yield* FakeProfileApi.make({ seed: 8 })
      const users = Array.from({ length: 50 }, (_, i) => `user-${i}`)
      for (const user of users) {
        const whole = yield* get(`${api.url}/users/${user}`)
        assert.strictEqual(whole.status, 200)
        assert.deepStrictEqual(whole.body, FakeProfileApi.recordOf(7, user))
      }
      const again = yield* get(`${api.url}/users/user-3`)
      assert.deepStrictEqual(again.body, FakeProfileApi.recordOf(7, "user-3"))
      const profile = yield* get(`${api.url}/users/user-3/profile`)
      assert.deepStrictEqual(profile.body, FakeProfileApi.recordOf(7, "user-3").profile)
      const history = yield* get(`${api.url}/users/user-3/history`)
      assert.deepStrictEqual(history.body, FakeProfileApi.recordOf(7, "user-3").history)
      assert.strictEqual((yield* get(`${api.url}/nothing`)).status, 404)
      // Another seed gives other data for the same ids.
      const differs = yield* Effect.forEach(users.slice(0, 10), (u) =>
        Effect.map(
          get(`${other.url}/users/${u}`),
          (r) => JSON.stringify(r.body) !== JSON.stringify(FakeProfileApi.recordOf(7, u))
        )
      )
      assert.isTrue(differs.every((d) => d))
      assert.strictEqual(yield* api.calls("user-3"), 4)
      assert.strictEqual(yield* api.calls("user-4"), 1)
      assert.strictEqual(yield* api.calls("nobody"), 0)
      assert.strictEqual(yield* api.totalCalls, 53)
      // The share of US users makes a country filter meaningful.
      const us = users.filter((u) => FakeProfileApi.recordOf(7, u).profile.country === "US").length
      assert.isAbove(us, 5)
      assert.isBelow(us, 45)
      yield* api.resetCounts
      assert.strictEqual(yield* api.totalCalls, 0)
    }).pipe(Effect.scoped)
  )

  it.live("setFailureRate - fails about that share of calls with the failure status, deterministically per seed", () =>
    Effect.gen(function* () {
      const statuses = (seed: number) =>
        Effect.gen(function* () {
          const api = yield* FakeProfileApi.make({ seed, failureRate: 0.3, failureStatus: 500 })
          const out = []
          for (let i = 0; i < 200; i++) out.push((yield* get(`${api.url}/users/u${i % 9}`)).status)
          yield* api.setFailureRate(0)
          out.push((yield* get(`${api.url}/users/u1`)).status)
          return out
        }).pipe(Effect.scoped)
      const first = yield* statuses(1)
      assert.deepStrictEqual(yield* statuses(1), first)
      const failed = first.slice(0, 200).filter((s) => s === 500).length
      assert.isAbove(failed, 30)
      assert.isBelow(failed, 90)
      assert.isTrue(first.every((s) => s === 200 || s === 500))
      assert.strictEqual(first[200], 200)
    })
  )

  it.live("down / up - refuses connections while down, answers again on the same port when up", () =>
    Effect.gen(function* () {
      const api = yield* FakeProfileApi.make()
      assert.strictEqual((yield* get(`${api.url}/users/a`)).status, 200)
      yield* api.down
      const refused = yield* Effect.exit(get(`${api.url}/users/a`))
      assert.isTrue(Exit.isFailure(refused))
      yield* api.up
      assert.strictEqual((yield* get(`${api.url}/users/a`)).status, 200)
      assert.strictEqual(yield* api.calls("a"), 2)
    }).pipe(Effect.scoped)
  )

  it.effect("setLatency - answers after the latency on the Clock of the scope that made it", () =>
    Effect.gen(function* () {
      const api = yield* FakeProfileApi.make({ latency: "2 seconds" })
      const fiber = yield* Effect.forkChild(get(`${api.url}/users/slow`))
      // Bounded wait for the request to reach the server.
      for (let i = 0; i < 2_000 && (yield* api.calls("slow")) === 0; i++) yield* ioTurns(1)
      assert.strictEqual(yield* api.calls("slow"), 1)
      yield* TestClock.adjust("1999 millis")
      yield* ioTurns(50)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const answer = yield* Fiber.join(fiber)
      assert.strictEqual(answer.status, 200)
      assert.deepStrictEqual(answer.body, FakeProfileApi.recordOf(42, "slow"))
    }).pipe(Effect.scoped)
  )
})
