// The consumer-group flags of the real CLI: the session timeout reaches the
// broker (a member killed with -9 is evicted after it, not after the client's
// 30 s default), and a group instance id makes the member static (KIP-345).
import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import { topicEnv } from "./support/kafka.ts"
import { freePort } from "./support/metrics.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

/** Whether the job on `port` answers /readyz with 200 (its partitions are assigned). */
const ready = (port: number) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status === 200,
      () => false
    )
  )

describe("sluice consumer-group flags", () => {
  it.live(
    "--session-timeout reaches the broker: a member killed with -9 is evicted after it",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 2 })
        yield* broker.createTopic(topicEnv.ENRICHED_PAYMENTS_TOPIC, 2)
        const group = `large-${Math.random().toString(36).slice(2, 8)}`
        const job = spawnSluice(
          ["claims", "large", "--session-timeout", "6s", "--heartbeat-interval", "500ms", "--rebalance-timeout", "8s"],
          {
            ...topicEnv,
            KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
            GROUP_ID: group,
            METRICS_PORT: String(yield* freePort())
          }
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => job.child.kill("SIGKILL")))
        yield* pollUntil(
          "the job to join its group",
          broker.describeGroup(`${group}-large`),
          (g) => g.state === "Stable" && g.members === 1,
          { timeoutMs: 45_000 }
        )
        // No LeaveGroup: only the session timeout the member sent can remove it.
        job.child.kill("SIGKILL")
        yield* Effect.promise(() => job.done)
        const killedAt = Date.now()
        yield* pollUntil("the member to be evicted", broker.describeGroup(`${group}-large`), (g) => g.members === 0, {
          timeoutMs: 25_000,
          intervalMs: 100
        })
        const evictedAfter = Date.now() - killedAt
        // Its last heartbeat was at most 500 ms before the kill.
        assert.isAtLeast(evictedAfter, 5_000, `evicted after ${evictedAfter} ms, before its session could expire`)
        assert.isBelow(evictedAfter, 12_000, `evicted after ${evictedAfter} ms: not the 6 s session`)
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "--group-instance-id: a member killed with -9 and restarted under its id gets its partitions back, no rebalance, before its session ends",
    () =>
      Effect.gen(function* () {
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 4 })
        yield* broker.createTopic(topicEnv.ENRICHED_PAYMENTS_TOPIC, 4)
        const group = `static-${Math.random().toString(36).slice(2, 8)}`
        // Long, so that a loaded machine's process start-up (15-30 s seen) stays well inside it.
        const session = 60_000
        const start = (instance: string) =>
          Effect.gen(function* () {
            const port = yield* freePort()
            const job = spawnSluice(
              ["claims", "large", "--group-instance-id", instance, "--session-timeout", `${session}`],
              { ...topicEnv, KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, GROUP_ID: group, METRICS_PORT: String(port) }
            )
            yield* Effect.addFinalizer(() => Effect.sync(() => job.child.kill("SIGKILL")))
            return { job, ready: ready(port) }
          })
        const a = yield* start("large-a")
        const b = yield* start("large-b")
        yield* pollUntil("both members to own partitions", Effect.all([a.ready, b.ready]), (r) => r.every(Boolean), {
          timeoutMs: 60_000
        })
        const before = yield* broker.groupGeneration(`${group}-large`)
        assert.deepStrictEqual(yield* broker.describeGroup(`${group}-large`), { state: "Stable", members: 2 })

        b.job.child.kill("SIGKILL")
        yield* Effect.promise(() => b.job.done)
        const killedAt = Date.now()
        const again = yield* start("large-b")
        yield* pollUntil("the restarted member to own partitions", again.ready, Boolean, {
          timeoutMs: session,
          intervalMs: 50
        })
        const recoveredAfter = Date.now() - killedAt
        console.log(
          `static member back with its partitions ${recoveredAfter} ms after the kill (session ${session} ms)`
        )
        // Same generation: the other member never went through a rebalance.
        assert.strictEqual(yield* broker.groupGeneration(`${group}-large`), before)
        assert.deepStrictEqual(yield* broker.describeGroup(`${group}-large`), { state: "Stable", members: 2 })
        assert.isTrue(yield* a.ready)
        assert.isBelow(recoveredAfter, session, "the partitions came back only after the session timed out")
        // A static member does not leave on SIGTERM either: the group keeps its place.
        assert.strictEqual(yield* stopSluice(again.job), 0)
        assert.deepStrictEqual(yield* broker.describeGroup(`${group}-large`), { state: "Stable", members: 2 })
      }).pipe(Effect.scoped),
    240_000
  )
})
