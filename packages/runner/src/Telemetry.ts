/**
 * OpenTelemetry export of a job's traces and metrics over OTLP/HTTP (JSON),
 * switched on by `OTEL_EXPORTER_OTLP_ENDPOINT` (see `TelemetryConfig`).
 *
 * Metrics: every Effect `Metric` of the process (the `sluice_*` metrics of
 * core, lookup and the runner) is read by a periodic reader and exported
 * every `OTEL_METRIC_EXPORT_INTERVAL`.
 *
 * Traces: the spans the pipeline's parts open, each one per unit of batched
 * work, never one per record:
 *
 * | span | opened by | attributes |
 * | --- | --- | --- |
 * | `sluice.lookup.batch` | one batched lookup query, retries included | `sluice.lookup.name`, `.keys`, `.requests`, `.found`, `.outcome` |
 * | `sluice.sink.write` | one chunk written by a Kafka sink | `messaging.destination.name`, `messaging.batch.message_count` |
 * | `sluice.commit` | one offset commit of a Kafka source | `messaging.consumer.group.name`, `sluice.commit.partitions` |
 *
 * A span per record would multiply the export volume by the batch sizes
 * (about a hundred records per lookup batch or chunk), and its cost (a span
 * object, attributes, a slot in the export queue) would be paid on the hot
 * path for every record; the batch spans carry the counts instead, and a slow
 * record shows up as a slow batch.
 *
 * The exporters belong to the layer's scope: when the job stops (SIGINT or
 * SIGTERM close every scope) the spans still queued and a last reading of
 * the metrics are flushed before the process exits, bounded by a timeout so
 * an unreachable collector cannot hold the shutdown.
 *
 * @since 0.1.0
 */
import type * as Resource from "@effect/opentelemetry/Resource"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import type { RunnerError } from "./RunnerError.ts"
import * as TelemetryConfig from "./TelemetryConfig.ts"

// A metrics export must not outlive the interval that schedules the next one.
const exportTimeoutMillis = (config: TelemetryConfig.TelemetryConfig) =>
  Math.min(30_000, Duration.toMillis(config.metricExportInterval))

/**
 * Exports traces and metrics as `config` says for as long as the layer's
 * scope lasts, then flushes both.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = (config: TelemetryConfig.TelemetryConfig): Layer.Layer<Resource.Resource> =>
  Layer.unwrap(
    // The SDK and exporters are a few hundred modules: loaded only when
    // export is switched on, so a job without it does not start them up.
    Effect.promise(() =>
      Promise.all([
        import("@effect/opentelemetry/NodeSdk"),
        import("@opentelemetry/exporter-metrics-otlp-http"),
        import("@opentelemetry/exporter-trace-otlp-http"),
        import("@opentelemetry/sdk-metrics"),
        import("@opentelemetry/sdk-trace-base")
      ])
    ).pipe(
      Effect.map(
        ([
          NodeSdk,
          { OTLPMetricExporter },
          { OTLPTraceExporter },
          { PeriodicExportingMetricReader },
          { BatchSpanProcessor }
        ]) => {
          const headers = Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k, Redacted.value(v)]))
          return NodeSdk.layer(() => ({
            resource: { serviceName: config.serviceName },
            spanProcessor: new BatchSpanProcessor(
              new OTLPTraceExporter({ url: TelemetryConfig.signalUrl(config, "traces"), headers })
            ),
            metricReader: new PeriodicExportingMetricReader({
              exporter: new OTLPMetricExporter({ url: TelemetryConfig.signalUrl(config, "metrics"), headers }),
              exportIntervalMillis: Duration.toMillis(config.metricExportInterval),
              exportTimeoutMillis: exportTimeoutMillis(config)
            }),
            shutdownTimeout: "5 seconds"
          }))
        }
      )
    )
  )

/**
 * The telemetry of `job` as the environment configures it: nothing at all
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset, otherwise `layerFrom`. Fails
 * with a `RunnerError` naming each invalid variable.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (job: string): Layer.Layer<never, RunnerError> =>
  Layer.unwrap(
    Effect.map(
      TelemetryConfig.load(job),
      Option.match({
        onNone: () => Layer.empty,
        onSome: (config) =>
          Layer.effectDiscard(
            Effect.logInfo("exporting OpenTelemetry traces and metrics").pipe(
              Effect.annotateLogs({ endpoint: config.endpoint, service: config.serviceName })
            )
          ).pipe(Layer.provideMerge(layerFrom(config)))
      })
    )
  )
