// The keyed counter job over the embedded broker, as instances in this
// process: state moves with partitions between instances through the
// changelog, and a deleted local store is rebuilt from it. The expected
// state is computed from the input by brute force. Input is produced once a
// rebalance has settled: records handled while the group rebalances may be
// handled again by the new owner (at-least-once; the crash test covers it),
// and here the state must equal the input's counts exactly.
import { rmSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Job from "./fixtures/counterJob.ts"
import {
  awaitCommittedToEnd,
  eventually,
  freshInput,
  produce,
  readAll,
  tempDir,
  withBroker
} from "./fixtures/support.ts"

const partitions = 3
const keys = 500

const reference = (count: number) => {
  const out = new Map<string, number>()
  for (let i = 0; i < count; i++) out.set(`u${i % keys}`, (out.get(`u${i % keys}`) ?? 0) + 1)
  return out
}

const sorted = (m: ReadonlyMap<string, number>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

describe("DurableStateStore with a keyed counter job", () => {
  it.live(
    "rebalance - a second instance restores the partitions it takes, then takes all; the state equals the input's counts",
    () =>
      withBroker(() =>
        Effect.gen(function* () {
          const { client, input, group } = yield* freshInput(partitions)
          const options = { input, group, partitions, mode: "counts" as const }

          const first = yield* Scope.make()
          const one = yield* Job.start(client, { ...options, directory: yield* tempDir }).pipe(Scope.provide(first))
          yield* eventually(() => one.owned().size === partitions)
          yield* produce(client, input, { first: 0, count: 6_000, keys })
          yield* awaitCommittedToEnd(client, group, input)

          // The second instance starts with an empty local store.
          const two = yield* Job.start(client, { ...options, directory: yield* tempDir })
          yield* eventually(() => two.owned().size > 0 && one.owned().size + two.owned().size === partitions)
          yield* produce(client, input, { first: 6_000, count: 6_000, keys })
          yield* awaitCommittedToEnd(client, group, input)
          const restoredBySecond = [...two.store.stats().restores.values()]
          assert.isAtLeast(restoredBySecond.length, 1)
          assert.isBelow(restoredBySecond.length, partitions)
          assert.isAbove(
            restoredBySecond.reduce((n, r) => n + r.records, 0),
            0
          )

          // The first leaves; the second takes every partition.
          yield* Scope.close(first, Exit.void)
          yield* eventually(() => two.owned().size === partitions)
          yield* produce(client, input, { first: 12_000, count: 6_000, keys })
          yield* awaitCommittedToEnd(client, group, input)
          assert.strictEqual(two.store.stats().restores.size, partitions)

          const state = yield* readAll({ group, partitions, name: "counts" })
          assert.deepStrictEqual(sorted(state), sorted(reference(18_000)))
        })
      ),
    90_000
  )

  it.live(
    "restart - a local store deleted between runs is rebuilt from the changelog; the state equals the input's counts",
    () =>
      withBroker(() =>
        Effect.gen(function* () {
          const { client, input, group } = yield* freshInput(partitions)
          const directory = yield* tempDir
          const options = { input, group, partitions, directory, mode: "counts" as const }
          yield* produce(client, input, { first: 0, count: 6_000, keys })
          yield* Effect.scoped(Effect.andThen(Job.start(client, options), awaitCommittedToEnd(client, group, input)))
          rmSync(directory, { recursive: true, force: true })
          yield* produce(client, input, { first: 6_000, count: 3_000, keys })
          const restored = yield* Effect.scoped(
            Effect.gen(function* () {
              const job = yield* Job.start(client, options)
              yield* awaitCommittedToEnd(client, group, input)
              return [...job.store.stats().restores.values()].reduce((n, r) => n + r.records, 0)
            })
          )
          // Every key had been written by the first run, so each is restored at least once.
          assert.isAtLeast(restored, keys)
          const state = yield* readAll({ group, partitions, name: "counts" })
          assert.deepStrictEqual(sorted(state), sorted(reference(9_000)))
        })
      ),
    60_000
  )
})
