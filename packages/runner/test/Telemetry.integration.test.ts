// OpenTelemetry export of the real `sluice claims enrich` process: an OTLP/HTTP
// receiver in the test collects what the job posts (JSON), while the job
// enriches payments from the embedded broker against a fresh PostgreSQL
// database. The export intervals are set far beyond the test's length, so
// whatever arrives was flushed when SIGTERM closed the job's scopes.
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { KafkaClient, KafkaSource } from "@sluice/kafka"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect, Stream } from "effect"
import { Kafka, logLevel } from "kafkajs"
import * as Claims from "../src/jobs/claims/ClaimsTable.ts"
import * as Generator from "../src/jobs/claims/Generator.ts"
import { freshDatabase } from "./support/database.ts"
import { spawnSluice } from "./support/spawnSluice.ts"

const total = 600
const claims = 200

interface Received {
  readonly path: string
  readonly contentType: string
  readonly body: unknown
}

// Accepts every POST and answers as an OTLP receiver does; closed with the scope.
const receiver = Effect.acquireRelease(
  Effect.promise(() => {
    const received: Array<Received> = []
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        received.push({ path: req.url ?? "", contentType: req.headers["content-type"] ?? "", body })
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    return new Promise<{ server: Server; url: string; received: Array<Received> }>((resolve) =>
      server.listen(0, "127.0.0.1", () =>
        resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })
      )
    )
  }),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

interface OtlpAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: string | number }
}
interface OtlpSpan {
  readonly name: string
  readonly attributes: ReadonlyArray<OtlpAttribute>
}
interface OtlpDataPoint {
  readonly attributes: ReadonlyArray<OtlpAttribute>
  readonly asInt?: string | number
  readonly asDouble?: number
}
interface OtlpMetric {
  readonly name: string
  readonly sum?: { readonly dataPoints: ReadonlyArray<OtlpDataPoint> }
}
interface OtlpResource {
  readonly attributes: ReadonlyArray<OtlpAttribute>
}

const attr = (attributes: ReadonlyArray<OtlpAttribute>, key: string) => {
  const v = attributes.find((a) => a.key === key)?.value
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue))
}

const spansOf = (received: ReadonlyArray<Received>) =>
  received
    .filter((r) => r.path === "/v1/traces")
    .flatMap(
      (r) =>
        (
          r.body as {
            resourceSpans: ReadonlyArray<{
              resource: OtlpResource
              scopeSpans: ReadonlyArray<{ spans: ReadonlyArray<OtlpSpan> }>
            }>
          }
        ).resourceSpans
    )

const metricsOf = (received: ReadonlyArray<Received>) =>
  received
    .filter((r) => r.path === "/v1/metrics")
    .flatMap(
      (r) =>
        (
          r.body as {
            resourceMetrics: ReadonlyArray<{
              resource: OtlpResource
              scopeMetrics: ReadonlyArray<{ metrics: ReadonlyArray<OtlpMetric> }>
            }>
          }
        ).resourceMetrics
    )

// Reads `count` records from the topics with a fresh group.
const readCount = (bootstrap: string, topics: ReadonlyArray<string>, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const client = yield* KafkaClient.make({ brokers: [bootstrap], logLevel: "None" })
      const records = yield* KafkaSource.make(client, { topics, groupId: `reader-${Math.random()}` })
      return yield* records.pipe(
        Stream.tap((e) => e.receipt.ack),
        Stream.take(count),
        Stream.runCount
      )
    })
  ).pipe(Effect.timeout("120 seconds"))

// A port that was free a moment ago, for the job's metrics server: the test scrapes it.
const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as AddressInfo
        probe.close(() => resolve(port))
      })
    })
)

const enrich = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawnSluice(["claims", "enrich"], env)),
    // Already stopped by the test unless an assertion failed on the way.
    (job) =>
      Effect.promise(() => {
        job.child.kill("SIGKILL")
        return job.done
      })
  )

const stop = (job: ReturnType<typeof spawnSluice>) =>
  Effect.promise(() => {
    job.child.kill("SIGTERM")
    return job.done
  })

describe("OpenTelemetry export", () => {
  it.live(
    "claims enrich - spans and sluice metrics reach the OTLP endpoint, flushed on SIGTERM; nothing without it",
    () =>
      Effect.gen(function* () {
        const db = yield* freshDatabase("sluice_otel")
        yield* Claims.migrate(db.sql)
        yield* Claims.seed(db.sql, { count: claims, seed: 3 })
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 3 })
        const options = { seed: 5, claims, validClaimRate: 0.9, invalidRate: 0 }
        yield* Effect.promise(async () => {
          const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING })
          const producer = kafka.producer()
          await producer.connect()
          await producer.send({
            topic: "payment-events",
            acks: -1,
            messages: Array.from({ length: total }, (_, i) => Generator.record(options, i, 1_700_000_000_000 + i)).map(
              (r) => ({ key: Buffer.from(r.key), value: Buffer.from(r.value) })
            )
          })
          await producer.disconnect()
        })
        const base = {
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: db.url,
          METRICS_PORT: "0",
          // Nothing is exported on a timer while the test runs: what arrives was flushed at shutdown.
          OTEL_METRIC_EXPORT_INTERVAL: "600000",
          OTEL_BSP_SCHEDULE_DELAY: "600000"
        }

        // With the endpoint: spans and metrics, all flushed by the graceful stop.
        const on = yield* receiver
        const metricsPort = yield* freePort
        const traced = yield* enrich({
          ...base,
          METRICS_PORT: String(metricsPort),
          GROUP_ID: "otel-on",
          ENRICHED_PAYMENTS_TOPIC: "on-enriched",
          FAILED_PAYMENTS_TOPIC: "on-failed",
          OTEL_EXPORTER_OTLP_ENDPOINT: on.url
        })
        assert.strictEqual(yield* readCount(broker.bootstrap, ["on-enriched", "on-failed"], total), total)
        for (const path of ["/healthz", "/readyz", "/metrics"]) {
          const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${metricsPort}${path}`))
          assert.strictEqual(response.status, 200, path)
          yield* Effect.promise(() => response.text())
        }
        assert.deepStrictEqual(on.received, [], "nothing exported on a timer while running")
        const exit = yield* stop(traced)
        assert.strictEqual(exit.status, 0, exit.stderr)

        assert.isTrue(on.received.every((r) => r.contentType.startsWith("application/json")))
        const resourceSpans = spansOf(on.received)
        for (const r of resourceSpans) assert.strictEqual(attr(r.resource.attributes, "service.name"), "sluice-enrich")
        const spans = resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
        const named = (name: string) => spans.filter((s) => s.name === name)
        // Every output was written in some chunk, each chunk one span.
        const written = named("sluice.sink.write")
          .filter((s) =>
            ["on-enriched", "on-failed"].includes(String(attr(s.attributes, "messaging.destination.name")))
          )
          .reduce((n, s) => n + Number(attr(s.attributes, "messaging.batch.message_count")), 0)
        assert.strictEqual(written, total)
        const batches = named("sluice.lookup.batch")
        assert.isAbove(batches.length, 0)
        for (const b of batches) {
          assert.strictEqual(attr(b.attributes, "sluice.lookup.name"), "claims")
          assert.strictEqual(attr(b.attributes, "sluice.lookup.outcome"), "ok")
          assert.isAtMost(Number(attr(b.attributes, "sluice.lookup.keys")), Claims.batching.maxBatchSize)
        }
        // Batches, not records: far fewer lookup spans than payments.
        assert.isBelow(batches.length, total / 2)
        const commits = named("sluice.commit")
        assert.isAbove(commits.length, 0)
        for (const c of commits) assert.strictEqual(attr(c.attributes, "messaging.consumer.group.name"), "otel-on")
        assert.deepStrictEqual(
          spans.filter((s) => !s.name.startsWith("sluice.")).map((s) => s.name),
          [],
          "only sluice's own spans (no per-request spans of the metrics server)"
        )

        const metrics = metricsOf(on.received).flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
        const names = new Set(metrics.map((m) => m.name))
        for (const name of [
          "sluice_records_in_total",
          "sluice_records_out_total",
          "sluice_commits_total",
          "sluice_lookup_requests_total",
          "sluice_lookup_batch_size"
        ]) {
          assert.isTrue(names.has(name), `${name} exported (got ${[...names].join(", ")})`)
        }
        // The last export holds the final cumulative count: every payment was read.
        const recordsIn = metrics.filter((m) => m.name === "sluice_records_in_total").at(-1)
        const inputPoint = recordsIn?.sum?.dataPoints.find((p) => attr(p.attributes, "topic") === "payment-events")
        assert.strictEqual(Number(inputPoint?.asInt ?? inputPoint?.asDouble), total)

        // Without OTEL_EXPORTER_OTLP_ENDPOINT nothing is exported, even with per-signal variables
        // that the OpenTelemetry exporters would otherwise pick up themselves.
        const off = yield* receiver
        const plain = yield* enrich({
          ...base,
          GROUP_ID: "otel-off",
          ENRICHED_PAYMENTS_TOPIC: "off-enriched",
          FAILED_PAYMENTS_TOPIC: "off-failed",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${off.url}/v1/traces`,
          OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${off.url}/v1/metrics`
        })
        assert.strictEqual(yield* readCount(broker.bootstrap, ["off-enriched", "off-failed"], total), total)
        const plainExit = yield* stop(plain)
        assert.strictEqual(plainExit.status, 0, plainExit.stderr)
        assert.deepStrictEqual(off.received, [])
      }),
    180_000
  )
})
