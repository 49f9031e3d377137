/**
 * The connections a job command opens, shared by every job: the Kafka client, the PostgreSQL pool (through the
 * configured URL or the embedded fallback) and the observability server with
 * its readiness checks. Each lives in the command's scope.
 *
 * @since 0.1.0
 */
import { KafkaClient } from "@sluice/kafka"
import { PgLookup } from "@sluice/lookup"
import { type Duration, Effect, Layer, Option, type Scope } from "effect"
import { HttpMiddleware } from "effect/http"
import type * as Config from "./Config.ts"
import * as EmbeddedPostgres from "./EmbeddedPostgres.ts"
import * as Dashboard from "./http/Dashboard.ts"
import * as ObservabilityServer from "./http/ObservabilityServer.ts"
import * as Readiness from "./http/Readiness.ts"
import type { RunnerError } from "./RunnerError.ts"
import * as Telemetry from "./Telemetry.ts"

/**
 * A Kafka client for the configured bootstrap servers, with its admin client
 * registered as the `kafka` readiness check.
 *
 * @since 0.1.0
 * @category constructors
 */
export const kafka = (config: Pick<Config.Shared, "bootstrapServers" | "clientId">) =>
  Effect.gen(function* () {
    const client = yield* KafkaClient.make({ brokers: config.bootstrapServers, clientId: config.clientId })
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
      Effect.tryPromise(() => pg.sql`SELECT 1`)
    )
    return pg
  })

/**
 * Serves `/metrics`, `/healthz`, `/readyz` and the dashboard on the configured
 * port for as long as the scope lasts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const observability = (
  port: number,
  dashboard: Dashboard.Spec = Dashboard.empty
): Effect.Effect<Readiness.Readiness["Service"] & { readonly port: number }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const readiness = yield* Readiness.make()
    const context = yield* Layer.build(
      ObservabilityServer.layer({ port, dashboard }).pipe(
        Layer.provide(Layer.succeed(Readiness.Readiness, readiness)),
        // Probes and scrapes every few seconds are not worth a trace each.
        Layer.provide(Layer.succeed(HttpMiddleware.TracerDisabledWhen, () => true))
      )
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
