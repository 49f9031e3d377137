// Crash safety: a pipeline process is killed with SIGKILL at random moments,
// several times, while 100,000 records flow. After each kill the committed
// offsets must only cover records whose output already exists (nothing is
// committed before its output was acknowledged), and after the restarts every
// input record's output exists (at least once). A kill replays at most what
// was unfinished (the in-flight bound) plus what finished after the last
// commit (the commit count, `commitEvery` in the worker, and the records that
// completed while that commit was on the wire, at most as many again).
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Stream } from "effect"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as Cluster from "./fixtures/cluster.ts"

const worker = join(import.meta.dirname, "fixtures", "pipe-worker.ts")
const text = new TextDecoder()
const total = 100_000
const kills = 5
const maxInFlight = 2_000
const commitEvery = 1_000 // as in fixtures/pipe-worker.ts

const start = (args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<ChildProcess>((resolve, reject) => {
        const child = spawn(process.execPath, [worker, ...args], { stdio: ["ignore", "pipe", "inherit"] })
        child.stdout!.once("data", () => resolve(child))
        child.once("exit", (code) => reject(new Error(`worker exited early with ${code}`)))
      })
  )

const kill = (child: ChildProcess) =>
  Effect.promise(
    () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
  )

// Every value in the output topic, with how often it appears.
const outputCounts = (client: KafkaClient.KafkaClient["Service"], topic: string) =>
  Effect.gen(function* () {
    const ends = yield* Effect.promise(() => client.admin.fetchTopicOffsets(topic))
    const size = ends.reduce((n, p) => n + Number(p.high), 0)
    const counts = new Map<string, number>()
    if (size === 0) return counts
    yield* Effect.scoped(
      Effect.gen(function* () {
        const records = yield* KafkaSource.make(client, { topics: [topic], groupId: Cluster.unique("reader") })
        yield* records.pipe(
          Stream.tap((e) => e.receipt.ack),
          Stream.take(size),
          Stream.runForEach((e) =>
            Effect.sync(() => {
              const v = text.decode(e.value as Uint8Array)
              counts.set(v, (counts.get(v) ?? 0) + 1)
            })
          )
        )
      })
    )
    return counts
  })

describe("KafkaSource crash safety", () => {
  it.live(
    "SIGKILL - five kills during 100,000 records lose nothing and commit nothing unwritten",
    () =>
      Effect.gen(function* () {
        const brokers = yield* Cluster.brokers
        const client = yield* Cluster.client(brokers)
        const input = Cluster.unique("in")
        const output = Cluster.unique("out")
        const groupId = Cluster.unique("job")
        yield* Admin.ensureTopics([
          { topic: input, partitions: 3 },
          { topic: output, partitions: 3 }
        ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
        const producer = yield* client.producer()
        for (let i = 0; i < total; i += 5_000) {
          yield* Effect.promise(() =>
            producer.send({
              topic: input,
              acks: -1,
              messages: Array.from({ length: 5_000 }, (_, j) => ({ key: `k${(i + j) % 97}`, value: `${i + j}` }))
            })
          )
        }
        // value -> (partition, offset) of the input, to check commits against outputs
        const inputs = new Map<string, readonly [number, bigint]>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const records = yield* KafkaSource.make(client, { topics: [input], groupId: Cluster.unique("index") })
            yield* records.pipe(
              Stream.tap((e) => e.receipt.ack),
              Stream.take(total),
              Stream.runForEach((e) =>
                Effect.sync(() => inputs.set(text.decode(e.value as Uint8Array), [e.origin.partition, e.origin.offset]))
              )
            )
          })
        )

        const args = [brokers.join(","), input, output, groupId, String(maxInFlight)]
        for (let k = 0; k < kills; k++) {
          const child = yield* start(args)
          yield* Effect.sleep(`${300 + Math.floor(Math.random() * 900)} millis`)
          yield* kill(child)
          // Nothing committed before its output was written.
          const committed = yield* Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [input] }))
          const upTo = new Map(committed[0]!.partitions.map((p) => [p.partition, BigInt(p.offset)]))
          const written = yield* outputCounts(client, output)
          for (const [value, [partition, offset]] of inputs) {
            if (offset < (upTo.get(partition) ?? -1n))
              assert.isTrue(written.has(value), `${value} committed, not written`)
          }
        }
        const last = yield* start(args)
        yield* Cluster.awaitCommittedToEnd(client, groupId, input).pipe(
          Effect.retry({ schedule: Schedule.spaced("1 second"), times: 60 })
        )
        yield* kill(last)

        const counts = yield* outputCounts(client, output)
        for (let i = 0; i < total; i++) assert.isTrue(counts.has(`${i}`), `record ${i} missing`)
        const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0)
        process.stdout.write(`crash test: ${kills} kills, ${duplicates} duplicate outputs of ${total}\n`)
        assert.isAtMost(duplicates, kills * (maxInFlight + 2 * commitEvery))
      }),
    300_000
  )
})
