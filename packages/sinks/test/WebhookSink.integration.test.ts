import { assert, describe, it } from "@effect/vitest"
import { Envelope, Policy, Receipt } from "@sluice/core"
import { FakeWebhook } from "@sluice/testkit"
import { Effect, Exit, Stream } from "effect"
import { FetchHttpClient } from "effect/http"
import * as WebhookSink from "../src/WebhookSink.ts"

interface Action {
  readonly event_id: string
  readonly user_id: string
}

const origin = (offset: number): Envelope.Origin => ({
  topic: "user-tracking-events",
  partition: 0,
  offset: BigInt(offset),
  key: null,
  headers: [],
  timestamp: 0
})

const actions = (n: number, acked: Set<string>) =>
  Array.from({ length: n }, (_, i) => {
    const value: Action = { event_id: `evt-${i}`, user_id: `user-${i % 7}` }
    return Envelope.make(origin(i), value, Receipt.make(Effect.sync(() => acked.add(value.event_id))))
  })

const fastPolicy = (name: string, maxAttempts = 3) =>
  Policy.make({ name, timeout: "10 seconds", retry: { base: "10 millis", maxAttempts, jitter: false } })

describe("WebhookSink", { timeout: 30_000 }, () => {
  it.live("make - posts every record once as JSON with its idempotency key, then acknowledges it", () =>
    Effect.gen(function* () {
      const receiver = yield* FakeWebhook.make()
      const acked = new Set<string>()
      const failed: Array<string> = []
      const sink = yield* WebhookSink.make<Action>({
        url: receiver.url,
        idempotencyKey: (e) => e.value.event_id,
        policy: yield* fastPolicy("hook-ok"),
        fallback: (f) => Effect.sync(() => failed.push(...f.map((x) => x.idempotencyKey)))
      })
      const input = actions(45, acked)
      yield* Stream.fromIterable(input).pipe(Stream.rechunk(10), Stream.run(sink))
      const delivered = yield* receiver.delivered
      assert.strictEqual(delivered.length, 45)
      assert.deepStrictEqual(
        delivered.map((r) => r.headers["idempotency-key"]).sort(),
        input.map((e) => e.value.event_id).sort()
      )
      for (const r of delivered) {
        assert.strictEqual(r.method, "POST")
        assert.strictEqual(r.headers["content-type"], "application/json")
        assert.deepStrictEqual(r.json, input.find((e) => e.value.event_id === r.headers["idempotency-key"])!.value)
      }
      assert.strictEqual(acked.size, 45)
      assert.deepStrictEqual(failed, [])
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.live("make - 5xx answers are retried with the same key until delivered", () =>
    Effect.gen(function* () {
      const receiver = yield* FakeWebhook.make()
      yield* receiver.failNext(2, 503)
      const acked = new Set<string>()
      const failed: Array<string> = []
      const sink = yield* WebhookSink.make<Action>({
        url: receiver.url,
        idempotencyKey: (e) => e.value.event_id,
        policy: yield* fastPolicy("hook-retry"),
        fallback: (f) => Effect.sync(() => failed.push(...f.map((x) => x.idempotencyKey)))
      })
      yield* Stream.fromIterable(actions(1, acked)).pipe(Stream.run(sink))
      const requests = yield* receiver.requests
      assert.deepStrictEqual(
        requests.map((r) => r.status),
        [503, 503, 200]
      )
      assert.deepStrictEqual(new Set(requests.map((r) => r.headers["idempotency-key"])), new Set(["evt-0"]))
      assert.deepStrictEqual(failed, [])
      assert.isTrue(acked.has("evt-0"))
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.live(
    "make - a stalled receiver times out on every attempt, then the record goes to the fallback and is acknowledged",
    () =>
      Effect.gen(function* () {
        const receiver = yield* FakeWebhook.make({ behaviour: FakeWebhook.Behaviour.stall })
        const acked = new Set<string>()
        const failed: Array<WebhookSink.Failed<Action>> = []
        const sink = yield* WebhookSink.make<Action>({
          url: receiver.url,
          timeout: "150 millis",
          idempotencyKey: (e) => e.value.event_id,
          policy: yield* fastPolicy("hook-stall"),
          fallback: (f) => Effect.sync(() => failed.push(...f))
        })
        yield* Stream.fromIterable(actions(2, acked)).pipe(Stream.run(sink))
        assert.deepStrictEqual(failed.map((f) => f.idempotencyKey).sort(), ["evt-0", "evt-1"])
        for (const f of failed) {
          assert.strictEqual(f.error.reason._tag, "Unavailable")
          const cause = f.error.reason._tag === "Unavailable" ? f.error.reason.cause : undefined
          assert.strictEqual((cause as { reason: { _tag: string } }).reason._tag, "Timeout")
        }
        // Three attempts each, none answered.
        assert.strictEqual(yield* receiver.count, 6)
        assert.strictEqual((yield* receiver.delivered).length, 0)
        assert.deepStrictEqual([...acked].sort(), ["evt-0", "evt-1"])
        const letter = WebhookSink.toDeadLetter(failed[0]!)
        assert.strictEqual(letter.value.kind, "webhook")
        assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(letter.value.value!)), failed[0]!.body)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.live("make - a 4xx is not retried; a failing fallback fails the sink and leaves receipts unacknowledged", () =>
    Effect.gen(function* () {
      const receiver = yield* FakeWebhook.make({ behaviour: FakeWebhook.Behaviour.fail(422) })
      const acked = new Set<string>()
      const sink = yield* WebhookSink.make<Action, string>({
        url: receiver.url,
        idempotencyKey: (e) => e.value.event_id,
        policy: yield* fastPolicy("hook-reject"),
        fallback: () => Effect.fail("failed topic unavailable")
      })
      const exit = yield* Stream.fromIterable(actions(1, acked)).pipe(Stream.run(sink), Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* receiver.count, 1)
      assert.strictEqual(acked.size, 0)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )

  it.live("make - once the breaker opens, records go to the fallback without a request", () =>
    Effect.gen(function* () {
      const receiver = yield* FakeWebhook.make({ behaviour: FakeWebhook.Behaviour.fail(500) })
      const policy = yield* Policy.make({
        name: "hook-breaker",
        retry: { base: "5 millis", maxAttempts: 2, jitter: false },
        breaker: { trip: { _tag: "consecutive", failures: 3 }, openDuration: "1 minute" }
      })
      const acked = new Set<string>()
      const failed: Array<string> = []
      const sink = yield* WebhookSink.make<Action>({
        url: receiver.url,
        idempotencyKey: (e) => e.value.event_id,
        policy,
        concurrency: 1,
        fallback: (f) => Effect.sync(() => failed.push(...f.map((x) => x.error.reason._tag)))
      })
      yield* Stream.fromIterable(actions(20, acked)).pipe(Stream.run(sink))
      // Three deliveries of two attempts each trip it; the other 17 are rejected at once.
      assert.strictEqual(yield* receiver.count, 6)
      assert.strictEqual(failed.filter((t) => t === "CircuitOpen").length, 17)
      assert.strictEqual(acked.size, 20)
      assert.strictEqual(yield* policy.breakerState, "open")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
  )
})
