// Commerce: the customer segmentation job (`sluice commerce segments`, RFM
// state per customer, event-time timers) with durable state (`--state-dir`),
// under SIGKILLs and a second instance that joins and leaves, over a seeded
// history from `sluice commerce generate`. The orders topic has one
// partition; the job re-keys the orders by customer into `partitions`
// partitions, and those partitions, with their state, move between the
// instances: an instance that takes one over restores its state from the
// changelog (the second instance starts with an empty state directory).
//
//   1. instance A alone; SIGKILL at a random moment, restarted on its directory;
//   2. instance B joins (its own, empty directory) and takes half the partitions;
//   3. SIGKILL to A at a random moment; B takes everything once A's session
//      has timed out, and A, restarted at once, takes its share back;
//   4. B leaves on SIGTERM; A takes everything.
//
// Then the generator ends, the groups drain, and `customer_segments` is
// reconciled with the reference computed from the orders topic
// (`support/commerceChecks.ts` says what at-least-once allows). Each replay
// window (the re-keying topic from the group's commit at a kill or before a
// rebalance to its end once the group has settled) is recorded for that.
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import * as KafkaClient from "../../packages/kafka/src/KafkaClient.ts"
import * as SegmentsJob from "../../packages/runner/src/jobs/commerce/SegmentsJob.ts"
import type * as Reference from "../../packages/runner/test/support/commerceReference.ts"
import * as CommerceChecks from "../support/commerceChecks.ts"
import * as Jobs from "../support/jobs.ts"
import * as Processes from "../support/processes.ts"
import * as Recovery from "../support/recovery.ts"
import * as Scenario from "../support/scenario.ts"
import type { Row } from "../support/table.ts"
import * as Topics from "../support/topics.ts"

/** Partitions of the re-keying topic (and of the changelog): the unit that moves. */
const partitions = 4
const groupPrefix = "reliability-commerce"
const ordersGroup = `${groupPrefix}-segments`
const rekeyTopic = `${groupPrefix}-segments-by-customer`
const topics = { orders: "dbserver1.public.orders", deadLetter: "commerce-dlq" } as const

/** The history: 2,400 orders an hour apart (100 days, so the timers' segments appear), 200 customers. */
const generate = ["--seed", "16", "--orders", "2400", "--customers", "200", "--events-per-second", "200"]

/** The processing guarantee the jobs run with; exactly-once must equal the reference exactly. */
export type Guarantee = "at-least-once" | "exactly-once"

const sumOf = (ends: ReadonlyMap<number, { readonly low: number; readonly high: number }>) =>
  [...ends.values()].reduce((n, { low, high }) => n + high - low, 0)

export const commerce = (guarantee: Guarantee) =>
  Effect.gen(function* () {
    const name = guarantee === "at-least-once" ? "commerce" : `commerce (${guarantee})`
    const s = yield* Scenario.base(name.replace(/\W+/g, "_"))
    // Reads the re-keying topic as the job's consumers see it, for its lag under exactly-once.
    const client = yield* KafkaClient.make({ brokers: [s.bootstrap], logLevel: "None" })
    const env = { KAFKA_BOOTSTRAP_SERVERS: s.bootstrap, DATABASE_URL: s.db.url, COMMERCE_GROUP_ID: groupPrefix }
    const lag = yield* Topics.lagSampler(s.admin, rekeyTopic, rekeyTopic)
    const flags = guarantee === "at-least-once" ? [] : ["--processing-guarantee", guarantee]

    // An instance is ready once it owns partitions of the re-keying topic: the
    // orders partition is one member's only, so /readyz cannot tell.
    const startSegments = (instance: string, stateDir: string) =>
      Jobs.startJob(
        instance,
        ["commerce", "segments", "--partitions", String(partitions), "--state-dir", stateDir, ...flags],
        env,
        (job) =>
          Recovery.ownedPartitionsIn(job, rekeyTopic).length > 0 ? Effect.void : Effect.fail("no partitions yet")
      )
    const rekeyed = Topics.endOffsets(s.admin, rekeyTopic).pipe(
      Effect.map(sumOf),
      Effect.orElseSucceed(() => 0)
    )
    // Waits until `n` contributions are re-keyed, or, should the history be
    // shorter, until all of it is (the generator has ended and the orders
    // group has committed its end), so a kill never waits for work that
    // will not come.
    const progressed = (n: number, job: Processes.Sluice, generator: Processes.Sluice) =>
      Processes.eventually(
        `${n} contributions re-keyed`,
        Effect.gen(function* () {
          yield* Processes.alive(job)
          const done = yield* rekeyed
          if (done >= n) return
          if (generator.child.exitCode === 0) {
            const lag = yield* Topics.commitLag(s.admin, ordersGroup, topics.orders)
            if (lag === 0) return
          }
          return yield* Effect.fail(`${done} re-keyed`)
        }),
        "3 minutes",
        "200 millis"
      )
    // The window opens at the group's committed offsets now and closes at the
    // topic's end once `settled` is done.
    const windows: Array<CommerceChecks.ReplayWindow> = []
    const replayWindow = <A, E, R>(settled: Effect.Effect<A, E, R>) =>
      Effect.gen(function* () {
        const from = yield* Recovery.committed(s.admin, rekeyTopic, rekeyTopic)
        const a = yield* settled
        const to = yield* Topics.endOffsets(s.admin, rekeyTopic)
        windows.push(
          new Map(
            [...to].map(([p, { low, high }]) => [p, { from: Math.max(low, from.get(p) ?? -1), to: high }] as const)
          )
        )
        return a
      })

    const dirA = yield* Scenario.temporaryDirectory
    const dirB = yield* Scenario.temporaryDirectory
    // The generator starts with A (both make the topics, whichever is first).
    const generator = yield* Processes.start("commerce generate", ["commerce", "generate", ...generate], env)
    let a = yield* startSegments("segments-a", dirA)
    const killedAt: Array<number> = []

    // 1. A alone, killed and restarted.
    yield* progressed(150 + Math.floor(Math.random() * 300), a, generator)
    killedAt.push(yield* rekeyed)
    yield* Processes.kill(a)
    a = yield* replayWindow(startSegments("segments-a", dirA))

    // 2. B joins with an empty state directory.
    const b = yield* replayWindow(startSegments("segments-b", dirB))
    const joinedAt = yield* rekeyed

    // 3. A killed while B runs; restarted at once.
    yield* progressed(joinedAt + 100 + Math.floor(Math.random() * 300), b, generator)
    killedAt.push(yield* rekeyed)
    yield* Processes.kill(a)
    const assignmentsOfB = Recovery.assignmentsIn(b, rekeyTopic)
    a = yield* replayWindow(
      Effect.gen(function* () {
        const restarted = yield* startSegments("segments-a", dirA)
        // B has been through the rebalance that dropped the dead A.
        yield* Processes.eventually(
          "segments-b reassigned",
          Effect.gen(function* () {
            yield* Processes.alive(b)
            yield* Processes.alive(restarted)
            if (Recovery.assignmentsIn(b, rekeyTopic) <= assignmentsOfB) return yield* Effect.fail("not yet")
          }),
          // Longer than the group protocol can take: the dead member's session (30 s), then a
          // rebalance waiting for its members (up to 60 s), twice when a slow member is dropped.
          "4 minutes"
        )
        return restarted
      })
    )

    // 4. B leaves; A takes everything.
    const leftAt = yield* rekeyed
    const exitOfB = yield* replayWindow(
      Effect.gen(function* () {
        const exit = yield* Processes.stop(b)
        yield* Processes.eventually(
          "segments-a owns every partition",
          Effect.andThen(Processes.alive(a), () =>
            Recovery.ownedPartitionsIn(a, rekeyTopic).length === partitions ? Effect.void : Effect.fail("not yet")
          ),
          "2 minutes"
        )
        return exit
      })
    )

    yield* Processes.awaitSuccess(generator, "5 minutes")
    yield* Processes.eventually(
      "both groups committed to the end",
      Effect.gen(function* () {
        yield* Processes.alive(a)
        const orders = yield* Topics.commitLag(s.admin, ordersGroup, topics.orders)
        const inner = yield* Topics.commitLag(s.admin, rekeyTopic, rekeyTopic, {
          readCommitted: guarantee === "exactly-once" ? client : undefined
        })
        if (orders + inner > 0) return yield* Effect.fail(`lag ${orders} + ${inner}`)
      }),
      "4 minutes",
      "500 millis"
    )
    const table = yield* Effect.promise(() =>
      s.db.sql.unsafe<Array<Reference.SegmentRow>>(
        `SELECT customer_id::text, segment, recency_days, frequency, monetary_value::text
         FROM customer_segments ORDER BY customer_id`
      )
    )
    const exitOfA = yield* Processes.stop(a)
    const orders = yield* Topics.readAll(s.kafka, s.admin, [topics.orders])
    const rekeyedRecords = yield* Topics.readAll(s.kafka, s.admin, [rekeyTopic])
    const deadLetters = yield* Topics.readAll(s.kafka, s.admin, [topics.deadLetter])
    const r = yield* CommerceChecks.reconcile({
      orders,
      rekeyed: rekeyedRecords,
      windows,
      table: table.map((row) => ({ ...row })),
      partitions,
      outOfOrderness: SegmentsJob.outOfOrderness
    })
    const deadLettered = new Set(
      deadLetters.map((d) => `${d.headers["x-sluice-source-partition"]}/${d.headers["x-sluice-source-offset"]}`)
    ).size

    const ordersOff = r.differing.reduce((n, d) => n + Math.abs(d.orders), 0)
    const ordersBound = r.differing.reduce((n, d) => n + d.maxOrders, 0)
    const centsOff = r.differing.reduce((n, d) => n + (d.cents < 0n ? -d.cents : d.cents), 0n)
    const row: Row = {
      scenario: name,
      events: r.events,
      missing: r.missingCustomers.length + r.lostContributions.length,
      duplicates: r.rekeyedTwice,
      deadLetters: deadLettered,
      maxCommitLag: lag.max(),
      seconds: (Date.now() - s.started) / 1000,
      note:
        `${r.reference.length} customers, ${r.differing.length} differ from the reference ` +
        `(${r.exposedCustomers} exposed to a replay; net orders off by ${ordersOff} of at most ${ordersBound}, spend by ` +
        `$${(Number(centsOff) / 100).toFixed(2)}); SIGKILL at ${killedAt.join(", ")}, ` +
        `B joined at ${joinedAt}, left at ${leftAt} contributions`
    }
    return {
      row,
      verify: () => {
        const sample = (xs: ReadonlyArray<unknown>) => `${xs.length} (${JSON.stringify(xs.slice(0, 3))})`
        assert.isAbove(r.reference.length, 0, "no customers at all")
        assert.strictEqual(r.missingCustomers.length, 0, `customers without a row: ${sample(r.missingCustomers)}`)
        assert.strictEqual(r.strayCustomers.length, 0, `rows of unknown customers: ${sample(r.strayCustomers)}`)
        assert.strictEqual(r.lostContributions.length, 0, `lost between the stages: ${sample(r.lostContributions)}`)
        assert.strictEqual(r.strayContributions, 0, "re-keyed records that match no order")
        assert.strictEqual(deadLettered, r.malformed, "every malformed order dead-lettered, nothing else")
        assert.strictEqual(exitOfB.status, 0, "the leaving instance exits 0 on SIGTERM")
        assert.strictEqual(exitOfA.status, 0, "the last instance exits 0 on SIGTERM")
        if (guarantee === "exactly-once") {
          assert.strictEqual(r.rekeyedTwice, 0, "contributions re-keyed twice")
          assert.deepStrictEqual(r.differing, [], "the table equals the reference")
        } else {
          assert.deepStrictEqual(r.unexplained, [], "differences that no replay explains")
        }
      }
    }
  })
