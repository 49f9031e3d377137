/**
 * The trigger's tool commands: `sluice trigger generate` publishes
 * generated user events, `sluice trigger fake-services` serves the fake
 * Profile API and webhook receiver of `@sluice/testkit` on given ports, and
 * `sluice demo trigger` runs the whole system in one process (embedded
 * broker, fake services, generator, the job with the seed's example filter,
 * dashboard) and prints what the webhook received.
 *
 * @since 0.1.0
 */
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Admin, KafkaClient } from "@sluice/kafka"
import { Effect, Metric, Option, Schedule } from "effect"
import { Command, Flag } from "effect/cli"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import * as Services from "../../Services.ts"
import * as Publish from "./Publish.ts"
import * as TriggerCommand from "./TriggerCommand.ts"
import * as TriggerConfig from "./TriggerConfig.ts"
import * as TriggerDashboard from "./TriggerDashboard.ts"
import * as TriggerMetrics from "./TriggerMetrics.ts"

const say = (line: string) => Effect.sync(() => process.stderr.write(`${line}\n`))

/**
 * The seed's example filter, in CEL.
 *
 * @since 0.1.0
 * @category constants
 */
export const exampleFilter = `event.eventType == "page_view" && user.country == "US"\n`

const seed = Flags.parsed("seed", Parse.int(0), "Seed of the generated events").pipe(Flags.withDefault(7, "7"))
const users = Flags.parsed("users", Parse.int(1), "Distinct users").pipe(Flags.withDefault(1000, "1000"))
const eventsPerSecond = Flags.parsed("events-per-second", Parse.positiveNumber, "Publishing rate").pipe(
  Flags.withDefault(500, "500")
)
const pageViewShare = Flags.parsed("page-view-share", Parse.fraction, "Share of page views").pipe(
  Flags.withDefault(0.6, "0.6")
)
const count = Flags.parsed("count", Parse.int(1), "Events to publish").pipe(Flags.withDefault(5000, "5000"))

const generate = Command.make(
  "generate",
  {
    ...TriggerConfig.settingFlags,
    config: TriggerCommand.configFlag,
    seed,
    users,
    eventsPerSecond,
    pageViewShare,
    count
  },
  ({ config: configPath, seed, users, eventsPerSecond, pageViewShare, count, ...flags }) =>
    Effect.gen(function* () {
      const config = yield* TriggerConfig.load(flags, configPath)
      const client = yield* Services.kafkaClient(config)
      yield* Admin.ensureTopics([{ topic: config.topics.input, partitions: 6 }]).pipe(
        Effect.provideService(KafkaClient.KafkaClient, client)
      )
      const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
      const sent = yield* Publish.run(producer, {
        topic: config.topics.input,
        seed,
        users,
        pageViewShare,
        count,
        eventsPerSecond
      })
      yield* say(`generate: ${sent} events sent to ${config.topics.input}`)
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Publish generated user events (sessions of many users) to the input topic"))

const profilePort = Flags.parsed("profile-api-port", Parse.port, "Port of the fake Profile API").pipe(
  Flags.withDefault(8080, "8080")
)
const webhookPort = Flags.parsed("webhook-port", Parse.port, "Port of the fake webhook receiver").pipe(
  Flags.withDefault(8081, "8081")
)
const failureRate = Flags.parsed("failure-rate", Parse.fraction, "Share of Profile API calls that fail").pipe(
  Flags.withDefault(0, "0")
)

const fakeServices = Command.make(
  "fake-services",
  {
    profilePort,
    webhookPort,
    failureRate,
    seed: Flags.parsed("profile-seed", Parse.int(0), "Seed of the fake profiles").pipe(Flags.withDefault(42, "42"))
  },
  (flags) =>
    Effect.gen(function* () {
      const FakeProfileApi = yield* Effect.promise(() => import("@sluice/testkit/FakeProfileApi"))
      const FakeWebhook = yield* Effect.promise(() => import("@sluice/testkit/FakeWebhook"))
      const api = yield* FakeProfileApi.make({
        port: flags.profilePort,
        seed: flags.seed,
        failureRate: flags.failureRate
      })
      const hook = yield* FakeWebhook.make({ port: flags.webhookPort })
      yield* say(`profile api: ${api.url}/users/{id}`)
      yield* say(`webhook receiver: ${hook.url}`)
      yield* Effect.never
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Serve a fake Profile API and a fake webhook receiver until interrupted"))

/**
 * The trigger's commands other than `run`.
 *
 * @since 0.1.0
 * @category commands
 */
export const commands = [generate, fakeServices]

const counterValue = (counter: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(counter, attributes)), (s) => Number(s.count))

/**
 * `sluice demo trigger`.
 *
 * @since 0.1.0
 * @category commands
 */
export const demo = (name: string) =>
  Command.make(
    name,
    { seed, users, eventsPerSecond, pageViewShare, count: count.pipe(Flag.withDefault(3000)) },
    (flags) =>
      Effect.gen(function* () {
        const EmbeddedKafka = yield* Effect.promise(() => import("@sluice/testkit/EmbeddedKafka"))
        const FakeProfileApi = yield* Effect.promise(() => import("@sluice/testkit/FakeProfileApi"))
        const FakeWebhook = yield* Effect.promise(() => import("@sluice/testkit/FakeWebhook"))
        const broker = yield* EmbeddedKafka.make({ port: 0, defaultPartitions: 6 })
        yield* say(`kafka: embedded broker on ${broker.bootstrap}`)
        const api = yield* FakeProfileApi.make({ latency: "5 millis" })
        const hook = yield* FakeWebhook.make()
        yield* say(`profile api: ${api.url}  webhook receiver: ${hook.url}`)
        const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "sluice-trigger-")))
        const filterPath = join(dir, "filter.cel")
        yield* Effect.promise(() => writeFile(filterPath, exampleFilter))
        yield* say(`filter (${filterPath}): ${exampleFilter.trim()}`)
        const base = yield* TriggerConfig.load()
        const config: TriggerConfig.TriggerConfig = {
          ...base,
          bootstrapServers: [broker.bootstrap],
          profileApi: { ...base.profileApi, baseUrl: api.url },
          filterScriptPath: filterPath,
          actions: { webhook: Option.some({ url: `${hook.url}/events`, timeoutMs: 3000 }), debug: false }
        }
        const readiness = yield* Services.observability(config.metricsPort, TriggerDashboard.dashboard)
        yield* say(`dashboard: http://127.0.0.1:${readiness.port}/  (metrics on /metrics)`)
        yield* Effect.forkScoped(TriggerCommand.run(config, { stateDir: Option.none() }, readiness))
        const client = yield* Services.kafkaClient({
          bootstrapServers: config.bootstrapServers,
          clientId: "sluice-demo-generator"
        })
        yield* Admin.ensureTopics([{ topic: config.topics.input, partitions: 6 }]).pipe(
          Effect.provideService(KafkaClient.KafkaClient, client)
        )
        const producer = yield* client.producer({ idempotent: true, maxInFlightRequests: 1 })
        const sent = yield* Publish.run(producer, {
          topic: config.topics.input,
          seed: flags.seed,
          users: flags.users,
          pageViewShare: flags.pageViewShare,
          count: flags.count,
          eventsPerSecond: flags.eventsPerSecond
        })
        yield* say(`generator: ${sent} events sent`)
        // Done when every event was decided and every passing one delivered or given up on (bounded).
        const progress = Effect.all({
          decided: Effect.map(
            Effect.all(
              ["pass", "reject", "error"].map((outcome) => counterValue(TriggerMetrics.filterDecisions, { outcome }))
            ),
            (xs) => xs.reduce((a, b) => a + b, 0)
          ),
          passed: counterValue(TriggerMetrics.filterDecisions, { outcome: "pass" }),
          acted: Effect.map(
            Effect.all(
              ["delivered", "failed"].map((outcome) =>
                counterValue(TriggerMetrics.actions, { action: "webhook", outcome })
              )
            ),
            (xs) => xs.reduce((a, b) => a + b, 0)
          )
        })
        yield* progress.pipe(
          Effect.repeat({
            schedule: Schedule.spaced("250 millis"),
            until: (p) => p.decided >= sent && p.acted >= p.passed
          }),
          Effect.timeoutOption("2 minutes")
        )
        const passed = yield* counterValue(TriggerMetrics.filterDecisions, { outcome: "pass" })
        const hits = yield* counterValue(TriggerMetrics.stateLookups, { outcome: "hit" })
        const calls = yield* api.totalCalls
        const requests = yield* hook.requests
        const delivered = requests.length
        const distinct = new Set(
          requests.map((r) =>
            typeof r.json === "object" && r.json !== null ? String(Reflect.get(r.json, "event_id")) : r.body
          )
        ).size
        yield* Effect.sync(() =>
          process.stdout.write(
            `events ${sent} · Profile API calls ${calls} · state hit rate ${((100 * hits) / Math.max(1, sent)).toFixed(1)}% · ` +
              `filter passed ${passed} (${((100 * passed) / Math.max(1, sent)).toFixed(1)}%) · webhook received ${delivered} (${distinct} distinct event ids)\n`
          )
        )
      }).pipe(Effect.scoped)
  ).pipe(
    Command.withDescription(
      "Run the event trigger locally: broker, fake Profile API and webhook, generator, job, dashboard"
    )
  )
