import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { KafkaSource } from "@sluice/kafka"
import { EmbeddedKafka, FakeProfileApi, FakeWebhook } from "@sluice/testkit"
import { Effect, Fiber, Option, Stream } from "effect"
import * as Readiness from "../../src/http/Readiness.ts"
import * as Generator from "../../src/jobs/trigger/Generator.ts"
import * as Publish from "../../src/jobs/trigger/Publish.ts"
import * as ReplayActions from "../../src/jobs/trigger/ReplayActions.ts"
import * as TriggerCommand from "../../src/jobs/trigger/TriggerCommand.ts"
import * as TriggerConfig from "../../src/jobs/trigger/TriggerConfig.ts"
import * as Services from "../../src/Services.ts"

const SEED = 5
const USERS = 80

const live = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/** Polls `read` every 100 ms until `done` holds, for at most `seconds`; answers the last value. */
const pollUntil = <A>(read: Effect.Effect<A>, done: (a: A) => boolean, seconds = 60) =>
  Effect.gen(function* () {
    let value = yield* read
    for (let i = 0; i < seconds * 10 && !done(value); i++) {
      yield* live(100)
      value = yield* read
    }
    return value
  })

// The system under test: broker, fake services, the filter file, and the job running against them.
const system = (options: {
  readonly count: number
  readonly webhookTimeoutMs?: number
  readonly groupId: string
  readonly exactlyOnce?: boolean
}) =>
  Effect.gen(function* () {
    const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
    const api = yield* FakeProfileApi.make({ seed: 42 })
    const hook = yield* FakeWebhook.make()
    const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "trigger-test-")))
    const filterPath = join(dir, "filter.cel")
    yield* Effect.promise(() => writeFile(filterPath, `event.eventType == "page_view" && user.country == "US"\n`))
    const base = yield* TriggerConfig.load()
    const config: TriggerConfig.TriggerConfig = {
      ...base,
      bootstrapServers: [broker.bootstrap],
      groupId: options.groupId,
      metricsPort: 0,
      profileApi: { ...base.profileApi, baseUrl: api.url },
      filterScriptPath: filterPath,
      actions: {
        webhook: Option.some({ url: `${hook.url}/events`, timeoutMs: options.webhookTimeoutMs ?? 3000 }),
        debug: false
      }
    }
    const readiness = yield* Readiness.make()
    const job = yield* Effect.forkScoped(
      TriggerCommand.run(
        config,
        options.exactlyOnce
          ? { stateDir: Option.some(join(dir, "state")), guarantee: "exactly-once" }
          : { stateDir: Option.none() },
        readiness
      )
    )
    const client = yield* Services.kafkaClient({
      bootstrapServers: config.bootstrapServers,
      clientId: "test-generator"
    })
    const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
    const events = Generator.events({ seed: SEED, users: USERS }, options.count)
    yield* Publish.run(producer, {
      topic: config.topics.input,
      seed: SEED,
      users: USERS,
      count: options.count,
      eventsPerSecond: 100_000
    })
    // The reference, computed from the generator and the API's deterministic profiles.
    const expected = new Set(
      events
        .filter((e) => e.event_type === "page_view" && FakeProfileApi.recordOf(42, e.user_id).profile.country === "US")
        .map((e) => e.event_id)
    )
    return { broker, api, hook, client, config, job, events, expected }
  })

describe("trigger job", { timeout: 120_000 }, () => {
  it.live("run - the webhook receives exactly the passing events, each with its idempotency key", () =>
    Effect.gen(function* () {
      const { api, hook, job, events, expected } = yield* system({ count: 600, groupId: "trigger-e2e" })
      assert.isAbove(expected.size, 20)
      const ids = (received: ReadonlyArray<FakeWebhook.Received>) =>
        new Set(received.map((r) => (r.json as { readonly event_id: string }).event_id))
      const received = yield* pollUntil(hook.requests, (rs) => ids(rs).size >= expected.size)
      assert.isUndefined(job.pollUnsafe())
      assert.deepStrictEqual([...ids(received)].sort(), [...expected].sort())
      // No crash, so no duplicates.
      assert.strictEqual(received.length, expected.size)
      for (const r of received) {
        const body = r.json as { readonly event_id: string; readonly user: { readonly country: string } }
        assert.strictEqual(r.headers["idempotency-key"], body.event_id)
        assert.strictEqual(body.user.country, "US")
        // No OpenTelemetry exporter is configured, so the HTTP client writes no trace headers.
        assert.isUndefined(r.headers.traceparent)
        assert.isUndefined(r.headers.b3)
      }
      // Each user's events reach the webhook in the order the generator produced them (one partition per user).
      const userOf = new Map(events.map((e) => [e.event_id, e.user_id]))
      for (const user of new Set(events.map((e) => e.user_id))) {
        assert.deepStrictEqual(
          received
            .map((r) => (r.json as { readonly event_id: string }).event_id)
            .filter((id) => userOf.get(id) === user),
          events.filter((e) => e.user_id === user && expected.has(e.event_id)).map((e) => e.event_id),
          `order of ${user}`
        )
      }
      // One Profile API call per user: every event came within the 10-minute time to live.
      const users = new Set(events.map((e) => e.user_id))
      assert.strictEqual(yield* api.totalCalls, users.size)
      yield* Fiber.interrupt(job)
    }).pipe(Effect.scoped)
  )

  it.live(
    "run - exactly-once with a state directory: the webhook receives exactly the passing events; offsets and checkpoints commit in transactions",
    () =>
      Effect.gen(function* () {
        const { broker, config, hook, job, expected } = yield* system({
          count: 600,
          groupId: "trigger-eos",
          exactlyOnce: true
        })
        const ids = (received: ReadonlyArray<FakeWebhook.Received>) =>
          new Set(received.map((r) => (r.json as { readonly event_id: string }).event_id))
        const received = yield* pollUntil(hook.requests, (rs) => ids(rs).size >= expected.size)
        assert.isUndefined(job.pollUnsafe())
        assert.deepStrictEqual([...ids(received)].sort(), [...expected].sort())
        assert.strictEqual(received.length, expected.size)
        // Every input offset is committed, by the partitions' transactional producers.
        const ends = yield* broker.endOffsets(config.topics.input)
        const committed = yield* pollUntil(
          Effect.map(broker.committedOffsets("trigger-eos"), (groups) => groups.get(config.topics.input)),
          (byPartition) => ends.every((end, p) => end === 0 || (byPartition?.get(p) ?? -1) >= end)
        )
        for (const [p, end] of ends.entries()) {
          assert.isAtLeast(committed?.get(p) ?? -1, end, `partition ${p}`)
          if (end === 0) continue
          const txn = yield* broker.describeTransaction(`trigger-eos-${config.topics.input}-${p}`)
          assert.isDefined(txn, `transactional producer of partition ${p}`)
        }
        // The checkpoints' changelog is written in those transactions: it holds records and commit markers.
        const changelog = yield* broker.stableOffsets("trigger-eos-trigger-checkpoints-changelog")
        assert.isAbove(
          changelog.reduce((a, b) => a + b, 0),
          0
        )
        yield* Fiber.interrupt(job)
      }).pipe(Effect.scoped)
  )

  it.live("run - a stalled receiver: retries, then trigger-actions-failed; replay-actions delivers them later", () =>
    Effect.gen(function* () {
      const { hook, broker, client, config, job, expected } = yield* system({
        count: 60,
        webhookTimeoutMs: 100,
        groupId: "trigger-stall"
      }).pipe(Effect.tap(({ hook }) => hook.set(FakeWebhook.Behaviour.stall)))
      assert.isAbove(expected.size, 2)
      const failedCount = Effect.map(broker.endOffsets(config.topics.actionsFailed), (xs) =>
        xs.reduce((a, b) => a + b, 0)
      )
      // The topic appears once the job has created it.
      const total = yield* pollUntil(failedCount.pipe(Effect.orElseSucceed(() => 0)), (n) => n >= expected.size)
      assert.strictEqual(total, expected.size)
      // Each was tried more than once before giving up.
      const requests = yield* hook.requests
      assert.isAbove(requests.length, expected.size)
      const failed = yield* KafkaSource.make(client, { topics: [config.topics.actionsFailed], groupId: "reader" })
      const records = yield* failed.pipe(Stream.take(expected.size), Stream.runCollect)
      const ids = new Set(
        Array.from(records, (r) => JSON.parse(new TextDecoder().decode(r.value as Uint8Array)).event_id as string)
      )
      assert.deepStrictEqual([...ids].sort(), [...expected].sort())
      yield* Fiber.interrupt(job)
      // The receiver recovers; replay-actions sends each failed action again, with its key.
      yield* hook.set(FakeWebhook.Behaviour.accept)
      const replay = yield* Effect.forkScoped(ReplayActions.run(config))
      const keyed = (rs: ReadonlyArray<FakeWebhook.Received>) => new Set(rs.map((r) => r.headers["idempotency-key"]))
      const delivered = yield* pollUntil(hook.delivered, (rs) => keyed(rs).size >= expected.size)
      assert.deepStrictEqual([...keyed(delivered)].sort(), [...expected].sort())
      for (const r of delivered) {
        assert.strictEqual((r.json as { readonly event_id: string }).event_id, r.headers["idempotency-key"])
      }
      yield* Fiber.interrupt(replay)
    }).pipe(Effect.scoped)
  )
})
