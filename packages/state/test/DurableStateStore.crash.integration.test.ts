// Crash safety of state: the stateful job runs as a child process that is
// killed with SIGKILL at random moments, five times, while it works through
// its input, restarting each time on the same local directory (so restarts
// resume from the local checkpoint and the changelog's tail). After each kill
// the changelog (restored into a fresh directory) must hold the effect of
// every record whose offset was committed: an offset is committed only after
// the changelog writes it caused were acknowledged. After the last run every
// update of every record is there (at least once); a replayed record may be
// counted twice, bounded by what a kill can leave uncommitted.
//
// Exactly-once: the same job with its offsets and changelog writes in Kafka
// transactions. After each kill (once the killed run's open transaction is
// aborted) the changelog read read_committed EQUALS the effect of exactly the
// records below the committed offsets, and after the last run it equals a
// crash-free reference computed from the input.
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { type KafkaClient, Transactions } from "@sluice/kafka"
import { Effect, Schedule } from "effect"
import * as Job from "./fixtures/counterJob.ts"
import { awaitCommittedToEnd, freshInput, produce, readAll, tempDir, timeOf, withBroker } from "./fixtures/support.ts"

const worker = join(import.meta.dirname, "fixtures", "counter-worker.ts")
const partitions = 3
const keys = 300
// Small enough that the last run catches up within seconds; each kill still
// lands mid-run (the job needs several seconds for its input).
const total = 8_000
const kills = 5
const maxInFlight = 2_000 // as in fixtures/counterJob.ts
const commitEvery = 1_000

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

interface Input {
  readonly partition: number
  readonly offset: bigint
  readonly key: string
  readonly time: number
}

// Every input record with its partition and offset, as `produce` wrote them
// to the fresh topic (partition = key index mod 3, offsets in order).
const inputsOf = (): Array<Input> => {
  const next = [0n, 0n, 0n]
  return Array.from({ length: total }, (_, i) => {
    const partition = (i % keys) % partitions
    const offset = next[partition]!
    next[partition] = offset + 1n
    return { partition, offset, key: `u${i % keys}`, time: timeOf(i) }
  })
}

// The state the records below the committed offsets must have caused.
const expected = (mode: Job.Mode, inputs: ReadonlyArray<Input>, upTo: (partition: number) => bigint) => {
  const out = new Map<string, number>()
  for (const record of inputs) {
    if (record.offset >= upTo(record.partition)) continue
    for (const key of Job.stateKeys(mode, record.key, record.time)) out.set(key, (out.get(key) ?? 0) + 1)
  }
  return out
}

// One crash run's fixture: a fresh input topic holding the input, and the
// worker processing it for `mode` (exactly-once when asked) on a local
// directory that every run of the worker shares.
const fixture = (bootstrap: string, mode: Job.Mode, guarantee: "at-least-once" | "exactly-once") =>
  Effect.gen(function* () {
    const { client, input, group } = yield* freshInput(partitions)
    const directory = yield* tempDir
    yield* produce(client, input, { first: 0, count: total, keys })
    const args = [bootstrap, input, group, directory, mode, ...(guarantee === "exactly-once" ? [guarantee] : [])]
    /** The group's committed offset of each input partition (-1 for none). */
    const committedOffsets = Effect.map(
      Effect.promise(() => client.admin.fetchOffsets({ groupId: group, topics: [input] })),
      (committed) => new Map(committed[0]!.partitions.map((p) => [p.partition, BigInt(p.offset)]))
    )
    return {
      client,
      input,
      group,
      inputs: inputsOf(),
      committedOffsets,
      /** Starts a worker process; it has begun once it prints. */
      start: start(args),
      /** The state as the changelog holds it, restored into a fresh directory. */
      state: readAll({ group, partitions, name: mode }),
      /** A last run, until the group has committed the whole input; then the state. */
      runToEnd: Effect.gen(function* () {
        const last = yield* start(args)
        yield* awaitCommittedToEnd(client, group, input)
        yield* kill(last)
        return yield* readAll({ group, partitions, name: mode })
      })
    }
  })

const crashRun = (mode: Job.Mode) =>
  withBroker((bootstrap) =>
    Effect.gen(function* () {
      const run = yield* fixture(bootstrap, mode, "at-least-once")

      for (let k = 0; k < kills; k++) {
        const child = yield* run.start
        yield* Effect.sleep(`${100 + Math.floor(Math.random() * 1_400)} millis`)
        yield* kill(child)
        const upTo = yield* run.committedOffsets
        const state = yield* run.state
        for (const [key, count] of expected(mode, run.inputs, (p) => upTo.get(p) ?? -1n)) {
          assert.isAtLeast(state.get(key) ?? 0, count, `${key}: committed updates missing after kill ${k + 1}`)
        }
      }
      const state = yield* run.runToEnd
      const reference = expected(mode, run.inputs, () => BigInt(Number.MAX_SAFE_INTEGER))
      let duplicates = 0
      for (const [key, count] of reference) {
        const got = state.get(key) ?? 0
        assert.isAtLeast(got, count, `${key}: updates missing`)
        duplicates += got - count
      }
      assert.strictEqual(state.size, reference.size)
      const perRecord = mode === "counts" ? 1 : Job.WINDOW_SIZE / Job.WINDOW_HOP
      process.stdout.write(`state crash test (${mode}): ${kills} kills, ${duplicates} duplicate updates\n`)
      assert.isAtMost(duplicates, kills * (maxInFlight + 2 * commitEvery) * perRecord)
    })
  )

// Registers the transactional ids of the job's input partitions, which
// aborts their open transactions (what a new owner's claim does).
const fence = (client: KafkaClient.KafkaClient["Service"], group: string, input: string) =>
  Effect.forEach(
    Array.from({ length: partitions }, (_, partition) => partition),
    (partition) =>
      Effect.scoped(
        Effect.gen(function* () {
          const producer = yield* client.producer({
            transactionalId: Transactions.transactionalId(group, { topic: input, partition }),
            idempotent: true,
            maxInFlightRequests: 1
          })
          const txn = yield* Effect.promise(() => producer.transaction!())
          yield* Effect.promise(() => txn.abort())
        })
      ),
    { discard: true }
  )

const crashRunExactlyOnce = (mode: Job.Mode) =>
  withBroker((bootstrap) =>
    Effect.gen(function* () {
      const run = yield* fixture(bootstrap, mode, "exactly-once")
      const { client, group, input, inputs, committedOffsets } = run
      const assertEqual = (
        state: ReadonlyMap<string, number>,
        reference: ReadonlyMap<string, number>,
        when: string
      ) => {
        for (const [key, count] of reference) assert.strictEqual(state.get(key) ?? 0, count, `${key} ${when}`)
        for (const key of state.keys()) assert.isTrue(reference.has(key), `${key}: not in the reference ${when}`)
      }

      const progress: Array<number> = []
      const committedCount = Effect.map(committedOffsets, (upTo) =>
        [...upTo.values()].reduce((a, b) => a + Math.max(0, Number(b)), 0)
      )
      for (let k = 0; k < kills; k++) {
        const from = yield* committedCount
        const child = yield* run.start
        // Killed mid-run: once this run has committed something (a run first
        // claims its partitions, fencing the killed one, and restores each
        // one's state), then at a random moment within the next second.
        yield* committedCount.pipe(
          Effect.filterOrFail((n) => n > from || n >= total),
          Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 3_000 })
        )
        yield* Effect.sleep(`${Math.floor(Math.random() * 1_000)} millis`)
        yield* kill(child)
        // The restore reads read_committed up to the changelog's end, so the
        // killed run's open transactions are aborted first, as its successor
        // would: registering its transactional ids fences it.
        yield* fence(client, group, input)
        const state = yield* run.state
        const upTo = yield* committedOffsets
        progress.push(yield* committedCount)
        assertEqual(
          state,
          expected(mode, inputs, (p) => upTo.get(p) ?? -1n),
          `after kill ${k + 1} (offsets ${[...upTo.values()].join(",")})`
        )
      }
      const state = yield* run.runToEnd
      assertEqual(
        state,
        expected(mode, inputs, () => BigInt(Number.MAX_SAFE_INTEGER)),
        "at the end"
      )
      process.stdout.write(
        `state crash test (${mode}, exactly-once): ${kills} kills, records committed after each: ${progress.join(", ")} of ${total}; state equals the reference after each kill and at the end\n`
      )
    })
  )

describe("DurableStateStore crash safety", () => {
  // Both jobs at once, each on a broker of its own: the runs mostly wait for
  // group membership, so together they take little longer than one.
  it.live(
    "SIGKILL - a keyed counter and a hopping-window count, each killed five times, miss no committed or final update",
    () => Effect.all([crashRun("counts"), crashRun("windows")], { concurrency: 2, discard: true }),
    180_000
  )
  it.live(
    "SIGKILL - exactly-once: a keyed counter and a hopping-window count, each killed five times, equal the committed input's effect after every kill and a crash-free reference at the end",
    () =>
      Effect.all([crashRunExactlyOnce("counts"), crashRunExactlyOnce("windows")], { concurrency: 2, discard: true }),
    // Each run must commit before it is killed; on a loaded machine a run can
    // take over a minute to get there (see the report in the README's State section).
    300_000
  )
})
