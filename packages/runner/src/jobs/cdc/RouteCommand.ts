/**
 * `sluice cdc route --rules rules.yaml`: reads the raw change events
 * (`raw-business-events`), routes them with the rules of `@sluice/rules`
 * and writes each output, keyed like its input, to the rule's consumer
 * topic. Every rule is parsed and type-checked at start; an invalid file
 * stops the command with one line naming the file, the rule and the
 * position. A changed file is reloaded without a restart (an invalid new
 * version keeps the old rules and logs why); each chunk is routed under one
 * version (a bigger chunk a slice of about 1 MB at a time). The consumer
 * group commits a record only after every output of it is written: at least
 * once. With `--route-format avro` the outputs are Avro
 * records with their schemas in the registry at `SCHEMA_REGISTRY_URL` (see
 * `RouteFormat`).
 *
 * @since 0.1.0
 */
import type { Envelope } from "@sluice/core"
import { Admin, KafkaClient, KafkaSink, KafkaSource, type SchemaRegistry } from "@sluice/kafka"
import { RuleSet, Shape } from "@sluice/rules"
import { type Duration, Effect, Ref, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as Readiness from "../../http/Readiness.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"
import * as Services from "../../Services.ts"
import * as ByteSlices from "./ByteSlices.ts"
import * as CdcConfig from "./CdcConfig.ts"
import * as CdcDashboard from "./CdcDashboard.ts"
import * as CdcSink from "./CdcSink.ts"
import * as RouteFormat from "./RouteFormat.ts"
import * as Routing from "./Routing.ts"

/**
 * How the router runs besides its configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteOptions {
  /** The rule file. */
  readonly rules: string
  /** How often the rule file is read again; default 1 second. */
  readonly pollInterval?: Duration.Input
  /**
   * The registry of `--route-format avro`; the one the environment names
   * (`SCHEMA_REGISTRY_URL`) when absent.
   */
  readonly registry?: SchemaRegistry.SchemaRegistry["Service"]
}

/**
 * Loads the rules (failing with one line when they are invalid), then routes
 * until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const runRoute = (
  config: CdcConfig.CdcConfig,
  options: RouteOptions,
  readiness: Readiness.Readiness["Service"]
) =>
  Effect.gen(function* () {
    // The rules first: a wrong file must fail before anything connects or is created.
    const rules = yield* RuleSet.make({
      source: options.rules,
      shape: Shape.debezium,
      pollInterval: options.pollInterval ?? "1 second"
    }).pipe(
      Effect.mapError(
        (error) => new RunnerError({ reason: new Startup({ detail: error.message, settings: "--rules" }) })
      )
    )
    // Then the registry, checked once, for the same reason.
    const encoder =
      config.routeFormat === "avro"
        ? RouteFormat.avro(options.registry ?? (yield* RouteFormat.registryFromEnv))
        : undefined
    const assigned = yield* Ref.make(0)
    yield* readiness.register(
      "partitions",
      Effect.flatMap(Ref.get(assigned), (n) => (n > 0 ? Effect.void : Effect.fail("no partitions assigned yet")))
    )
    const client = yield* Services.kafka(config).pipe(Effect.provideService(Readiness.Readiness, readiness))
    const ensured = new Set<string>()
    const ensure = (topics: Iterable<string>) =>
      Effect.gen(function* () {
        const missing = [...new Set(topics)].filter((t) => !ensured.has(t))
        if (missing.length === 0) return
        yield* Admin.ensureTopics(missing.map((topic) => ({ topic, partitions: 6 }))).pipe(
          Effect.provideService(KafkaClient.KafkaClient, client)
        )
        for (const t of missing) ensured.add(t)
      })
    yield* ensure([config.rawTopic, config.deadLetterTopic])
    const producer = yield* KafkaSink.producer(client)
    const records = yield* KafkaSource.make(client, {
      topics: [config.rawTopic],
      groupId: config.groupId,
      onAssignment: (partitions) => Ref.set(assigned, partitions.length)
    })
    const initial = yield* rules.current
    yield* Effect.logInfo("cdc route started").pipe(
      Effect.annotateLogs({
        job: "cdc-route",
        input: config.rawTopic,
        group: config.groupId,
        rules: options.rules,
        mode: initial.mode,
        format: config.routeFormat,
        ruleCount: initial.rules.length
      })
    )
    const routeSlice = (slice: ReadonlyArray<Envelope.Envelope<Envelope.Payload>>) =>
      Effect.gen(function* () {
        const out = yield* Routing.routeChunk(rules, config.deadLetterTopic, slice, encoder)
        // A reloaded file may name topics that do not exist yet.
        yield* ensure(out.flatMap((r) => (r.topic === undefined ? [] : [r.topic])))
        yield* CdcSink.write(producer, out)
      })
    // A slice of about 1 MB at a time (see `ByteSlices`): routed, written and acknowledged before the next.
    yield* Stream.runForEachArray(records, (chunk) =>
      Effect.forEach(ByteSlices.slices(chunk), routeSlice, { discard: true })
    )
  })

const rulesFlag = Flag.String("rules").pipe(
  Flag.withDescription("The rule file (YAML): mode, default or drop-unmatched, rules")
)

/**
 * `sluice cdc route`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("route", { ...CdcConfig.settingFlags, rules: rulesFlag }, (flags) =>
  Effect.gen(function* () {
    const config = yield* CdcConfig.load(flags)
    yield* Effect.scoped(
      Effect.flatMap(Services.observability(config.metricsPort, CdcDashboard.dashboard), (readiness) =>
        runRoute(config, { rules: flags.rules }, readiness)
      )
    ).pipe(Services.withTelemetry("cdc-route"))
  })
).pipe(Command.withDescription("Route raw change events to consumer topics with a rule file (reloaded on change)"))
