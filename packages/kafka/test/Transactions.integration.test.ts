// Exactly-once through Kafka transactions, against the embedded broker (or
// the cluster KAFKA_BROKERS names): a consume-transform-produce pipeline
// through the transactional source and sink writes each output once and
// commits its input offsets with it; what an aborted transaction wrote is seen
// only by read_uncommitted readers; and a member whose partition was claimed by
// another can neither send nor commit for it any more.
import { assert, describe, it } from "@effect/vitest"
import { type Envelope, OffsetTracker } from "@sluice/core"
import { Deferred, Effect, Exit, Fiber, Logger, Ref, Schedule, Scope, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Admin from "../src/Admin.ts"
import * as KafkaClient from "../src/KafkaClient.ts"
import type * as KafkaError from "../src/KafkaError.ts"
import type * as KafkaLike from "../src/KafkaLike.ts"
import * as KafkaSource from "../src/KafkaSource.ts"
import * as MemberTransactions from "../src/MemberTransactions.ts"
import * as TransactionalSink from "../src/TransactionalSink.ts"
import * as Transactions from "../src/Transactions.ts"
import * as Cluster from "./fixtures/cluster.ts"

const text = new TextDecoder()

/**
 * Every value of `topic` as a reader with the given isolation level sees it,
 * up to a plain "end" record the test appended to each of its `partitions`.
 */
const readBack = (brokers: ReadonlyArray<string>, topic: string, partitions: number, readUncommitted: boolean) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [...brokers], logLevel: logLevel.NOTHING })
    const plain = kafka.producer()
    await plain.connect()
    await plain.send({
      topic,
      acks: -1,
      messages: Array.from({ length: partitions }, (_, partition) => ({ value: "end", partition }))
    })
    await plain.disconnect()
    const consumer = kafka.consumer({ groupId: Cluster.unique("reader"), readUncommitted, maxWaitTimeInMs: 50 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const got: Array<string> = []
    let ends = 0
    await consumer.run({
      eachMessage: async ({ message }) => {
        const value = message.value?.toString() ?? ""
        if (value === "end") ends++
        else got.push(value)
      }
    })
    const deadline = performance.now() + 60_000
    while (ends < partitions && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    await consumer.disconnect()
    if (ends < partitions) throw new Error(`read ${ends} of ${partitions} end markers of ${topic}`)
    return got
  })

const countsOf = (values: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return counts
}

// A client of the test cluster, fresh input and output topics of
// `partitions` partitions each, and a fresh group id.
const freshTopics = (partitions: number) =>
  Effect.gen(function* () {
    const brokers = yield* Cluster.brokers
    const client = yield* Cluster.client(brokers)
    const input = Cluster.unique("in")
    const output = Cluster.unique("out")
    const groupId = Cluster.unique("eos")
    yield* Admin.ensureTopics([
      { topic: input, partitions },
      { topic: output, partitions }
    ]).pipe(Effect.provideService(KafkaClient.KafkaClient, client))
    return { brokers, client, input, output, groupId }
  })

// The test's input, written plainly (not in a transaction).
const sendInput = (client: KafkaClient.KafkaClient["Service"], topic: string, messages: Array<KafkaLike.Message>) =>
  Effect.gen(function* () {
    const producer = yield* client.producer()
    yield* Effect.promise(() => producer.send({ topic, acks: -1, messages }))
  })

type Records = Stream.Stream<Envelope.Envelope<Envelope.Payload>, KafkaError.KafkaError>

// Transactions per input partition, or one per member (`MemberTransactions`, pipelined only).
const transactionsOf = (client: KafkaClient.KafkaClient["Service"], options: Transactions.Options, member: boolean) =>
  member
    ? MemberTransactions.make(client, { groupId: options.groupId, commitInterval: options.commitInterval })
    : Transactions.make(client, options)

/**
 * A member of `groupId` in a scope of its own: a transactional source of
 * `input`, its records through `pipeline` to a transactional sink of
 * `output`. Answers its job's fiber and the effect that stops it.
 */
const startMember = (
  setup: {
    readonly client: KafkaClient.KafkaClient["Service"]
    readonly input: string
    readonly output: string
    readonly transactions: Transactions.Options
    /** Member-wide transactions (`MemberTransactions`) instead of one per input partition. */
    readonly member?: boolean
    readonly source: Omit<KafkaSource.Options, "topics" | "groupId" | "transactions">
  },
  pipeline: (records: Records) => Records
) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const fiber = yield* Effect.gen(function* () {
      const transactions = yield* transactionsOf(setup.client, setup.transactions, setup.member === true)
      const records = yield* KafkaSource.make(setup.client, {
        ...setup.source,
        topics: [setup.input],
        groupId: setup.transactions.groupId,
        transactions: transactions.hooks
      })
      return yield* pipeline(records).pipe(
        Stream.run(TransactionalSink.make(transactions, setup.output)),
        Effect.forkDetach
      )
    }).pipe(Scope.provide(scope))
    return { fiber, stop: Effect.andThen(Fiber.interrupt(fiber), Scope.close(scope, Exit.void)) }
  })

const label = { draining: "", pipelined: " (pipelined commits)", member: " (one transaction per member)" } as const

describe("Transactions", () => {
  // Draining commit cycles, pipelined ones (the source never held; outputs
  // of records after a cut wait for the next transaction), and pipelined
  // member-wide ones (`MemberTransactions`, KIP-447).
  for (const mode of ["draining", "pipelined", "member"] as const) {
    const pipelined = mode !== "draining"
    it.live(
      `pipeline${label[mode]} - the transactional source and sink write every output once and commit the offsets with them`,
      () =>
        Effect.gen(function* () {
          const { brokers, client, input, output, groupId } = yield* freshTopics(3)
          const total = 3_000
          yield* sendInput(
            client,
            input,
            Array.from({ length: total }, (_, i) => ({ key: `k${i % 31}`, value: `${i}` }))
          )
          // Two runs of the job: the first is stopped part-way (its last
          // transaction commits or aborts), the second finishes the input.
          const run = (limit: number) =>
            Effect.scoped(
              Effect.gen(function* () {
                const transactions = yield* transactionsOf(
                  client,
                  { groupId, commitInterval: "50 millis", pipelined },
                  mode === "member"
                )
                const records = yield* KafkaSource.make(client, {
                  topics: [input],
                  groupId,
                  // Few records in flight: the source keeps tracking records while a commit waits.
                  maxInFlight: 64,
                  transactions: transactions.hooks
                })
                yield* records.pipe(
                  // Unordered, with uneven processing times: a partition's records finish out of
                  // order, and now and then a slow one keeps a commit waiting while later records reach the sink.
                  Stream.mapEffect(
                    (e) =>
                      Effect.as(Effect.sleep(Number(e.origin.offset % 4n) + (e.origin.offset % 97n === 0n ? 40 : 0)), {
                        ...e,
                        value: new TextEncoder().encode(`out-${text.decode(e.value as Uint8Array)}`)
                      }),
                    { concurrency: 16, unordered: true }
                  ),
                  Stream.take(limit),
                  Stream.run(TransactionalSink.make(transactions, output))
                )
              })
            )
          yield* run(total / 3)
          const second = yield* Effect.forkChild(run(total * 2))
          yield* Cluster.awaitCommittedToEnd(client, groupId, input)
          yield* Fiber.interrupt(second)

          const seen = countsOf(yield* readBack(brokers, output, 3, false))
          const missing = Array.from({ length: total }, (_, i) => `out-${i}`).filter((v) => !seen.has(v))
          const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0)
          assert.deepStrictEqual(missing, [])
          assert.strictEqual(duplicates, 0)
          assert.strictEqual(seen.size, total)
        }),
      120_000
    )

    it.live(
      `rebalance${label[mode]} - a second member joins and the first leaves under load: every output once`,
      () =>
        Effect.gen(function* () {
          const { brokers, client, input, output, groupId } = yield* freshTopics(6)
          const total = 3_000
          yield* sendInput(
            client,
            input,
            Array.from({ length: total }, (_, i) => ({ key: `k${i % 50}`, value: `${i}` }))
          )
          const processed = yield* Ref.make(0)
          // A member slow enough for rebalances to land mid-stream.
          const member = Effect.map(
            startMember(
              {
                client,
                input,
                output,
                transactions: { groupId, commitInterval: "50 millis", pipelined },
                member: mode === "member",
                source: { sessionTimeout: "6 seconds", heartbeatInterval: "500 millis", maxInFlight: 200 }
              },
              Stream.tap(() =>
                Effect.andThen(
                  Ref.update(processed, (n) => n + 1),
                  Effect.sleep("1 millis")
                )
              )
            ),
            ({ stop }) => stop
          )
          const atLeast = (n: number) =>
            Effect.gen(function* () {
              if ((yield* Ref.get(processed)) < n) return yield* Effect.fail("waiting")
            }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 2400 }))

          const stopA = yield* member
          yield* atLeast(300)
          const stopB = yield* member
          yield* atLeast(1_500)
          yield* stopA
          yield* Cluster.awaitCommittedToEnd(client, groupId, input)
          yield* stopB

          const seen = countsOf(yield* readBack(brokers, output, 6, false))
          const missing = Array.from({ length: total }, (_, i) => `${i}`).filter((v) => !seen.has(v))
          const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0)
          assert.deepStrictEqual(missing, [])
          assert.strictEqual(duplicates, 0)
        }),
      180_000
    )

    if (mode === "member") continue
    it.live(
      `fence during a revocation${label[mode]} - a record in flight of a partition its next owner claimed first is dropped, and the member carries on`,
      () =>
        Effect.gen(function* () {
          const partitions = 4
          const { brokers, client, input, output, groupId } = yield* freshTopics(partitions)
          const perPartition = 50
          yield* sendInput(
            client,
            input,
            Array.from({ length: partitions * perPartition }, (_, i) => ({
              partition: i % partitions,
              value: `${i % partitions}-${Math.floor(i / partitions)}`
            }))
          )
          const member = (pipeline: (records: Records) => Records) =>
            startMember(
              {
                client,
                input,
                output,
                // Draining: the first commit cycle stops the source, so it comes after every partition's first batch.
                transactions: { groupId, commitInterval: "1 second", pipelined },
                source: {
                  sessionTimeout: "6 seconds",
                  heartbeatInterval: "200 millis",
                  // An idle fetch ends soon: the member notices the rebalance without waiting for it.
                  fetchMaxWait: "100 millis",
                  fetchIdleWait: "100 millis",
                  // Longer than the test: the revocation ends because the held records are done, not by timing out.
                  revokeTimeout: "5 minutes"
                }
              },
              pipeline
            )
          const until = (condition: () => boolean) =>
            Effect.suspend(() => (condition() ? Effect.void : Effect.fail("waiting"))).pipe(
              Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1_500 })
            )

          // The first member holds the first record of each partition in its pipeline, so its
          // revocation waits for them while the second member claims its share of the partitions.
          const release = yield* Deferred.make<void>()
          const held = new Set<number>()
          const first = yield* member(
            Stream.mapEffect(
              (e) => {
                if (e.origin.offset !== 0n || held.has(e.origin.partition)) return Effect.succeed(e)
                held.add(e.origin.partition)
                return Effect.as(Deferred.await(release), e)
              },
              { concurrency: 16, unordered: true }
            )
          )
          yield* until(() => held.size === partitions)
          const claimedBySecond = new Set<number>()
          const second = yield* member(
            Stream.tap((e) =>
              Effect.sync(() => {
                claimedBySecond.add(e.origin.partition)
              })
            )
          )
          // A record of a partition reaches the second member's pipeline only once it claimed the
          // partition, fencing the first member's producer for it: the held records meet that fence.
          // (kafkajs' round-robin assignor splits the partitions evenly between the two members.)
          yield* until(() => claimedBySecond.size === partitions / 2)
          yield* Deferred.succeed(release, undefined)
          // Before the fix the fenced send ended the first member's job, whose partitions were then never committed.
          yield* Effect.raceFirst(
            Cluster.awaitCommittedToEnd(client, groupId, input),
            Effect.flatMap(Fiber.await(first.fiber), (exit) =>
              Effect.die(new Error(`the first member's job ended: ${Exit.isFailure(exit) ? exit.cause : "done"}`))
            )
          )
          assert.isUndefined(second.fiber.pollUnsafe())
          yield* Effect.all([first.stop, second.stop], { concurrency: 2, discard: true })

          const seen = countsOf(yield* readBack(brokers, output, partitions, false))
          const expected = Array.from(
            { length: partitions * perPartition },
            (_, i) => `${i % partitions}-${Math.floor(i / partitions)}`
          )
          assert.deepStrictEqual(
            expected.filter((v) => !seen.has(v)),
            []
          )
          assert.deepStrictEqual(
            [...seen]
              .filter(([, c]) => c > 1)
              .map(([v]) => v)
              .sort()
              .join(" "),
            ""
          )
          assert.strictEqual(
            [...seen.values()].reduce((n, c) => n + c - 1, 0),
            0
          )
          assert.strictEqual(seen.size, expected.length)
        }),
      60_000
    )
  }

  it.live(
    "claim - waits while another transaction holds the partition's offset, and resumes from the offset it commits",
    () =>
      Effect.gen(function* () {
        const { brokers, client, input, output, groupId } = yield* freshTopics(1)
        const tp = { topic: input, partition: 0 }
        // A transaction under another transactional id (a producer of another
        // deployment, or a member-wide one) holds an offset of the partition.
        const stray = yield* Effect.promise(async () => {
          const producer = new Kafka({ brokers: [...brokers], logLevel: logLevel.NOTHING }).producer({
            transactionalId: Cluster.unique("stray"),
            idempotent: true,
            maxInFlightRequests: 1
          })
          await producer.connect()
          const txn = await producer.transaction()
          await txn.send({ topic: output, messages: [{ value: "stray" }] })
          await txn.sendOffsets({
            consumerGroupId: groupId,
            topics: [{ topic: input, partitions: [{ partition: 0, offset: "7" }] }]
          })
          return { producer, txn }
        })
        const waiting = yield* Deferred.make<void>()
        const capture = Logger.make(({ message }) => {
          const line = Array.isArray(message) ? message.join(" ") : String(message)
          if (line.includes("the claim waits")) Deferred.doneUnsafe(waiting, Effect.void)
        })
        const resumeFrom = yield* Effect.gen(function* () {
          const transactions = yield* Transactions.make(client, { groupId })
          const claiming = yield* Effect.forkChild(transactions.hooks.claim(tp))
          yield* Deferred.await(waiting)
          // Committed while the claim waits: the claim resumes from its offset, not from before it.
          yield* Effect.promise(async () => {
            await stray.txn.commit()
            await stray.producer.disconnect()
          })
          return yield* Fiber.join(claiming)
        }).pipe(Effect.provide(Logger.layer([capture])))
        assert.strictEqual(resumeFrom, 7n)
      }),
    60_000
  )

  it.live(
    "abort - outputs of a released partition's open transaction are seen by read_uncommitted readers only",
    () =>
      Effect.gen(function* () {
        const { brokers, client, input, output, groupId } = yield* freshTopics(1)
        const tp = { topic: input, partition: 0 }
        const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
        const transactions = yield* Transactions.make(client, { groupId, commitInterval: "20 millis" })
        const committed = yield* Deferred.make<ReadonlyArray<OffsetTracker.CommittableOffset>>()
        yield* transactions.hooks.start(tracker, {
          fail: (error) => Effect.die(error),
          committed: (offsets) => Deferred.succeed(committed, offsets)
        })
        assert.strictEqual(yield* transactions.hooks.claim(tp), undefined)
        // Committed: "kept", with the offset of input record 0 (tracked first, as a source does).
        yield* tracker.trackBatch(tp, [0n])
        assert.isTrue(yield* transactions.send(tp, output, [{ value: "kept" }]))
        yield* tracker.done(tp, 0n)
        assert.deepStrictEqual(yield* Deferred.await(committed), [{ ...tp, offset: 1n }])
        // Aborted: "dropped", in the transaction open when the partition is released
        // (input record 1, still in flight, keeps the commit cycle from committing it).
        yield* tracker.trackBatch(tp, [1n])
        assert.isTrue(yield* transactions.send(tp, output, [{ value: "dropped" }]))
        yield* transactions.hooks.release(tp)
        assert.isFalse(yield* transactions.send(tp, output, [{ value: "not ours" }]))

        assert.deepStrictEqual(yield* readBack(brokers, output, 1, false), ["kept"])
        assert.deepStrictEqual(yield* readBack(brokers, output, 1, true), ["kept", "dropped"])
        const offsets = yield* Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [input] }))
        assert.strictEqual(offsets[0]!.partitions[0]!.offset, "1")
      }),
    60_000
  )

  it.live(
    "pipelined - an output of a record after the cut waits for the commit, in the next transaction, without holding the sender",
    () =>
      Effect.gen(function* () {
        const { brokers, client, input, output, groupId } = yield* freshTopics(1)
        const tp = { topic: input, partition: 0 }
        const tracker = yield* OffsetTracker.make({ maxInFlight: 1_000 })
        const transactions = yield* Transactions.make(client, { groupId, commitInterval: "20 millis", pipelined: true })
        // What happened, in order: commits (their offsets) and acknowledgements (their input offsets).
        const events = yield* Ref.make<ReadonlyArray<string>>([])
        const note = (event: string) => Ref.update(events, (es) => [...es, event])
        yield* transactions.hooks.start(tracker, {
          fail: (error) => Effect.die(error),
          committed: (offsets) => note(`commit ${offsets.map((o) => o.offset).join(",")}`)
        })
        yield* transactions.hooks.claim(tp)
        // The group's committed offset when each output was acknowledged.
        const committedAtAck = new Map<bigint, bigint>()
        const sendOf = (offset: bigint) =>
          transactions.sendRecords(tp, output, [{ value: `r${offset}` }], [offset], () =>
            Effect.gen(function* () {
              const groups = yield* Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [input] }))
              committedAtAck.set(offset, BigInt(groups[0]!.partitions[0]!.offset))
              yield* note(`ack ${offset}`)
              yield* tracker.done(tp, offset)
            })
          )
        const acked = (offset: bigint) => Effect.map(Ref.get(events), (es) => es.includes(`ack ${offset}`))
        // Record 0 stays in flight, so the first cycle's commit waits for it. Records
        // after it are tracked and sent one by one until one is kept for the next
        // transaction: it was tracked after the cut.
        yield* tracker.trackBatch(tp, [0n])
        let cut = 0n
        const deadline = performance.now() + 20_000
        for (let offset = 1n; cut === 0n && performance.now() < deadline; offset++) {
          yield* tracker.trackBatch(tp, [offset])
          yield* sendOf(offset)
          if (!(yield* acked(offset))) cut = offset
          else yield* Effect.sleep("5 millis")
        }
        assert.isTrue(cut > 0n, "no output was kept for the next transaction")
        // Record 0's output completes the cut: its transaction commits up to the kept record, which then follows.
        yield* sendOf(0n)
        const waitFor = (event: string) =>
          Effect.gen(function* () {
            if (!(yield* Ref.get(events)).includes(event)) return yield* Effect.fail("waiting")
          }).pipe(Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 2_000 }))
        yield* waitFor(`commit ${cut + 1n}`)
        const order = yield* Ref.get(events)
        assert.isTrue(order.includes(`commit ${cut}`), `the cut's commit: ${order.join("; ")}`)
        // The kept output was acknowledged once the group's offset had reached it: it is not in the cut's transaction.
        assert.strictEqual(committedAtAck.get(cut), cut)
        const values = yield* readBack(brokers, output, 1, false)
        assert.deepStrictEqual([...values].sort(), Array.from({ length: Number(cut) + 1 }, (_, i) => `r${i}`).sort())
      }),
    60_000
  )

  it.live(
    "fencing - a member whose partition another member claimed can neither send nor commit for it",
    () =>
      Effect.gen(function* () {
        const { brokers, client, input, output, groupId } = yield* freshTopics(1)
        const tp = { topic: input, partition: 0 }
        const member = Effect.fnUntraced(function* () {
          const tracker = yield* OffsetTracker.make({ maxInFlight: 100 })
          const transactions = yield* Transactions.make(client, { groupId, commitInterval: "20 millis" })
          const failed = yield* Deferred.make<KafkaError.KafkaError>()
          const committed = yield* Deferred.make<ReadonlyArray<OffsetTracker.CommittableOffset>>()
          yield* transactions.hooks.start(tracker, {
            fail: (error) => Deferred.succeed(failed, error),
            committed: (offsets) => Deferred.succeed(committed, offsets)
          })
          return { tracker, transactions, failed, committed }
        })
        const zombie = yield* member()
        const successor = yield* member()
        yield* zombie.transactions.hooks.claim(tp)
        // Records in flight keep the zombie's commit cycle waiting, its transaction open.
        yield* zombie.tracker.trackBatch(tp, [0n, 1n])
        assert.isTrue(yield* zombie.transactions.send(tp, output, [{ value: "zombie-0" }]))
        // The successor's claim fences the zombie and aborts its open transaction.
        yield* successor.transactions.hooks.claim(tp)
        const send = yield* Effect.flip(zombie.transactions.send(tp, output, [{ value: "zombie-1" }]))
        assert.strictEqual(send._tag, "KafkaError")
        // Once they are done, the zombie's commit fails, which stops its job.
        yield* zombie.tracker.done(tp, 0n)
        yield* zombie.tracker.done(tp, 1n)
        const failure = yield* Deferred.await(zombie.failed)
        assert.strictEqual(failure._tag, "KafkaError")

        yield* successor.tracker.trackBatch(tp, [0n])
        assert.isTrue(yield* successor.transactions.send(tp, output, [{ value: "successor" }]))
        yield* successor.tracker.done(tp, 0n)
        assert.deepStrictEqual(yield* Deferred.await(successor.committed), [{ ...tp, offset: 1n }])
        assert.deepStrictEqual(yield* readBack(brokers, output, 1, false), ["successor"])
        const offsets = yield* Effect.promise(() => client.admin.fetchOffsets({ groupId, topics: [input] }))
        assert.strictEqual(offsets[0]!.partitions[0]!.offset, "1")
      }),
    60_000
  )
})
