// A keyed operator (`Keyed.process`, a counter per record key) over the
// durable store and the embedded broker, as instances in this process:
// partitions go A -> B -> A. The first instance keeps the local stores of
// the partitions it gave up, so when they come back it must restore the tail
// the second instance wrote to the changelog (the source tells the operator
// of each revocation through an `Ownership` hub), not resume from what it
// held when it lost them. At-least-once, input is produced once a rebalance
// has settled (records handled during one may be handled twice); exactly-once
// it also flows while B joins. The final state must equal the input's counts
// exactly, in both guarantees.
import { assert, describe, it } from "@effect/vitest"
import { Keyed, Ownership, StateStore } from "@sluice/core"
import { KafkaClient, KafkaSource, Transactions } from "@sluice/kafka"
import { Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import * as DurableStateStore from "../src/DurableStateStore.ts"
import {
  awaitCommittedToEnd,
  eventually,
  freshInput,
  numberCodec,
  produce,
  readAll,
  tempDir,
  withBroker
} from "./fixtures/support.ts"

const partitions = 3
const keys = 300
const decoder = new TextDecoder()

const reference = (count: number) => {
  const out = new Map<string, number>()
  for (let i = 0; i < count; i++) out.set(`u${i % keys}`, (out.get(`u${i % keys}`) ?? 0) + 1)
  return out
}

const sorted = (m: ReadonlyMap<string, number>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

interface Instance {
  readonly owned: () => number
  readonly job: Fiber.Fiber<void, unknown>
}

// One instance of the job, running until the scope closes.
const instance = (
  client: KafkaClient.KafkaClient["Service"],
  options: { readonly input: string; readonly group: string; readonly exactlyOnce: boolean }
): Effect.Effect<Instance, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const directory = yield* tempDir
    // Made before the source, so the source's last commit still has them.
    const transactions = options.exactlyOnce
      ? yield* Transactions.make(client, { groupId: options.group, transactionTimeout: "5 seconds" })
      : undefined
    const durable = yield* DurableStateStore.make({
      group: options.group,
      partitions,
      directory,
      exactlyOnce: transactions === undefined ? undefined : { transactions, inputTopic: options.input }
    }).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    const ownership = yield* Ownership.make
    let owned = 0
    const records = yield* KafkaSource.make(client, {
      topics: [options.input],
      groupId: options.group,
      maxInFlight: 2_000,
      commitEvery: 1_000,
      commitInterval: "200 millis",
      revokeTimeout: "5 seconds",
      sessionTimeout: 6_000,
      heartbeatInterval: "500 millis",
      ...(transactions === undefined ? {} : { transactions: transactions.hooks }),
      onRevoke: ownership.revoke,
      onAssignment: (assignment) =>
        Effect.sync(() => {
          owned = assignment.length
        })
    })
    const job = yield* records.pipe(
      Keyed.process({
        name: "counts",
        key: (_, e) => decoder.decode(e.origin.key ?? new Uint8Array()),
        codec: numberCodec,
        onRecord: (ctx) =>
          Effect.sync(() => {
            ctx.set(Option.getOrElse(ctx.state, () => 0) + 1)
            return []
          })
      }),
      Stream.runDrain,
      Effect.provideService(StateStore.StateStore, StateStore.StateStore.of(durable)),
      Effect.provideService(Ownership.Ownership, ownership),
      Effect.forkScoped
    )
    return { owned: () => owned, job }
  })

// Fails at once, with its cause, if a job's stream failed.
const alive = (...jobs: ReadonlyArray<Instance>) =>
  Effect.forEach(jobs, ({ job }) => {
    const exit = job.pollUnsafe()
    return exit === undefined || Exit.isSuccess(exit) ? Effect.void : Effect.die(exit.cause)
  })

describe("DurableStateStore with Keyed.process across rebalances", () => {
  it.live.each([
    ["at-least-once", false],
    ["exactly-once", true]
  ] as const)(
    "A -> B -> A (%s) - the returning partitions hold what B wrote; the state equals the input's counts",
    ([, exactlyOnce]) =>
      withBroker(() =>
        Effect.gen(function* () {
          const { client, input, group } = yield* freshInput(partitions)
          const options = { input, group, exactlyOnce }

          const a = yield* instance(client, options)
          yield* eventually(() => a.owned() === partitions)
          yield* produce(client, input, { first: 0, count: 3_000, keys })
          yield* awaitCommittedToEnd(client, group, input)
          yield* alive(a)

          // B takes some partitions and counts on from what A left in the changelog. Exactly-once,
          // records keep coming while B joins: A's open transactions are aborted by the rebalance,
          // and the partitions A keeps must not keep the aborted changes either.
          const second = yield* Scope.make()
          const during = exactlyOnce
            ? yield* Effect.forkChild(
                Effect.forEach(
                  Array.from({ length: 30 }, (_, i) => 3_000 + i * 100),
                  (first) =>
                    Effect.andThen(produce(client, input, { first, count: 100, keys }), Effect.sleep("30 millis")),
                  { discard: true }
                )
              )
            : undefined
          const b = yield* instance(client, options).pipe(Scope.provide(second))
          yield* eventually(() => b.owned() > 0 && a.owned() + b.owned() === partitions)
          if (during === undefined) yield* produce(client, input, { first: 3_000, count: 3_000, keys })
          else yield* Fiber.join(during)
          yield* awaitCommittedToEnd(client, group, input)
          yield* alive(a, b)

          // B leaves: its partitions come back to A, whose local stores of them are stale.
          yield* Scope.close(second, Exit.void)
          yield* eventually(() => a.owned() === partitions)
          yield* produce(client, input, { first: 6_000, count: 3_000, keys })
          yield* awaitCommittedToEnd(client, group, input)
          yield* alive(a)

          const state = yield* readAll({ group, partitions, name: "counts.state" })
          assert.deepStrictEqual(sorted(state), sorted(reference(9_000)))
        })
      ).pipe(Effect.scoped),
    60_000
  )
})
