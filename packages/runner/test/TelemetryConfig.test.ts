import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Option, Redacted } from "effect"
import * as TelemetryConfig from "../src/TelemetryConfig.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const load = (env: Record<string, string>) => TelemetryConfig.load("enrich").pipe(withEnv(env))

const failure = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(load(env))
    assert.isTrue(Exit.isFailure(exit))
    return Exit.isFailure(exit) ? String(exit.cause) : ""
  })

describe("TelemetryConfig", () => {
  it.effect("load - off without OTEL_EXPORTER_OTLP_ENDPOINT, whatever else is set", () =>
    Effect.gen(function* () {
      assert.isTrue(Option.isNone(yield* load({})))
      assert.isTrue(
        Option.isNone(
          yield* load({ OTEL_SERVICE_NAME: "x", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })
        )
      )
    })
  )

  it.effect("load - the endpoint with the defaults: service sluice-<job>, one minute, no headers", () =>
    Effect.gen(function* () {
      const config = Option.getOrThrow(yield* load({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }))
      assert.strictEqual(config.endpoint, "http://collector:4318")
      assert.strictEqual(config.serviceName, "sluice-enrich")
      assert.isTrue(Duration.equals(config.metricExportInterval, Duration.minutes(1)))
      assert.deepStrictEqual(config.headers, {})
      assert.strictEqual(TelemetryConfig.signalUrl(config, "traces"), "http://collector:4318/v1/traces")
      assert.strictEqual(TelemetryConfig.signalUrl(config, "metrics"), "http://collector:4318/v1/metrics")
    })
  )

  it.effect("load - a path prefix is kept and a trailing slash dropped", () =>
    Effect.gen(function* () {
      const config = Option.getOrThrow(yield* load({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://gw.example/otlp/" }))
      assert.strictEqual(TelemetryConfig.signalUrl(config, "metrics"), "https://gw.example/otlp/v1/metrics")
    })
  )

  it.effect("load - service name, headers (URL-decoded, redacted), interval and protocol", () =>
    Effect.gen(function* () {
      const config = Option.getOrThrow(
        yield* load({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: "claims-enricher",
          OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret, x-tenant=acme",
          OTEL_METRIC_EXPORT_INTERVAL: "15000"
        })
      )
      assert.strictEqual(config.serviceName, "claims-enricher")
      assert.isTrue(Duration.equals(config.metricExportInterval, Duration.seconds(15)))
      assert.deepStrictEqual(Object.keys(config.headers), ["authorization", "x-tenant"])
      assert.strictEqual(Redacted.value(config.headers.authorization!), "Bearer s3cret")
      assert.strictEqual(Redacted.value(config.headers["x-tenant"]!), "acme")
      assert.notInclude(String(config.headers.authorization), "s3cret")
    })
  )

  it.effect("load - OTEL_SDK_DISABLED=true turns export off", () =>
    Effect.gen(function* () {
      const config = yield* load({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" })
      assert.isTrue(Option.isNone(config))
    })
  )

  it.effect("load - an invalid endpoint is one error naming the variable", () =>
    Effect.gen(function* () {
      for (const endpoint of ["collector:4318", "not a url", "ftp://collector", "http://collector:4318?x=1"]) {
        const message = yield* failure({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint })
        assert.include(message, `Invalid value for OTEL_EXPORTER_OTLP_ENDPOINT: ${JSON.stringify(endpoint)}`)
        assert.include(message, "an http:// or https:// URL")
      }
    })
  )

  it.effect("load - every invalid variable is listed, header values never shown", () =>
    Effect.gen(function* () {
      const message = yield* failure({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization Bearer s3cret",
        OTEL_METRIC_EXPORT_INTERVAL: "0",
        OTEL_SDK_DISABLED: "maybe"
      })
      assert.include(message, 'Invalid value for OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" (expected http/json')
      assert.include(message, 'Invalid value for OTEL_EXPORTER_OTLP_HEADERS: "<redacted>"')
      assert.include(message, 'Invalid value for OTEL_METRIC_EXPORT_INTERVAL: "0"')
      assert.include(message, 'Invalid value for OTEL_SDK_DISABLED: "maybe"')
      assert.notInclude(message, "s3cret")
    })
  )

  it.effect("load - invalid values are reported even while export is off", () =>
    Effect.gen(function* () {
      const message = yield* failure({ OTEL_METRIC_EXPORT_INTERVAL: "soon" })
      assert.include(message, "OTEL_METRIC_EXPORT_INTERVAL")
    })
  )
})
