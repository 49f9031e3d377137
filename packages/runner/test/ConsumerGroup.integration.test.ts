// The consumer-group flags of the real CLI: the session timeout reaches the
// broker (a member killed with -9 is evicted after it, not after the client's
// 30 s default), and static membership is refused with one line.
import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import * as ConsumerGroup from "../src/ConsumerGroup.ts"
import { topicEnv } from "./support/kafka.ts"
import { freePort } from "./support/metrics.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "")

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
    "--group-instance-id - one line: static membership needs a KIP-345 client, exit 1",
    () =>
      Effect.gen(function* () {
        const run = spawnSluice(["claims", "enrich", "--group-instance-id", "enrich-0"], {
          // Nothing listens there: the command must fail before it connects to anything.
          KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1",
          METRICS_PORT: String(yield* freePort())
        })
        const r = yield* Effect.promise(() => run.done)
        assert.strictEqual(r.status, 1, r.stderr)
        assert.deepStrictEqual(lines(r.stderr), [
          `error: ${ConsumerGroup.staticMembershipUnsupported} (check --group-instance-id: unset it)`
        ])
      }),
    30_000
  )
})
