import { existsSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { type StateError, StateStore } from "@sluice/core"
import { Admin } from "@sluice/kafka"
import { Effect, Exit, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as DurableStateStore from "../src/DurableStateStore.ts"
import { broker, clientLayer, numberCodec, tempDir, unique } from "./fixtures/support.ts"

const partitions = 3

// Opens the store `name` in `directory`, runs `use` on it with partitions
// `assigned` assigned, and closes it (flushing) afterwards.
const withStore = <A, E>(
  bootstrap: string,
  options: { group: string; directory: string; name: string; assigned: ReadonlyArray<number> },
  use: (store: DurableStateStore.DurableStore<number>) => Effect.Effect<A, E>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const service = yield* DurableStateStore.make({
        group: options.group,
        partitions,
        directory: options.directory
      })
      const store = yield* service.open(options.name, numberCodec)
      yield* store.assign(options.assigned)
      return yield* use(store)
    }).pipe(Effect.provide(Layer.fresh(clientLayer(bootstrap))))
  )

describe("DurableStateStore", () => {
  it.live(
    "flushAsync - flushes started back to back are all acknowledged, in order, and a restore sees every change",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const group = unique("job")
        const reference = new Map<string, number>()
        const acked: Array<number> = []
        yield* withStore(bootstrap, { group, directory: yield* tempDir, name: "piped", assigned: [0, 1, 2] }, (store) =>
          Effect.gen(function* () {
            const waits: Array<Effect.Effect<void, StateError.StateError>> = []
            for (let round = 0; round < 20; round++) {
              for (let i = 0; i < 200; i++) {
                const key = `k${(round * 37 + i) % 500}`
                const partition = i % partitions
                const old = Option.getOrElse(yield* store.get(partition, key), () => 0)
                yield* store.set(partition, key, old + 1)
                reference.set(`${partition}/${key}`, old + 1)
              }
              const wait = yield* store.flushAsync()
              waits.push(Effect.tap(wait, () => Effect.sync(() => acked.push(round))))
            }
            // The barrier with nothing new to send still waits for the flushes before it.
            yield* store.flush()
            yield* Effect.all(waits, { concurrency: "unbounded", discard: true })
          })
        )
        assert.deepStrictEqual(
          acked,
          Array.from({ length: 20 }, (_, i) => i)
        )
        const seen = yield* withStore(
          bootstrap,
          { group, directory: yield* tempDir, name: "piped", assigned: [0, 1, 2] },
          (store) =>
            Effect.gen(function* () {
              const out = new Map<string, number>()
              for (let p = 0; p < partitions; p++) {
                for (const [key, value] of yield* store.range(p, "k")) out.set(`${p}/${key}`, value)
              }
              return out
            })
        )
        assert.deepStrictEqual([...seen].sort(), [...reference].sort())
      }),
    60_000
  )

  it.live(
    "assign - a fresh directory restores every partition from the changelog; a restart with its checkpoint replays nothing",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const group = unique("job")
        const first = yield* tempDir
        const second = yield* tempDir
        const keys = 3_000
        // Reference: what the store must hold, computed beside it.
        const reference = new Map<string, number>()
        yield* withStore(bootstrap, { group, directory: first, name: "counts", assigned: [0, 1, 2] }, (store) =>
          Effect.gen(function* () {
            for (let i = 0; i < keys * 2; i++) {
              const key = `k${i % keys}`
              const partition = i % partitions
              const old = Option.getOrElse(yield* store.get(partition, key), () => 0)
              yield* store.set(partition, key, old + i)
              reference.set(`${partition}/${key}`, old + i)
            }
            for (let i = 0; i < 300; i++) {
              yield* store.delete(i % partitions, `k${i}`)
              reference.delete(`${i % partitions}/k${i}`)
            }
            yield* store.flush()
          })
        )
        const read = (store: DurableStateStore.DurableStore<number>) =>
          Effect.gen(function* () {
            const seen = new Map<string, number>()
            for (let p = 0; p < partitions; p++) {
              for (const [key, value] of yield* store.range(p, "k")) seen.set(`${p}/${key}`, value)
            }
            return seen
          })
        // The local store of the first run is gone: everything comes from the changelog.
        const restored = yield* withStore(
          bootstrap,
          { group, directory: second, name: "counts", assigned: [0, 1, 2] },
          (store) => Effect.map(read(store), (seen) => ({ seen, stats: store.stats() }))
        )
        assert.deepStrictEqual([...restored.seen].sort(), [...reference].sort())
        const replayed = [...restored.stats.restores.values()].reduce((n, r) => n + r.records, 0)
        assert.isAtLeast(replayed, reference.size)

        // The first directory has its checkpoint: nothing to replay.
        const resumed = yield* withStore(
          bootstrap,
          { group, directory: first, name: "counts", assigned: [0, 1, 2] },
          (store) => Effect.map(read(store), (seen) => ({ seen, stats: store.stats() }))
        )
        assert.deepStrictEqual([...resumed.seen].sort(), [...reference].sort())
        assert.deepStrictEqual(
          [...resumed.stats.restores.values()].map((r) => r.records),
          [0, 0, 0]
        )
      }),
    60_000
  )

  it.live(
    "open - a changelog topic with another partition count fails with a one-line error",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const group = unique("job")
        const directory = yield* tempDir
        yield* Admin.ensureTopics([{ topic: DurableStateStore.changelogTopic(group, "counts"), partitions: 5 }]).pipe(
          Effect.provide(Layer.fresh(clientLayer(bootstrap)))
        )
        const exit = yield* Effect.exit(
          withStore(bootstrap, { group, directory, name: "counts", assigned: [] }, () => Effect.void)
        )
        assert.isTrue(Exit.isFailure(exit))
        const message = Exit.isFailure(exit) ? String(exit.cause) : ""
        assert.include(message, "has 5 partitions but the input has 3")
      }),
    30_000
  )

  it.effect(
    "set - a processing-time TTL expires with the clock, as a tombstone a restore honours",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* TestClock.withLive(broker)
        const group = unique("job")
        const first = yield* tempDir
        const second = yield* tempDir
        yield* withStore(bootstrap, { group, directory: first, name: "ttl", assigned: [0] }, (store) =>
          Effect.gen(function* () {
            yield* store.set(0, "short", 1, { ttl: "1 minute" })
            yield* store.set(0, "long", 2, { ttl: "1 hour" })
            yield* store.set(0, "forever", 3)
            yield* store.flush()
            yield* TestClock.adjust("59 seconds")
            assert.deepStrictEqual(yield* store.get(0, "short"), Option.some(1))
            yield* TestClock.adjust("1 second")
            assert.deepStrictEqual(yield* store.get(0, "short"), Option.none())
            assert.strictEqual(yield* store.expire(0), 0)
            yield* TestClock.adjust("1 hour")
            assert.strictEqual(yield* store.expire(0), 1)
            yield* store.flush()
          })
        )
        // A new owner restores the tombstones: only the entry without a TTL is left.
        const left = yield* withStore(bootstrap, { group, directory: second, name: "ttl", assigned: [0] }, (store) =>
          store.range(0, "")
        )
        assert.deepStrictEqual(left, [["forever", 3]])
      }),
    30_000
  )

  it.effect(
    "revoke - a revoked partition's local store stays for retainRevoked, then is dropped",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* TestClock.withLive(broker)
        const directory = yield* tempDir
        yield* Effect.scoped(
          Effect.gen(function* () {
            const service = yield* DurableStateStore.make({
              group: unique("job"),
              partitions,
              directory,
              retainRevoked: "5 minutes"
            })
            const store = yield* service.open("counts", numberCodec)
            yield* store.assign([0, 1])
            yield* store.set(1, "a", 1)
            yield* store.revoke([1])
            const failed = yield* Effect.exit(store.get(1, "a"))
            assert.isTrue(Exit.isFailure(failed))
            yield* TestClock.adjust("4 minutes")
            assert.isTrue(existsSync(join(directory, "counts", "1")))
            yield* TestClock.adjust("2 minutes")
            assert.isFalse(existsSync(join(directory, "counts", "1")))
            assert.isTrue(existsSync(join(directory, "counts", "0")))
          }).pipe(Effect.provide(Layer.fresh(clientLayer(bootstrap))))
        )
      }),
    30_000
  )
  it.live(
    "layer - serves core's StateStore: what one owner writes through it, the next restores",
    () =>
      Effect.gen(function* () {
        const bootstrap = yield* broker
        const group = unique("job")
        const run = (
          directory: string,
          use: (store: StateStore.Store<number>) => Effect.Effect<unknown, StateError.StateError>
        ) =>
          Effect.scoped(
            Effect.gen(function* () {
              const store = yield* (yield* StateStore.StateStore).open("profiles", StateStore.numberCodec)
              yield* store.assign([0, 1, 2])
              return yield* use(store)
            })
          ).pipe(
            Effect.provide(
              DurableStateStore.layer({ group, partitions, directory }).pipe(
                Layer.provide(Layer.fresh(clientLayer(bootstrap)))
              )
            )
          )
        yield* run(yield* tempDir, (store) =>
          Effect.gen(function* () {
            yield* store.setMany(1, [
              ["a", 1],
              ["b", 2],
              ["c", 3]
            ])
            yield* store.deleteMany(1, ["b"])
            yield* store.flush()
          })
        )
        const restored = yield* run(yield* tempDir, (store) => store.range(1, ""))
        assert.deepStrictEqual(restored, [
          ["a", 1],
          ["c", 3]
        ])
      }),
    30_000
  )
})
