/**
 * The connections a job command opens, shared by every job: the Kafka client,
 * the PostgreSQL pool (through the configured URL or the embedded fallback),
 * the observability server with its readiness checks, and telemetry export.
 * Each comes as a scoped constructor and as a layer (`kafkaLayer`,
 * `kafkaClientLayer`, `databaseLayer`, `observabilityLayer`,
 * `telemetryLayer`) with the same start-up checks and one-line errors; a
 * command provides the layers, a job reads the services from its context.
 *
 * @since 0.1.0
 */
import { KafkaClient, type KafkaError } from "@sluice/kafka"
import { PgLookup } from "@sluice/lookup"
import { Context, type Duration, Effect, Config as EffectConfig, Layer, Option, Redacted, type Scope } from "effect"
import { HttpMiddleware } from "effect/http"
import type * as Config from "./Config.ts"
import * as EmbeddedPostgres from "./EmbeddedPostgres.ts"
import * as Dashboard from "./http/Dashboard.ts"
import * as ObservabilityServer from "./http/ObservabilityServer.ts"
import * as Readiness from "./http/Readiness.ts"
import { RunnerError, Startup } from "./RunnerError.ts"
import * as Telemetry from "./Telemetry.ts"

const bootstrapSettings = "KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers"

const startup = (detail: string, settings: string) => new RunnerError({ reason: new Startup({ detail, settings }) })

// The settings to name when Kafka refuses or cannot be reached.
const kafkaSettings = (error: KafkaError.KafkaError, options: Omit<KafkaClient.Options, "brokers" | "clientId">) =>
  error.reason._tag === "Authentication"
    ? "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
    : options.sasl !== undefined
      ? `${bootstrapSettings}, and KAFKA_SASL_MECHANISM: the broker may not speak SASL`
      : options.tls !== false
        ? `${bootstrapSettings}, and KAFKA_TLS: the broker may not speak TLS`
        : bootstrapSettings

// A `ConfigError` names the variable on a line of its own; one line is wanted.
const invalidKafkaSetting = (error: EffectConfig.ConfigError): RunnerError => {
  const text = error.message.replace(/\s*\n\s*/g, " ")
  const variable = /at \["([^"]+)"\]/.exec(text)?.[1]
  const detail = (/^SchemaError\((.*?)(?: at \[[^\]]*\])?\)$/.exec(text)?.[1] ?? text).trim()
  return variable === undefined
    ? startup(`a Kafka setting is invalid: ${detail}`, "the KAFKA_* variables")
    : startup(`${variable} is invalid: ${detail}`, variable)
}

/**
 * How long, at most, a command waits for Kafka at start before it says it
 * cannot reach it: kafkajs retries five times within about four seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const kafkaStartupRetry = { retries: 5, initialRetryTime: 250, maxRetryTime: 1000 } as const

/**
 * A Kafka client for the configured bootstrap servers and client id, with the
 * TLS, SASL and timeout settings `@sluice/kafka` reads from the environment
 * (`KafkaClient.connectionConfig`: `KAFKA_TLS*`, `KAFKA_SASL_*`,
 * `KAFKA_CONNECT_TIMEOUT`, `KAFKA_REQUEST_TIMEOUT`). Before the client is
 * built, a short bounded probe connects once (`kafkaStartupRetry`); a broker
 * that does not answer, or refuses the credentials, fails the command with one
 * line naming the settings to check, before anything is created.
 *
 * @since 0.1.0
 * @category constructors
 */
export const kafkaClient = (
  config: Pick<Config.Shared, "bootstrapServers" | "clientId">
): Effect.Effect<KafkaClient.KafkaClient["Service"], RunnerError, Scope.Scope> =>
  Effect.gen(function* () {
    const connection = yield* KafkaClient.connectionConfig.pipe(Effect.mapError(invalidKafkaSetting))
    const options: KafkaClient.Options = {
      ...connection,
      brokers: config.bootstrapServers,
      clientId: config.clientId
    }
    yield* Effect.scoped(
      Layer.build(KafkaClient.layerConfig(EffectConfig.succeed({ ...options, retry: kafkaStartupRetry })))
    ).pipe(
      Effect.catchTag("KafkaError", (error) =>
        Effect.fail(
          startup(
            `Kafka at ${config.bootstrapServers.join(",")} does not answer: ${error.message}`,
            kafkaSettings(error, connection)
          )
        )
      ),
      Effect.catchTag("ConfigError", (error) => Effect.fail(invalidKafkaSetting(error)))
    )
    const context = yield* Layer.build(KafkaClient.layerConfig(EffectConfig.succeed(options))).pipe(
      Effect.mapError((error) =>
        error._tag === "KafkaError"
          ? startup(
              `Kafka at ${config.bootstrapServers.join(",")} does not answer: ${error.message}`,
              kafkaSettings(error, connection)
            )
          : invalidKafkaSetting(error)
      )
    )
    return Context.get(context, KafkaClient.KafkaClient)
  })

/**
 * `kafkaClient` with its admin client registered as the `kafka` readiness check.
 *
 * @since 0.1.0
 * @category constructors
 */
export const kafka = (config: Pick<Config.Shared, "bootstrapServers" | "clientId">) =>
  Effect.gen(function* () {
    const client = yield* kafkaClient(config)
    const readiness = yield* Readiness.Readiness
    yield* readiness.register(
      "kafka",
      Effect.tryPromise(() => client.admin.listTopics())
    )
    return client
  })

/**
 * The PostgreSQL pool: `DATABASE_URL` (or `--database-url`) when given,
 * otherwise a local server on 127.0.0.1:5432, otherwise an embedded one.
 * Registered as the `database` readiness check.
 *
 * @since 0.1.0
 * @category constructors
 */
export const database = (
  config: Pick<Config.Shared, "databaseUrl" | "clientId">,
  options: { readonly statementTimeout?: Duration.Input } = {}
) =>
  Effect.gen(function* () {
    const url = Option.isSome(config.databaseUrl)
      ? config.databaseUrl.value
      : yield* EmbeddedPostgres.resolveDatabaseUrl
    const pg = yield* PgLookup.makeClient({
      url,
      applicationName: `sluice-${config.clientId}`,
      ...(options.statementTimeout === undefined ? {} : { statementTimeout: options.statementTimeout })
    })
    const readiness = yield* Readiness.Readiness
    yield* readiness.register(
      "database",
      Effect.tryPromise(() => pg.sql.unsafe("SELECT 1"))
    )
    return pg
  })

/**
 * `database` for a command that cannot run without it: a database that is
 * missing or does not answer fails the command with one line naming
 * `DATABASE_URL` / `--database-url`. Call it before creating anything, so a
 * wrong URL leaves nothing behind.
 *
 * @since 0.1.0
 * @category constructors
 */
export const databaseAtStart = (
  config: Pick<Config.Shared, "databaseUrl" | "clientId">,
  options: { readonly statementTimeout?: Duration.Input } = {}
) =>
  database(config, options).pipe(
    Effect.catchTag("LookupError", (error) =>
      Effect.fail(
        startup(
          `the database ${Option.match(config.databaseUrl, {
            onNone: () => "(local or embedded)",
            onSome: (url) => `at ${describeUrl(url)}`
          })} does not answer: ${error.message}`,
          "DATABASE_URL or --database-url"
        )
      )
    )
  )

const describeUrl = (url: Redacted.Redacted<string>): string => {
  try {
    const u = new URL(Redacted.value(url))
    return `${u.host}${u.pathname}`
  } catch {
    return "<unparseable URL>"
  }
}

// The first `code` (EADDRINUSE, EACCES...) along an error's causes.
const codeOf = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    if ("code" in current && typeof current.code === "string") return current.code
    current = "cause" in current ? current.cause : undefined
  }
  return undefined
}

/**
 * Serves `/metrics`, `/healthz`, `/readyz` and the dashboard on the configured
 * port for as long as the scope lasts. A port that is taken (or refused)
 * fails the command with one line naming `METRICS_PORT` / `--metrics-port`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const observability = (
  port: number,
  dashboard: Dashboard.Spec = Dashboard.empty
): Effect.Effect<Readiness.Readiness["Service"] & { readonly port: number }, RunnerError, Scope.Scope> =>
  Effect.gen(function* () {
    const readiness = yield* Readiness.make()
    const context = yield* Layer.build(
      ObservabilityServer.layer({ port, dashboard }).pipe(
        Layer.provide(Layer.succeed(Readiness.Readiness, readiness)),
        // Probes and scrapes every few seconds are not worth a trace each.
        Layer.provide(Layer.succeed(HttpMiddleware.TracerDisabledWhen, () => true))
      )
    ).pipe(
      Effect.mapError((error) => {
        const code = codeOf(error)
        return startup(
          code === "EADDRINUSE"
            ? `port ${port} is already in use`
            : `the metrics server cannot listen on port ${port}${code === undefined ? "" : ` (${code})`}`,
          "METRICS_PORT or --metrics-port"
        )
      })
    )
    const bound = yield* ObservabilityServer.boundPort.pipe(Effect.provideContext(context))
    // With port 0 the system picks the port, and this line is how anyone finds it.
    yield* Effect.logInfo("observability server listening").pipe(Effect.annotateLogs({ metricsPort: bound }))
    return { ...readiness, port: bound }
  })

/**
 * Runs a job with OpenTelemetry export when `OTEL_EXPORTER_OTLP_ENDPOINT` is
 * set (service `sluice-<job>` unless `OTEL_SERVICE_NAME` says otherwise).
 * Wrap the job's whole scope: the exporters are flushed after it closes, so
 * the final commit's span and the last metric values still go out.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withTelemetry =
  (job: string) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | RunnerError, R> =>
    Effect.provide(self, Telemetry.layer(job))

/**
 * The port the observability server got: the configured one, or the one the
 * system picked for port 0.
 *
 * @since 0.1.0
 * @category services
 */
export class MetricsPort extends Context.Service<MetricsPort, number>()("@sluice/runner/Services/MetricsPort") {}

/**
 * `observability` as a layer: the server runs for as long as the layer's
 * scope, and the jobs built on it find the readiness checks (`Readiness`)
 * and the bound port (`MetricsPort`) in their context.
 *
 * @since 0.1.0
 * @category layers
 */
export const observabilityLayer = (
  port: number,
  dashboard: Dashboard.Spec = Dashboard.empty
): Layer.Layer<Readiness.Readiness | MetricsPort, RunnerError> =>
  Layer.effectContext(
    Effect.map(observability(port, dashboard), (server) =>
      Context.make(Readiness.Readiness, server).pipe(Context.add(MetricsPort, server.port))
    )
  )

/**
 * `kafkaClient` as a layer, for a command without an observability server.
 *
 * @since 0.1.0
 * @category layers
 */
export const kafkaClientLayer = (
  config: Pick<Config.Shared, "bootstrapServers" | "clientId">
): Layer.Layer<KafkaClient.KafkaClient, RunnerError> => Layer.effect(KafkaClient.KafkaClient, kafkaClient(config))

/**
 * `kafka` as a layer: the Kafka client, checked at start and registered as
 * the `kafka` readiness check of the `Readiness` it is given.
 *
 * @since 0.1.0
 * @category layers
 */
export const kafkaLayer = (
  config: Pick<Config.Shared, "bootstrapServers" | "clientId">
): Layer.Layer<KafkaClient.KafkaClient, RunnerError, Readiness.Readiness> =>
  Layer.effect(KafkaClient.KafkaClient, kafka(config))

/**
 * `databaseAtStart` as a layer: the PostgreSQL pool, checked at start (one
 * line naming `DATABASE_URL` when it does not answer) and registered as the
 * `database` readiness check.
 *
 * @since 0.1.0
 * @category layers
 */
export const databaseLayer = (
  config: Pick<Config.Shared, "databaseUrl" | "clientId">,
  options: { readonly statementTimeout?: Duration.Input } = {}
): Layer.Layer<PgLookup.PgClient, RunnerError, Readiness.Readiness> =>
  Layer.effect(PgLookup.PgClient, databaseAtStart(config, options))

/**
 * OpenTelemetry export for a job (see `withTelemetry`), as a layer. Provide
 * it outermost, so the exporters flush after everything else has closed.
 *
 * @since 0.1.0
 * @category layers
 */
export const telemetryLayer = (job: string): Layer.Layer<never, RunnerError> => Telemetry.layer(job)
