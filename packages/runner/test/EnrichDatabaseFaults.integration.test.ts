// The real `sluice claims enrich` process against the embedded broker and a
// fresh PostgreSQL database behind a FaultProxy, while the database goes away
// (reset), or answers slower than the lookup timeout (latency). The job's
// own /metrics, polled during the run, show the breaker opening and closing;
// the output topics show what became of every payment; the broker's
// committed offsets show what the job considered done.
import { assert, describe, it } from "@effect/vitest"
import { FaultProxy } from "@sluice/testkit"
import { Effect } from "effect"
import {
  accountFor,
  enrichEnvironment,
  generate,
  isWellFormed,
  partitions,
  paymentId
} from "./support/enrichEnvironment.ts"
import { countRecords, outputTopics, produce, readerClient, readTopics, topicEnv } from "./support/kafka.ts"
import { metricValue, type Sample } from "./support/metrics.ts"
import { pollUntil } from "./support/poll.ts"
import { sluiceJob, stopSluice } from "./support/spawnSluice.ts"

const claims = 200
const input = topicEnv.PAYMENT_EVENTS_TOPIC

const breaker = (samples: ReadonlyArray<Sample>) => ({
  state: metricValue(samples, "sluice_breaker_state", { policy: "claims-db" }),
  opened: metricValue(samples, "sluice_breaker_transitions_total", { policy: "claims-db", to: "Open" }),
  tripped: metricValue(samples, "sluice_breaker_transitions_total", {
    policy: "claims-db",
    from: "Closed",
    to: "Open"
  }),
  closed: metricValue(samples, "sluice_breaker_transitions_total", {
    policy: "claims-db",
    from: "HalfOpen",
    to: "Closed"
  })
})

const byStatus = (samples: ReadonlyArray<Sample>, status: string) =>
  metricValue(samples, "sluice_records_out_total", { status })

describe("sluice claims enrich - database faults", () => {
  it.live(
    "outage with --on-db-unavailable route: DB_ERROR while it lasts, the breaker opens and closes, nothing lost",
    () =>
      Effect.gen(function* () {
        const { broker, proxy, env, metrics } = yield* enrichEnvironment({ claims })
        const job = yield* sluiceJob(
          [
            "claims",
            "enrich",
            "--cache-size",
            "0",
            "--retry-attempts",
            "1",
            "--retry-backoff",
            "20ms",
            "--breaker-window",
            "10",
            // The breaker counts statements: chunks of 128 make the outage's
            // 200 payments enough statements to trip it (the default's chunks
            // of 1,024 would look them up in one or two).
            "--concurrency",
            "256",
            "--breaker-cooldown",
            "2s"
          ],
          env
        )
        const outputs = countRecords(broker, outputTopics)
        const produced: Array<ReturnType<typeof generate>[number]> = []
        const send = (records: ReturnType<typeof generate>) =>
          Effect.andThen(
            Effect.sync(() => produced.push(...records)),
            produce(broker.bootstrap, input, records)
          )

        // Before: the database answers.
        const before = generate({ claims, invalidRate: 0.05 }, 0, 200)
        yield* send(before)
        yield* pollUntil("the first payments' outputs", outputs, (n) => n === produced.length, { timeoutMs: 45_000 })
        const healthy = breaker(yield* metrics)
        assert.strictEqual(healthy.opened, 0)
        assert.strictEqual(healthy.state, 0)

        // During: every connection is reset, new ones too. A second wave, once
        // the breaker is open, meets the open breaker.
        yield* proxy.set(FaultProxy.FaultMode.reset)
        const during = generate({ claims, invalidRate: 0.05 }, 1_000, 200)
        yield* send(during)
        yield* pollUntil("outputs for the payments of the outage", outputs, (n) => n === produced.length)
        const open = yield* pollUntil(
          "the breaker to be open",
          Effect.map(metrics, breaker),
          (b) => b.tripped >= 1 && b.state === 2
        )
        assert.strictEqual(open.closed, 0)
        const whileOpen = generate({ claims, validClaimRate: 1 }, 1_500, 100)
        yield* send(whileOpen)
        yield* pollUntil("outputs for the second wave of the outage", outputs, (n) => n === produced.length)
        assert.isAbove(
          metricValue(yield* metrics, "sluice_policy_calls_total", { policy: "claims-db", outcome: "circuit_open" }),
          0,
          "the open breaker rejected no call"
        )

        // After: payments trickle in until a probe finds the database back,
        // the breaker closes, and a whole trickle is enriched.
        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        let next = 2_000
        const recovered = yield* pollUntil(
          "the breaker to close and a trickle to be enriched in full",
          Effect.gen(function* () {
            const trickle = generate({ claims, validClaimRate: 1 }, next, 10)
            next += 10
            const succeeded = byStatus(yield* metrics, "SUCCESS")
            yield* send(trickle)
            yield* pollUntil("trickle outputs", outputs, (n) => n === produced.length)
            const samples = yield* metrics
            return { ...breaker(samples), enriched: byStatus(samples, "SUCCESS") - succeeded }
          }),
          (b) => b.closed >= 1 && b.state === 0 && b.enriched === 10,
          { intervalMs: 200 }
        )
        assert.isAtLeast(recovered.opened, open.opened)
        const trickled = produced.slice(before.length + during.length + whileOpen.length)
        const after = generate({ claims, invalidRate: 0.05 }, 10_000, 200)
        yield* send(after)
        yield* pollUntil("outputs for the payments after the outage", outputs, (n) => n === produced.length)

        const client = yield* readerClient(broker)
        const outcomes = accountFor(produced, yield* readTopics(client, outputTopics, produced.length))
        const statuses = (records: ReturnType<typeof generate>) =>
          records.filter(isWellFormed).map((r) => ({ kind: r.kind, ...outcomes.get(paymentId(r))! }))
        for (const o of [...statuses(before), ...statuses(after)]) {
          assert.strictEqual(o.status, o.kind === "valid" ? "SUCCESS" : "CLAIM_NOT_FOUND")
        }
        // A reset connection rejects what it holds and a new one is reset at
        // once, so every lookup of the outage fails well before the lookup
        // timeout: unavailable, then rejected by the open breaker. DB_ERROR,
        // never DB_TIMEOUT, and no payment of the outage is enriched.
        const outage = [...statuses(during), ...statuses(whileOpen)]
        for (const o of outage) {
          assert.strictEqual(o.status, "DB_ERROR")
          assert.strictEqual(o.topic, topicEnv.FAILED_PAYMENTS_TOPIC)
          assert.match(o.errorReason ?? "", /^lookup claims (unavailable: \S|rejected: circuit open)/)
        }
        const reasons = outage.map((o) => o.errorReason ?? "")
        assert.isTrue(
          reasons.some((r) => r.startsWith("lookup claims unavailable")),
          "no payment failed on the database itself"
        )
        assert.isTrue(
          reasons.some((r) => r.startsWith("lookup claims rejected: circuit open")),
          "no payment was rejected by the open breaker"
        )
        // The trickle starts as the database comes back, while the breaker is
        // still open for its cooldown: those payments are rejected by it, and a
        // connection being opened at the switch may still be reset. Both are
        // DB_ERROR by design; none waits for the lookup timeout.
        for (const o of statuses(trickled)) {
          assert.oneOf(o.status, ["SUCCESS", "DB_ERROR"])
          if (o.status === "DB_ERROR") {
            assert.match(o.errorReason ?? "", /^lookup claims (unavailable: \S|rejected: circuit open)/)
          }
        }

        // The job's own counters agree with the topics.
        const final = yield* metrics
        assert.strictEqual(
          byStatus(final, "DB_ERROR"),
          [...outcomes.values()].filter((o) => o.status === "DB_ERROR").length
        )
        assert.strictEqual(byStatus(final, "DB_TIMEOUT"), 0)
        assert.strictEqual(
          metricValue(final, "sluice_policy_calls_total", { policy: "claims-db", outcome: "timeout" }),
          0,
          "a lookup attempt ran into the lookup timeout"
        )
        assert.strictEqual(yield* stopSluice(job), 0, job.output().stderr)
      }),
    90_000
  )

  it.live(
    "outage with --on-db-unavailable pause: nothing routed as DB_ERROR, commits stop before the waiting records",
    () =>
      Effect.gen(function* () {
        const { broker, proxy, env, group, metrics } = yield* enrichEnvironment({ claims })
        const job = yield* sluiceJob(
          [
            "claims",
            "enrich",
            "--on-db-unavailable",
            "pause",
            "--cache-size",
            "0",
            "--retry-attempts",
            "1",
            "--retry-backoff",
            "20ms",
            "--breaker-cooldown",
            "500ms"
          ],
          env
        )
        const payments = countRecords(broker, [topicEnv.ENRICHED_PAYMENTS_TOPIC, topicEnv.FAILED_PAYMENTS_TOPIC])
        const deadLetters = countRecords(broker, [topicEnv.PAYMENT_EVENTS_DLQ_TOPIC])
        const committed = Effect.map(broker.committedOffsets(group), (byTopic) => {
          const offsets = byTopic.get(input)
          return Array.from({ length: partitions }, (_, p) => offsets?.get(p) ?? 0)
        })
        const ends = broker.endOffsets(input)
        const allCommitted = Effect.map(Effect.all([committed, ends]), ([c, e]) => c.every((o, p) => o === e[p]))
        // Records go to chosen partitions so the test knows each one's offset.
        const onPartition = (records: ReturnType<typeof generate>, partition: number) =>
          records.map((r) => ({ ...r, partition }))

        const before = generate({ claims }, 0, 120).map((r, i) => ({ ...r, partition: i % partitions }))
        yield* produce(broker.bootstrap, input, before)
        yield* pollUntil("the first payments' outputs", payments, (n) => n === before.length, { timeoutMs: 45_000 })
        yield* pollUntil("the first payments to be committed", allCommitted, (done) => done)
        const endsBefore = yield* ends

        // During the outage, partitions 1.. get payments that must wait, each
        // followed by malformed records that complete at once (dead letters).
        yield* proxy.set(FaultProxy.FaultMode.reset)
        const waiting = generate({ claims }, 1_000, 4 * (partitions - 1))
        const malformed = generate({ claims, invalidRate: 1 }, 2_000, 2 * (partitions - 1))
        const during = Array.from({ length: partitions - 1 }, (_, i) =>
          onPartition(
            [
              waiting[4 * i]!,
              waiting[4 * i + 1]!,
              malformed[2 * i]!,
              waiting[4 * i + 2]!,
              malformed[2 * i + 1]!,
              waiting[4 * i + 3]!
            ],
            i + 1
          )
        ).flat()
        yield* produce(broker.bootstrap, input, during)
        yield* pollUntil(
          "the malformed records of the outage in the dead-letter topic",
          deadLetters,
          (n) => n === malformed.length
        )
        // A reset lookup fails at once as unavailable (then the breaker opens);
        // none waits for the lookup timeout, which the end of the test checks.
        yield* pollUntil(
          "a failed lookup",
          Effect.map(metrics, (samples) =>
            ["unavailable", "circuit_open"].reduce(
              (n, outcome) => n + metricValue(samples, "sluice_policy_calls_total", { policy: "claims-db", outcome }),
              0
            )
          ),
          (failed) => failed > 0
        )
        // A marker on partition 0, produced after every other dead letter was
        // written: once it is committed, a commit has been made that saw them.
        const marker = onPartition(generate({ claims, invalidRate: 1 }, 3_000, 1), 0)
        yield* produce(broker.bootstrap, input, marker)
        const [offsetsDuring] = yield* pollUntil(
          "the marker to be committed",
          Effect.all([committed, ends]),
          ([c, e]) => c[0] === e[0]
        )
        for (let p = 1; p < partitions; p++) {
          assert.strictEqual(offsetsDuring[p], endsBefore[p], `partition ${p} committed past a waiting payment`)
        }
        assert.strictEqual(yield* payments, before.length, "a payment was routed during the outage")

        // After: the waiting payments are enriched, and everything is committed.
        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        yield* pollUntil("the waiting payments' outputs", payments, (n) => n === before.length + waiting.length)
        yield* pollUntil("every record to be committed", allCommitted, (done) => done)
        const produced = [...before, ...during, ...marker]
        const client = yield* readerClient(broker)
        const outcomes = accountFor(produced, yield* readTopics(client, outputTopics, produced.length))
        for (const r of [...before, ...waiting]) {
          assert.strictEqual(outcomes.get(paymentId(r))?.status, r.kind === "valid" ? "SUCCESS" : "CLAIM_NOT_FOUND")
        }
        const final = yield* metrics
        assert.strictEqual(byStatus(final, "DB_ERROR") + byStatus(final, "DB_TIMEOUT"), 0)
        assert.strictEqual(
          metricValue(final, "sluice_policy_calls_total", { policy: "claims-db", outcome: "timeout" }),
          0,
          "a lookup attempt ran into the lookup timeout"
        )
        assert.strictEqual(breaker(final).state, 0)
        assert.strictEqual(yield* stopSluice(job), 0, job.output().stderr)
      }),
    90_000
  )

  it.live(
    "a database slower than --lookup-timeout: DB_TIMEOUT with its reason, then SUCCESS again at full speed",
    () =>
      Effect.gen(function* () {
        const { broker, proxy, env, metrics } = yield* enrichEnvironment({ claims })
        const job = yield* sluiceJob(
          [
            "claims",
            "enrich",
            "--cache-size",
            "0",
            "--lookup-timeout",
            "2s",
            "--retry-attempts",
            "0",
            "--breaker-cooldown",
            "500ms"
          ],
          env
        )
        const outputs = countRecords(broker, outputTopics)
        const produced: Array<ReturnType<typeof generate>[number]> = []
        const send = (records: ReturnType<typeof generate>) =>
          Effect.andThen(
            Effect.sync(() => produced.push(...records)),
            produce(broker.bootstrap, input, records)
          )

        const before = generate({ claims, validClaimRate: 1 }, 0, 30)
        yield* send(before)
        yield* pollUntil("the first payments' outputs", outputs, (n) => n === produced.length, { timeoutMs: 45_000 })

        // Each chunk takes 2.5 s each way: a lookup round trip is 5 s, beyond the 2 s timeout.
        yield* proxy.set(FaultProxy.FaultMode.latency("2500 millis"))
        const slow = generate({ claims, validClaimRate: 1 }, 1_000, 30)
        yield* send(slow)
        yield* pollUntil("outputs of the slow period", outputs, (n) => n === produced.length)

        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        // Connections still hold delayed bytes for a moment: trickle until a whole batch succeeds.
        let next = 2_000
        yield* pollUntil(
          "a batch enriched in full",
          Effect.gen(function* () {
            const trickle = generate({ claims, validClaimRate: 1 }, next, 5)
            next += 5
            const succeeded = byStatus(yield* metrics, "SUCCESS")
            yield* send(trickle)
            yield* pollUntil("trickle outputs", outputs, (n) => n === produced.length)
            return byStatus(yield* metrics, "SUCCESS") - succeeded
          }),
          (n) => n === 5,
          { intervalMs: 200 }
        )
        const after = generate({ claims, validClaimRate: 1 }, 10_000, 30)
        yield* send(after)
        yield* pollUntil("outputs after the slow period", outputs, (n) => n === produced.length)

        const client = yield* readerClient(broker)
        const outcomes = accountFor(produced, yield* readTopics(client, outputTopics, produced.length))
        const slowOutcomes = slow.map((r) => outcomes.get(paymentId(r))!)
        // The breaker may open once enough lookups timed out; those are DB_ERROR (circuit open).
        for (const o of slowOutcomes) assert.oneOf(o.status, ["DB_TIMEOUT", "DB_ERROR"])
        const timedOut = slowOutcomes.filter((o) => o.status === "DB_TIMEOUT")
        assert.isNotEmpty(timedOut)
        for (const o of timedOut) {
          assert.strictEqual(o.topic, topicEnv.FAILED_PAYMENTS_TOPIC)
          assert.strictEqual(o.errorReason, "lookup claims timed out after 2000 ms")
        }
        for (const r of [...before, ...after]) assert.strictEqual(outcomes.get(paymentId(r))?.status, "SUCCESS")
        assert.strictEqual(yield* stopSluice(job), 0, job.output().stderr)
      }),
    90_000
  )
})
