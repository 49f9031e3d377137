// Two real `sluice claims enrich` processes in one consumer group, their
// circuit breakers shared through the machine's Redis (`--breaker-store
// redis`). Only the first process reaches the database through a FaultProxy;
// the second reaches it directly, so during the outage every failed call is
// the first one's. The second's /metrics must still show the circuit open,
// with no failed call of its own, and both must recover once the database is
// back.
import { randomUUID } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { FaultProxy } from "@sluice/testkit"
import { Effect } from "effect"
import { accountFor, enrichEnvironment, generate } from "./support/enrichEnvironment.ts"
import { countRecords, outputTopics, produce, readerClient, readTopics, topicEnv } from "./support/kafka.ts"
import { freePort, metricValue, type Sample, scrape } from "./support/metrics.ts"
import { pollUntil } from "./support/poll.ts"
import { sluiceJob, stopSluice } from "./support/spawnSluice.ts"

const claims = 200
const input = topicEnv.PAYMENT_EVENTS_TOPIC

const calls = (samples: ReadonlyArray<Sample>, outcome: string) =>
  metricValue(samples, "sluice_policy_calls_total", { policy: "claims-db", outcome })

const view = (samples: ReadonlyArray<Sample>) => ({
  state: metricValue(samples, "sluice_breaker_state", { policy: "claims-db" }),
  success: calls(samples, "success"),
  // What a call that ran and failed counts as; a rejected call is `circuit_open`.
  failed: calls(samples, "unavailable") + calls(samples, "timeout"),
  rejected: calls(samples, "circuit_open"),
  enriched: metricValue(samples, "sluice_records_out_total", { status: "SUCCESS" })
})

const ready = (port: number) =>
  Effect.promise(() =>
    fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false
    )
  )

describe("sluice claims enrich - shared circuit breaker", () => {
  it.live(
    "--breaker-store redis: one replica's failures open the other's circuit, and both recover",
    () =>
      Effect.gen(function* () {
        // A group of its own: the circuit key is scoped by it, so no other test shares it.
        const group = `enrich-shared-${randomUUID()}`
        const { db, broker, proxy, env, metrics: metricsA } = yield* enrichEnvironment({ claims, group })
        const portB = yield* freePort()
        const metricsB = scrape(portB)
        const portA = Number(env.METRICS_PORT)
        const args = [
          "claims",
          "enrich",
          "--breaker-store",
          "redis",
          "--cache-size",
          "0",
          "--retry-attempts",
          "1",
          "--retry-backoff",
          "20ms",
          "--breaker-window",
          "10",
          // The shared window mixes the first replica's failures with the
          // second's successes; a low threshold still trips on them.
          "--breaker-threshold",
          "0.2",
          "--breaker-cooldown",
          "3s",
          // A member learns of the second one's arrival at its next heartbeat.
          "--heartbeat-interval",
          "500ms"
        ]
        const a = yield* sluiceJob(args, { ...env, REDIS_URL: "redis://127.0.0.1:6379" })
        const b = yield* sluiceJob(args, {
          ...env,
          DATABASE_URL: db.url,
          METRICS_PORT: String(portB),
          REDIS_URL: "redis://127.0.0.1:6379"
        })
        // A replica is ready once the group has given it partitions.
        yield* pollUntil(
          "both replicas to be ready",
          Effect.all([ready(portA), ready(portB)]),
          ([ra, rb]) => ra && rb,
          {
            timeoutMs: 45_000
          }
        )

        const outputs = countRecords(broker, outputTopics)
        const produced: Array<ReturnType<typeof generate>[number]> = []
        const send = (records: ReturnType<typeof generate>) =>
          Effect.andThen(
            Effect.sync(() => produced.push(...records)),
            produce(broker.bootstrap, input, records)
          )

        const before = generate({ claims }, 0, 300)
        yield* send(before)
        yield* pollUntil("the first payments' outputs", outputs, (n) => n === produced.length, { timeoutMs: 45_000 })
        const healthyA = view(yield* metricsA)
        const healthyB = view(yield* metricsB)
        assert.isAbove(healthyA.success, 0, "the first replica looked nothing up")
        assert.isAbove(healthyB.success, 0, "the second replica looked nothing up")
        assert.strictEqual(healthyB.state, 0)

        // The outage reaches the first replica only. Waves of payments keep
        // both replicas calling until the second shows the circuit open.
        yield* proxy.set(FaultProxy.FaultMode.reset)
        let next = 1_000
        const openOnB = yield* pollUntil(
          "the second replica's circuit to be open",
          Effect.gen(function* () {
            yield* send(generate({ claims, validClaimRate: 1 }, next, 40))
            next += 40
            yield* pollUntil("wave outputs", outputs, (n) => n === produced.length)
            return { a: view(yield* metricsA), b: view(yield* metricsB) }
          }),
          (s) => s.b.state === 2 && s.b.rejected > 0,
          { intervalMs: 100, timeoutMs: 45_000 }
        )
        assert.isAbove(openOnB.a.failed, 0, "the first replica never failed a call")
        assert.strictEqual(openOnB.b.failed, 0, "the second replica failed a call itself")

        // The database comes back: trickles until both replicas show the
        // circuit closed and enrich again.
        yield* proxy.set(FaultProxy.FaultMode.passThrough)
        const recovered = yield* pollUntil(
          "both replicas to recover",
          Effect.gen(function* () {
            const startA = view(yield* metricsA).enriched
            const startB = view(yield* metricsB).enriched
            yield* send(generate({ claims, validClaimRate: 1 }, next, 40))
            next += 40
            yield* pollUntil("trickle outputs", outputs, (n) => n === produced.length)
            const nowA = view(yield* metricsA)
            const nowB = view(yield* metricsB)
            return { a: nowA, b: nowB, enrichedA: nowA.enriched - startA, enrichedB: nowB.enriched - startB }
          }),
          (s) => s.a.state === 0 && s.b.state === 0 && s.enrichedA > 0 && s.enrichedB > 0,
          { intervalMs: 200, timeoutMs: 45_000 }
        )
        assert.strictEqual(recovered.b.failed, 0, "the second replica failed a call itself")

        // Nothing was lost or duplicated on the way.
        const client = yield* readerClient(broker)
        accountFor(produced, yield* readTopics(client, outputTopics, produced.length))
        const [stoppedA, stoppedB] = yield* Effect.all([stopSluice(a), stopSluice(b)], { concurrency: 2 })
        assert.strictEqual(stoppedA, 0, a.output().stderr)
        assert.strictEqual(stoppedB, 0, b.output().stderr)
      }),
    120_000
  )
})
