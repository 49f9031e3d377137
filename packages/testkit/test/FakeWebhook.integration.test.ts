import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as FakeWebhook from "../src/FakeWebhook.ts"

const post = (url: string, body: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...headers },
      ...(signal === undefined ? {} : { signal })
    })
    await response.text()
    return response.status
  })

describe("FakeWebhook", () => {
  it.live("make - records method, path, headers and body, and answers 200", () =>
    Effect.gen(function* () {
      const hook = yield* FakeWebhook.make()
      assert.strictEqual(yield* post(hook.url, `{"a":1}`, { "idempotency-key": "k-1" }), 200)
      assert.strictEqual(yield* post(`http://${hook.host}:${hook.port}/other`, "not json"), 200)
      const [first, second] = yield* hook.requests
      assert.strictEqual(first!.method, "POST")
      assert.strictEqual(first!.path, "/webhook")
      assert.strictEqual(first!.headers["idempotency-key"], "k-1")
      assert.deepStrictEqual(first!.json, { a: 1 })
      assert.strictEqual(first!.status, 200)
      assert.strictEqual(second!.path, "/other")
      assert.strictEqual(second!.body, "not json")
      assert.isUndefined(second!.json)
      assert.strictEqual(yield* hook.count, 2)
      yield* hook.clear
      assert.strictEqual(yield* hook.count, 0)
    }).pipe(Effect.scoped)
  )

  it.live("failNext / set - fails the next n requests, then follows the behaviour set", () =>
    Effect.gen(function* () {
      const hook = yield* FakeWebhook.make()
      yield* hook.failNext(2, 502)
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push(yield* post(hook.url, `{"i":${i}}`))
      yield* hook.set(FakeWebhook.Behaviour.fail(500))
      statuses.push(yield* post(hook.url, "{}"))
      yield* hook.set(FakeWebhook.Behaviour.accept)
      statuses.push(yield* post(hook.url, "{}"))
      assert.deepStrictEqual(statuses, [502, 502, 200, 500, 200])
      assert.strictEqual((yield* hook.delivered).length, 2)
    }).pipe(Effect.scoped)
  )

  it.live("make({ record: false }) - counts requests and 2xx answers without keeping them", () =>
    Effect.gen(function* () {
      const hook = yield* FakeWebhook.make({ record: false })
      yield* hook.failNext(1, 503)
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) statuses.push(yield* post(hook.url, `{"i":${i}}`))
      assert.strictEqual(yield* hook.count, statuses.length)
      assert.strictEqual(yield* hook.deliveredCount, statuses.filter((s) => s === 200).length)
      assert.strictEqual(yield* hook.deliveredCount, 3)
      assert.deepStrictEqual(yield* hook.requests, [])
      yield* hook.clear
      assert.deepStrictEqual([yield* hook.count, yield* hook.deliveredCount], [0, 0])
    }).pipe(Effect.scoped)
  )

  it.live(
    "set(stall) - a request gets no answer until the client gives up; closing the scope does not wait for it",
    () =>
      Effect.gen(function* () {
        const hook = yield* FakeWebhook.make({ behaviour: FakeWebhook.Behaviour.stall })
        const controller = new AbortController()
        const fiber = yield* Effect.forkChild(Effect.exit(post(hook.url, "{}", {}, controller.signal)))
        // Bounded poll for the request to arrive.
        for (let i = 0; i < 200 && (yield* hook.count) === 0; i++) yield* Effect.sleep("10 millis")
        assert.strictEqual(yield* hook.count, 1)
        assert.isUndefined(fiber.pollUnsafe())
        assert.isUndefined((yield* hook.requests)[0]!.status)
        controller.abort()
        yield* Fiber.join(fiber)
        yield* Effect.forkChild(post(hook.url, "{}").pipe(Effect.ignore))
      }).pipe(Effect.scoped)
  )
})
