import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { type DeadLetter, type Envelope, Receipt, StateStore } from "@sluice/core"
import { Lookup } from "@sluice/lookup"
import { ScriptFilter } from "@sluice/rules"
import { Effect, Option, Ref, Sink, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Readiness from "../../src/http/Readiness.ts"
import type * as Actions from "../../src/jobs/trigger/Actions.ts"
import * as Checkpoint from "../../src/jobs/trigger/Checkpoint.ts"
import * as StateManager from "../../src/jobs/trigger/StateManager.ts"
import * as TriggerCommand from "../../src/jobs/trigger/TriggerCommand.ts"
import * as TriggerConfig from "../../src/jobs/trigger/TriggerConfig.ts"
import * as TriggerFilter from "../../src/jobs/trigger/TriggerFilter.ts"
import * as TriggerPipeline from "../../src/jobs/trigger/TriggerPipeline.ts"
import type { UserEvent } from "../../src/jobs/trigger/UserEvent.ts"

const utf8 = new TextEncoder()

// Users u0..u9; even ones are in the US, u9 is unknown to the API (so it has no country at all).
const countryOf = (user: string) => (Number(user.slice(1)) % 2 === 0 ? "US" : "DE")
const profiles = Lookup.make<string, Checkpoint.ProfileRecord>({
  name: "profiles-stub",
  fetch: (keys) =>
    Effect.succeed(
      new Map(
        keys
          .filter((k) => k !== "u9")
          .map((k) => [k, { profile: { userId: k, country: countryOf(k) }, visit: {}, history: [] }] as const)
      )
    )
})

const eventsOf = (from: number, n: number): Array<UserEvent> =>
  Array.from({ length: n }, (_, i) => ({
    event_id: `e${from + i}`,
    user_id: `u${(from + i) % 10}`,
    event_type: (from + i) % 3 === 0 ? "click" : "page_view",
    event_name: "home_page",
    timestamp: from + i
  }))

const record = (value: string, offset: number, acked: Ref.Ref<number>): Envelope.Envelope<Envelope.Payload> => ({
  origin: { topic: "user-tracking-events", partition: 0, offset: BigInt(offset), key: null, headers: [], timestamp: 0 },
  value: utf8.encode(value),
  receipt: Receipt.make(Ref.update(acked, (n) => n + 1))
})

// A sink that records each value and acknowledges it.
const collecting = <A>(f: (value: A) => void) =>
  Sink.forEachArray((chunk: ReadonlyArray<Envelope.Envelope<A>>) =>
    Effect.andThen(
      Effect.sync(() => {
        for (const e of chunk) f(e.value)
      }),
      Receipt.ackAll(chunk.map((e) => e.receipt))
    )
  )

const harness = Effect.gen(function* () {
  const stores = yield* StateStore.makeMemory()
  const store = yield* stores.open("checkpoints", Checkpoint.codec)
  const state = StateManager.make({ store, lookup: profiles })
  const text = yield* Ref.make(`event.eventType == "page_view" && user.country == "US"`)
  const filter = yield* ScriptFilter.fromSource({
    source: "filter.cel",
    environment: TriggerFilter.environment,
    read: Ref.get(text),
    pollInterval: "1 second"
  })
  const acked = yield* Ref.make(0)
  const delivered: Array<string> = []
  const recording: Actions.Action = {
    name: "recording",
    run: (body) =>
      Effect.sync(() => {
        delivered.push(body.event_id)
        return Option.none()
      })
  }
  // Gives up on every fifth event, as an undeliverable webhook would.
  const flaky: Actions.Action = {
    name: "flaky",
    run: (body) =>
      Effect.succeed(
        Number(body.event_id.slice(1)) % 5 === 0
          ? Option.some({ action: "flaky", event_id: body.event_id, user_id: body.user_id, error: "gave up", body })
          : Option.none()
      )
  }
  const failed: Array<string> = []
  const dead: Array<DeadLetter.DeadLetter> = []
  const runBatch = (events: ReadonlyArray<UserEvent>, extra: ReadonlyArray<string> = []) =>
    TriggerPipeline.run({
      records: Stream.fromIterable([
        ...events.map((e, i) => record(JSON.stringify(e), i, acked)),
        ...extra.map((x, i) => record(x, 1000 + i, acked))
      ]),
      sinks: {
        failed: collecting<Uint8Array>((value) => failed.push(JSON.parse(new TextDecoder().decode(value)).event_id)),
        deadLetters: collecting<DeadLetter.DeadLetter>((value) => dead.push(value))
      },
      state,
      filter,
      actions: [recording, flaky]
    })
  return { text, filter, acked, delivered, failed, dead, runBatch }
})

describe("TriggerPipeline", () => {
  it.effect(
    "run - pass, reject, runtime error as reject, dead letters, failed actions, every record acknowledged",
    () =>
      Effect.gen(function* () {
        const h = yield* harness
        const events = eventsOf(0, 60)
        yield* h.runBatch(events, ["not json", `{"event_id":"x"}`])
        // The reference: page views of known US users; u9 (unknown, no country) is a runtime error, not a pass.
        const expected = events
          .filter((e) => e.event_type === "page_view" && e.user_id !== "u9" && countryOf(e.user_id) === "US")
          .map((e) => e.event_id)
        assert.deepStrictEqual([...h.delivered].sort(), [...expected].sort())
        assert.deepStrictEqual([...h.failed].sort(), expected.filter((id) => Number(id.slice(1)) % 5 === 0).sort())
        assert.strictEqual(h.dead.length, 2)
        assert.strictEqual(yield* Ref.get(h.acked), events.length + 2)
      }).pipe(Effect.scoped)
  )

  it.effect("run - actions of one user in the order of its events across chunks; deliveries in flight bounded", () =>
    Effect.gen(function* () {
      const stores = yield* StateStore.makeMemory()
      const store = yield* stores.open("checkpoints", Checkpoint.codec)
      const state = StateManager.make({ store, lookup: profiles })
      const filter = yield* ScriptFilter.fromSource({
        source: "filter.cel",
        environment: TriggerFilter.environment,
        read: Effect.succeed(`event.eventType == "page_view" && user.country == "US"`),
        pollInterval: "1 second"
      })
      const acked = yield* Ref.make(0)
      const limit = 3
      const started: Array<{ readonly user: string; readonly id: string }> = []
      const active = new Set<string>()
      let inFlight = 0
      let maxInFlight = 0
      let overlaps = 0
      // Takes a number of scheduler turns that varies by event, so deliveries finish out of their start order.
      const slow: Actions.Action = {
        name: "slow",
        run: (body) =>
          Effect.gen(function* () {
            if (active.has(body.user_id)) overlaps++
            active.add(body.user_id)
            started.push({ user: body.user_id, id: body.event_id })
            inFlight++
            maxInFlight = Math.max(maxInFlight, inFlight)
            const turns = (Number(body.event_id.slice(1)) * 7) % 11
            for (let i = 0; i < turns; i++) yield* Effect.yieldNow
            inFlight--
            active.delete(body.user_id)
            return Option.none()
          })
      }
      const events = eventsOf(0, 200)
      yield* TriggerPipeline.run({
        records: Stream.fromIterable(events.map((e, i) => record(JSON.stringify(e), i, acked))).pipe(
          Stream.rechunk(16)
        ),
        sinks: { failed: collecting<Uint8Array>(() => {}), deadLetters: collecting<DeadLetter.DeadLetter>(() => {}) },
        state,
        filter,
        actions: [slow],
        deliveriesInFlight: limit
      })
      // The reference: the passing events of each user, in input order.
      const passing = events.filter(
        (e) => e.event_type === "page_view" && e.user_id !== "u9" && countryOf(e.user_id) === "US"
      )
      const users = [...new Set(passing.map((e) => e.user_id))]
      for (const user of users) {
        assert.deepStrictEqual(
          started.filter((s) => s.user === user).map((s) => s.id),
          passing.filter((e) => e.user_id === user).map((e) => e.event_id),
          `order of ${user}`
        )
      }
      assert.strictEqual(overlaps, 0)
      assert.strictEqual(maxInFlight, Math.min(limit, users.length))
      assert.strictEqual(yield* Ref.get(acked), events.length)
    }).pipe(Effect.scoped)
  )

  it.effect("run - a changed filter file is applied once reloaded", () =>
    Effect.gen(function* () {
      const h = yield* harness
      yield* Ref.set(h.text, `event.eventType == "click"`)
      yield* TestClock.adjust("2 seconds")
      yield* Effect.yieldNow
      assert.strictEqual(yield* h.filter.version, 1)
      const events = eventsOf(100, 30)
      yield* h.runBatch(events)
      assert.deepStrictEqual(
        [...h.delivered].sort(),
        events
          .filter((e) => e.event_type === "click")
          .map((e) => e.event_id)
          .sort()
      )
    }).pipe(Effect.scoped)
  )

  it.effect("run - an invalid filter file stops the job at start with one line and the position", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "trigger-filter-")))
      const path = join(dir, "filter.cel")
      yield* Effect.promise(() => writeFile(path, `event.eventType == "page_view" &&\n`))
      const base = yield* TriggerConfig.load()
      const readiness = yield* Readiness.make()
      const error = yield* Effect.flip(
        TriggerCommand.run({ ...base, filterScriptPath: path }, { stateDir: Option.none() }, readiness)
      )
      assert.include(error.message, path)
      assert.match(error.message, /expression 1:\d+/)
      assert.notInclude(error.message, "\n")
    }).pipe(Effect.scoped)
  )
})
