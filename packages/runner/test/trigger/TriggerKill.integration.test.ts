import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka, FakeProfileApi, FakeWebhook } from "@sluice/testkit"
import { Effect, Fiber } from "effect"
import * as Generator from "../../src/jobs/trigger/Generator.ts"
import * as Publish from "../../src/jobs/trigger/Publish.ts"
import * as Services from "../../src/Services.ts"
import { readTopics } from "../support/kafka.ts"
import { freePort, metricValue, scrape } from "../support/metrics.ts"
import { pollUntil } from "../support/poll.ts"
import { spawnSluice, stopSluice } from "../support/spawnSluice.ts"

const SEED = 13
const USERS = 150
const API_SEED = 42
const COUNT = 2000

describe("sluice trigger run", { timeout: 300_000 }, () => {
  it.live("kill -9 mid-run and a restart: every passing event reaches the webhook, and state is not reloaded", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
      const api = yield* FakeProfileApi.make({ seed: API_SEED })
      const hook = yield* FakeWebhook.make()
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "trigger-kill-")))
      const filterPath = join(dir, "filter.cel")
      yield* Effect.promise(() => writeFile(filterPath, `event.eventType == "page_view" && user.country == "US"\n`))
      const env = {
        KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
        PROFILE_API_BASE_URL: api.url,
        ACTIONS_WEBHOOK_URL: `${hook.url}/events`,
        FILTER_SCRIPT_PATH: filterPath,
        TRIGGER_GROUP_ID: "trigger-kill",
        METRICS_PORT: "0"
      }
      const start = (metricsPort: number) =>
        spawnSluice(
          ["trigger", "run", "--state-dir", join(dir, "state")],
          { ...env, METRICS_PORT: String(metricsPort) },
          { detached: true }
        )

      const events = Generator.events({ seed: SEED, users: USERS }, COUNT)
      const expected = new Set(
        events
          .filter(
            (e) => e.event_type === "page_view" && FakeProfileApi.recordOf(API_SEED, e.user_id).profile.country === "US"
          )
          .map((e) => e.event_id)
      )
      assert.isAbove(expected.size, 200)
      const ids = Effect.map(hook.requests, (rs) => rs.map((r) => (r.json as { readonly event_id: string }).event_id))

      const first = start(0)
      const client = yield* Services.kafkaClient({ bootstrapServers: [broker.bootstrap], clientId: "test-generator" })
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
      // The load runs across the kill: about 10 s of events.
      const load = yield* Effect.forkScoped(
        Publish.run(producer, {
          topic: "user-tracking-events",
          seed: SEED,
          users: USERS,
          count: COUNT,
          eventsPerSecond: 200
        })
      )
      yield* pollUntil(
        "a share of the actions before the kill",
        Effect.map(ids, (xs) => ({
          delivered: xs.length,
          exit: first.child.exitCode,
          stderr: first.output().stderr.slice(-400)
        })),
        ({ delivered, exit }) => delivered >= expected.size / 4 || exit !== null,
        { timeoutMs: 120_000, intervalMs: 50 }
      )
      assert.isNull(first.child.exitCode, first.output().stderr)
      const committedOffsets = Effect.map(
        Effect.promise(() => client.admin.fetchOffsets({ groupId: "trigger-kill", topics: ["user-tracking-events"] })),
        (topics) => new Map(topics[0]!.partitions.map((p) => [p.partition, Math.max(0, Number(p.offset))]))
      )
      const committedSum = Effect.map(committedOffsets, (offsets) => [...offsets.values()].reduce((a, b) => a + b, 0))
      // Killed once the job has committed some offsets, so the restart resumes from them rather than the start.
      yield* pollUntil("the first commits", committedSum, (n) => n > 0, { timeoutMs: 60_000 })
      const calledBefore = new Set((yield* api.callsByUser).keys())
      const deliveredBefore = (yield* ids).length

      // Read just before the kill: at most what was committed when it came.
      const offsetsAtKill = yield* committedOffsets
      const committedAtKill = [...offsetsAtKill.values()].reduce((a, b) => a + b, 0)
      yield* Effect.sync(() => process.kill(-first.child.pid!, "SIGKILL"))
      yield* Effect.promise(() => first.done)
      const secondPort = yield* freePort()
      const second = start(secondPort)
      yield* Effect.addFinalizer(() => stopSluice(second))
      yield* Fiber.join(load)
      const received = yield* pollUntil(
        "every passing event at the webhook after the restart",
        Effect.map(ids, (xs) => ({
          xs,
          missing: [...expected].filter((id) => !xs.includes(id)).length,
          exit: second.child.exitCode,
          stderr: second.output().stderr.slice(-600)
        })),
        ({ missing, exit }) => missing === 0 || exit !== null,
        { timeoutMs: 180_000, intervalMs: 500 }
      )
      assert.isNull(second.child.exitCode, second.output().stderr)
      // Resumed from the dead process's commits: the restart read only what they did not cover.
      const readAgain = metricValue(yield* scrape(secondPort), "sluice_records_in_total")
      assert.isAtMost(readAgain, COUNT - committedAtKill)
      // At least once, and nothing that does not pass the filter.
      assert.deepStrictEqual(
        received.xs.filter((id) => !expected.has(id)),
        []
      )
      for (const r of yield* hook.requests) {
        assert.strictEqual(r.headers["idempotency-key"], (r.json as { readonly event_id: string }).event_id)
      }
      // Durable state: users whose checkpoint was written before the kill are not asked again
      // (only the few whose first events were in flight when it came).
      // A user with an event below its partition's commit had its checkpoint flushed before that
      // event was acknowledged, so it is durable: the restart must not ask for it again. (Users
      // whose first events were in flight at the kill may be asked again.)
      const input = yield* readTopics(client, ["user-tracking-events"], COUNT)
      const durable = new Set(
        input
          .filter((r) => r.offset < BigInt(offsetsAtKill.get(r.partition) ?? 0))
          .map((r) => (JSON.parse(new TextDecoder().decode(r.value)) as { readonly user_id: string }).user_id)
      )
      assert.isAbove(durable.size, 10)
      const calls = yield* api.callsByUser
      const askedAgain = [...durable].filter((user) => (calls.get(user) ?? 0) > 1)
      const duplicates = received.xs.length - new Set(received.xs).size
      yield* Effect.logInfo("kill test").pipe(
        Effect.annotateLogs({
          expected: expected.size,
          deliveredBefore,
          duplicates,
          usersCalledBefore: calledBefore.size,
          durableUsers: durable.size,
          askedAgain: askedAgain.length,
          committedAtKill,
          readAgain
        })
      )
      assert.deepStrictEqual(askedAgain, [])
    }).pipe(Effect.scoped)
  )
})
