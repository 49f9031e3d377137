import { createServer, type Server } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { EmbeddedKafka } from "@sluice/testkit"
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { freePort } from "./support/metrics.ts"
import { pollUntil } from "./support/poll.ts"
import { spawnSluice, stopSluice } from "./support/spawnSluice.ts"

// The start-up errors a new user meets, through the real CLI: each is one
// line on stderr naming the cause and the setting, no stack trace, a
// non-zero exit, and nothing created before the checks pass.

const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.promise(() => spawnSluice(args, env).done)

const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "")

// A port that was free a moment ago and that nothing listens on.
const closedPort = freePort()

const occupiedPort = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly server: Server; readonly port: number }>((resolve) => {
        const server = createServer()
        server.listen(0, () => {
          const address = server.address()
          resolve({ server, port: typeof address === "object" && address !== null ? address.port : 0 })
        })
      })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const topicsOf = (bootstrap: string) =>
  Effect.promise(async () => {
    const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      return await admin.listTopics()
    } finally {
      await admin.disconnect()
    }
  })

// Log lines at warning level or above, which reach stdout through the JSON logger.
const warnings = (stdout: string) => lines(stdout).filter((line) => /"level":"(WARN|ERROR|FATAL)"/.test(line))

describe("sluice start-up errors", { timeout: 60_000 }, () => {
  it.live("METRICS_PORT in use - one line naming the port and the setting, exit 1", () =>
    Effect.gen(function* () {
      const { port } = yield* occupiedPort
      const r = yield* run(["claims", "large"], { METRICS_PORT: String(port) })
      assert.strictEqual(r.status, 1, r.stderr)
      assert.deepStrictEqual(lines(r.stderr), [
        `error: port ${port} is already in use (check METRICS_PORT or --metrics-port)`
      ])
    }).pipe(Effect.scoped)
  )

  it.live("Kafka unreachable - a short bounded retry, then one line naming the brokers and the setting", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const started = Date.now()
      const r = yield* run(["claims", "large", "--metrics-port", "0", "--bootstrap-servers", `127.0.0.1:${port}`])
      const seconds = (Date.now() - started) / 1000
      assert.strictEqual(r.status, 1, r.stderr)
      const stderr = lines(r.stderr)
      assert.strictEqual(stderr.length, 1, r.stderr)
      assert.match(
        stderr[0]!,
        new RegExp(
          `^error: Kafka at 127\\.0\\.0\\.1:${port} does not answer: .+ \\(check KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers\\)$`
        )
      )
      // The retry is bounded: well under the client library's own 12 s or so.
      assert.isBelow(seconds, 15)
      // kafkajs' connection errors while it retries are not repeated on stdout.
      assert.deepStrictEqual(warnings(r.stdout), [])
    })
  )

  it.live("database missing or unreachable - one line naming DATABASE_URL, and no topic created", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      const port = yield* closedPort
      const missing = `sluice_missing_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      for (const url of [`postgres://postgres@127.0.0.1:5432/${missing}`, `postgres://postgres@127.0.0.1:${port}/x`]) {
        const r = yield* run(["claims", "enrich", "--metrics-port", "0"], {
          KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
          DATABASE_URL: url
        })
        assert.strictEqual(r.status, 1, r.stderr)
        const stderr = lines(r.stderr)
        assert.strictEqual(stderr.length, 1, r.stderr)
        assert.match(
          stderr[0]!,
          /^error: the database at 127\.0\.0\.1:\d+\/\w+ does not answer: .+ \(check DATABASE_URL or --database-url\)$/
        )
        assert.notInclude(r.stderr, "    at ")
      }
      assert.deepStrictEqual(yield* topicsOf(broker.bootstrap), [])
    }).pipe(Effect.scoped)
  )

  it.live("Kafka SASL - the embedded broker does not speak it: one line naming KAFKA_SASL_MECHANISM", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      const r = yield* run(["claims", "large", "--metrics-port", "0"], {
        KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
        KAFKA_SASL_MECHANISM: "PLAIN",
        KAFKA_SASL_USERNAME: "sluice",
        KAFKA_SASL_PASSWORD: "hunter2"
      })
      assert.strictEqual(r.status, 1, r.stderr)
      const stderr = lines(r.stderr)
      assert.strictEqual(stderr.length, 1, r.stderr)
      assert.include(stderr[0]!, "KAFKA_SASL_MECHANISM")
      assert.notInclude(r.stdout + r.stderr, "hunter2")
      assert.deepStrictEqual(yield* topicsOf(broker.bootstrap), [])
    }).pipe(Effect.scoped)
  )

  it.live("Kafka SASL - an unknown mechanism is refused at start, naming the variable", () =>
    Effect.gen(function* () {
      const r = yield* run(["claims", "large", "--metrics-port", "0"], {
        KAFKA_SASL_MECHANISM: "kerberos",
        KAFKA_SASL_USERNAME: "sluice",
        KAFKA_SASL_PASSWORD: "hunter2"
      })
      assert.strictEqual(r.status, 1, r.stderr)
      const stderr = lines(r.stderr)
      assert.strictEqual(stderr.length, 1, r.stderr)
      assert.include(stderr[0]!, "KAFKA_SASL_MECHANISM")
      assert.include(stderr[0]!, "kerberos")
    })
  )

  it.live("kafkajs log lines - the partitioner notice and 'topic exists' errors stay below Info", () =>
    Effect.gen(function* () {
      const broker = yield* EmbeddedKafka.make({ port: 0 })
      // Topics that exist already: creating them again is what kafkajs logs as an error.
      yield* Effect.promise(async () => {
        const admin = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING }).admin()
        await admin.connect()
        await admin.createTopics({
          topics: ["enriched-payments", "large-claims", "payment-events-dlq"].map((topic) => ({
            topic,
            numPartitions: 6
          }))
        })
        await admin.disconnect()
      })
      const port = yield* freePort()
      const job = spawnSluice(["claims", "large", "--metrics-port", String(port)], {
        KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap
      })
      const ready = yield* pollUntil(
        "the large-claims job to be ready",
        Effect.promise(() =>
          fetch(`http://127.0.0.1:${port}/readyz`).then(
            (r) => r.status,
            () => 0
          )
        ),
        (status) => status === 200 || job.child.exitCode !== null
      )
      const status = yield* stopSluice(job)
      const { stdout, stderr } = job.output()
      assert.strictEqual(ready, 200, stderr)
      assert.strictEqual(status, 0, stderr)
      // A clean start and stop has nothing to warn about.
      assert.deepStrictEqual(warnings(stdout), [])
    }).pipe(Effect.scoped)
  )
})
