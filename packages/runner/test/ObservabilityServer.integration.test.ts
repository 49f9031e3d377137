import { assert, describe, it } from "@effect/vitest"
import { Admin, KafkaClient, KafkaSink, KafkaSource } from "@sluice/kafka"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect, Layer, Metric, Ref, Schedule, Stream } from "effect"
import * as ObservabilityServer from "../src/http/ObservabilityServer.ts"
import * as Readiness from "../src/http/Readiness.ts"

const ServerLive = ObservabilityServer.layer({ port: 0, host: "127.0.0.1" }).pipe(Layer.provideMerge(Readiness.layer))

const baseUrl = Effect.map(ObservabilityServer.boundPort, (port) => `http://127.0.0.1:${port}`)

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
  })

describe("ObservabilityServer", () => {
  it.live("layer - serves metrics, health, readiness, stats and the dashboard", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* Metric.update(
        Metric.withAttributes(Metric.counter("sluice_records_in_total"), { topic: "payment-events" }),
        42
      )
      yield* Metric.update(Metric.withAttributes(Metric.gauge("sluice_breaker_state"), { policy: "claims-db" }), 1)

      const metrics = yield* get(`${base}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.type, "text/plain")
      assert.include(metrics.body, 'sluice_records_in_total{topic="payment-events"} 42')

      const health = yield* get(`${base}/healthz`)
      assert.strictEqual(health.status, 200)

      const database = yield* Ref.make(false)
      const readiness = yield* Readiness.Readiness
      yield* readiness.register(
        "database",
        Effect.flatMap(Ref.get(database), (up) => (up ? Effect.void : Effect.fail("database unreachable")))
      )
      const notReady = yield* get(`${base}/readyz`)
      assert.strictEqual(notReady.status, 503)
      assert.deepStrictEqual(JSON.parse(notReady.body), {
        ready: false,
        checks: [{ name: "database", ok: false, detail: "database unreachable" }]
      })
      yield* Ref.set(database, true)
      const ready = yield* get(`${base}/readyz`)
      assert.strictEqual(ready.status, 200)

      const stats = JSON.parse((yield* get(`${base}/api/stats`)).body)
      assert.strictEqual(stats.recordsIn, 42)
      assert.deepStrictEqual(stats.breakers, { "claims-db": "HALF_OPEN" })

      const page = yield* get(`${base}/`)
      assert.strictEqual(page.status, 200)
      assert.include(page.type, "text/html")
      assert.include(page.body, "api/stats")
    }).pipe(Effect.provide(ServerLive))
  )

  it.live(
    "layer - a Kafka source's consumer lag shows in /metrics and /api/stats",
    () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const broker = yield* EmbeddedKafka.make({ port: 0 })
        const client = yield* KafkaClient.make({ brokers: [broker.bootstrap], clientId: "lag-test", logLevel: "None" })
        const topic = `lag-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
        yield* Admin.ensureTopics([{ topic, partitions: 1 }]).pipe(
          Effect.provideService(KafkaClient.KafkaClient, client)
        )
        const producer = yield* KafkaSink.producer(client)
        const total = 25
        yield* Effect.promise(() =>
          producer.send({ topic, acks: -1, messages: Array.from({ length: total }, (_, i) => ({ value: `${i}` })) })
        )
        // A pipeline that never acknowledges: everything produced stays lag.
        const records = yield* KafkaSource.make(client, { topics: [topic], groupId: `${topic}-group` })
        yield* records.pipe(Stream.runDrain, Effect.forkScoped)
        const line = `sluice_consumer_lag{topic="${topic}",partition="0"} ${total}`
        yield* Effect.gen(function* () {
          const metrics = yield* get(`${base}/metrics`)
          if (!metrics.body.includes(line)) return yield* Effect.fail("lag not reported yet")
        }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }))
        const stats = JSON.parse((yield* get(`${base}/api/stats`)).body)
        assert.deepInclude(stats.consumerLag, { topic, partition: 0, lag: total })
      }).pipe(Effect.scoped, Effect.provide(ServerLive)),
    60_000
  )
})
