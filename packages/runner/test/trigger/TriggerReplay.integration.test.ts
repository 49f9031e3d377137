import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import type { Admin } from "@sluice/kafka"
import { EmbeddedKafka, FakeProfileApi, FakeWebhook } from "@sluice/testkit"
import { Effect, Fiber, Option } from "effect"
import * as Readiness from "../../src/http/Readiness.ts"
import * as Generator from "../../src/jobs/trigger/Generator.ts"
import * as ReplayFrom from "../../src/jobs/trigger/ReplayFrom.ts"
import * as TriggerCommand from "../../src/jobs/trigger/TriggerCommand.ts"
import * as TriggerConfig from "../../src/jobs/trigger/TriggerConfig.ts"
import * as Services from "../../src/Services.ts"
import { pollUntil } from "../support/poll.ts"
import { spawnSluice } from "../support/spawnSluice.ts"

const SEED = 8
const USERS = 60
const API_SEED = 42
const COUNT = 400

const idsOf = (received: ReadonlyArray<FakeWebhook.Received>) =>
  received.map((r) => (r.json as { readonly event_id: string }).event_id)

describe("trigger replay", { timeout: 180_000 }, () => {
  it.live("--from-timestamp re-fires exactly the actions of the events at or after it", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
      const api = yield* FakeProfileApi.make({ seed: API_SEED })
      const hook = yield* FakeWebhook.make()
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "trigger-replay-")))
      const filterPath = join(dir, "filter.cel")
      yield* Effect.promise(() => writeFile(filterPath, `event.eventType == "page_view" && user.country == "US"\n`))
      const base = yield* TriggerConfig.load()
      const config: TriggerConfig.TriggerConfig = {
        ...base,
        bootstrapServers: [broker.bootstrap],
        groupId: "trigger-replay",
        metricsPort: 0,
        profileApi: { ...base.profileApi, baseUrl: api.url },
        filterScriptPath: filterPath,
        actions: { webhook: Option.some({ url: `${hook.url}/events`, timeoutMs: 3000 }), debug: false }
      }
      const start = (replayFrom: Option.Option<Admin.ResetTarget>) =>
        Effect.flatMap(Readiness.make(), (readiness) =>
          // Interrupting a run closes its consumer, which leaves the group: the replay's reset needs it empty.
          Effect.forkScoped(TriggerCommand.run(config, { stateDir: Option.none(), replayFrom }, readiness))
        )

      // Event i is stamped `stamp0 + i` ms: record times rise in every partition.
      const events = Generator.events({ seed: SEED, users: USERS }, COUNT)
      const stamp0 = 1_780_000_000_000
      const client = yield* Services.kafkaClient({ bootstrapServers: config.bootstrapServers, clientId: "test" })
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
      // Caught up: the group committed every partition to its end.
      const caughtUp = Effect.gen(function* () {
        const ends = (yield* broker.endOffsets(config.topics.input)).join(",")
        const committed = Effect.promise(() =>
          client.admin.fetchOffsets({ groupId: config.groupId, topics: [config.topics.input] })
        )
        yield* pollUntil(
          "the group to commit to the end",
          Effect.map(committed, (topics) =>
            [...topics[0]!.partitions]
              .sort((a, b) => a.partition - b.partition)
              .map((p) => p.offset)
              .join(",")
          ),
          (offsets) => offsets === ends,
          { timeoutMs: 90_000 }
        )
      })
      const first = yield* start(Option.none())
      yield* Effect.promise(() =>
        producer.send({
          topic: config.topics.input,
          acks: -1,
          messages: events.map((e, i) => ({ ...Generator.toMessage(e), timestamp: String(stamp0 + i) }))
        })
      )
      const passes = (e: (typeof events)[number]) =>
        e.event_type === "page_view" && FakeProfileApi.recordOf(API_SEED, e.user_id).profile.country === "US"
      const expected = events.filter(passes).map((e) => e.event_id)
      assert.isAbove(expected.length, 30)
      yield* pollUntil(
        "the first run's actions",
        Effect.map(hook.requests, idsOf),
        (ids) => ids.length >= expected.length,
        {
          timeoutMs: 90_000
        }
      )
      // Stopped once every record is committed, so the restart re-sends nothing of its own accord.
      yield* caughtUp
      yield* Fiber.interrupt(first)
      const firstRun = idsOf(yield* hook.requests)
      assert.deepStrictEqual([...firstRun].sort(), [...expected].sort())

      // Replay from the time of event 250: the reference is every passing event from index 250 on.
      const from = 250
      const at = new Date(stamp0 + from).toISOString()
      const target = yield* ReplayFrom.parseTimestamp(at)
      const replayed = events
        .slice(from)
        .filter(passes)
        .map((e) => e.event_id)
      assert.isAbove(replayed.length, 10)
      const second = yield* start(Option.some(target))
      yield* pollUntil(
        "the replayed actions",
        Effect.map(hook.requests, (rs) => ({ n: rs.length - firstRun.length, exit: String(second.pollUnsafe()) })),
        ({ exit, n }) => n >= replayed.length || exit !== "undefined",
        { timeoutMs: 90_000 }
      ).pipe(Effect.tap(({ exit }) => Effect.sync(() => assert.strictEqual(exit, "undefined"))))
      yield* caughtUp
      const again = idsOf(yield* hook.requests).slice(firstRun.length)
      assert.deepStrictEqual([...again].sort(), [...replayed].sort())
      yield* Fiber.interrupt(second)
    }).pipe(Effect.scoped)
  )

  it.effect("flags - one clear line for bad values, none for good ones", () =>
    Effect.gen(function* () {
      const message = (flags: { fromOffset?: string; fromTimestamp?: string }) =>
        ReplayFrom.fromFlags({
          fromOffset: Option.fromNullishOr(flags.fromOffset),
          fromTimestamp: Option.fromNullishOr(flags.fromTimestamp)
        }).pipe(
          Effect.flip,
          Effect.map((e) => e.message)
        )
      for (const [flags, pattern] of [
        [{ fromOffset: "-3" }, /--from-offset "-3" is not an offset/],
        [{ fromOffset: "0:1,0:2" }, /partition 0 twice/],
        [{ fromTimestamp: "yesterday" }, /--from-timestamp "yesterday" is not an ISO 8601/],
        [{ fromTimestamp: "2026-01-01T10:00:00" }, /with a zone/],
        [{ fromTimestamp: "2026-02-30" }, /is not an ISO 8601/],
        [{ fromOffset: "1", fromTimestamp: "2026-01-01" }, /both given/]
      ] as const) {
        const text = yield* message(flags)
        assert.match(text, pattern)
        assert.notInclude(text, "\n")
      }
      const ok = (flags: { fromOffset?: string; fromTimestamp?: string }) =>
        ReplayFrom.fromFlags({
          fromOffset: Option.fromNullishOr(flags.fromOffset),
          fromTimestamp: Option.fromNullishOr(flags.fromTimestamp)
        })
      assert.deepStrictEqual(yield* ok({}), Option.none())
      assert.deepStrictEqual(yield* ok({ fromOffset: "120" }), Option.some({ _tag: "Offset", offset: 120n }))
      assert.deepStrictEqual(
        yield* ok({ fromOffset: "0:120, 3:40" }),
        Option.some({
          _tag: "Offsets",
          offsets: new Map([
            [0, 120n],
            [3, 40n]
          ])
        })
      )
      assert.deepStrictEqual(
        yield* ok({ fromTimestamp: "2026-01-01T12:00:00+02:00" }),
        Option.some({ _tag: "Timestamp", timestamp: Date.UTC(2026, 0, 1, 10) })
      )
    })
  )

  it.live("cli - a bad --from-timestamp is one line on stderr and exit 1, before anything connects", () =>
    Effect.gen(function* () {
      // Nothing listens on this broker address: the flag is rejected before any connection is tried.
      const r = yield* Effect.promise(
        () =>
          spawnSluice(["trigger", "run", "--from-timestamp", "yesterday"], {
            KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1",
            METRICS_PORT: "0"
          }).done
      )
      assert.strictEqual(r.status, 1, r.stderr)
      const lines = r.stderr.split("\n").filter((l) => l.trim() !== "")
      assert.deepStrictEqual(lines, [
        'error: --from-timestamp "yesterday" is not an ISO 8601 date or date-time with a zone (2026-01-01T10:00:00Z) (check --from-timestamp)'
      ])
    })
  )
})
