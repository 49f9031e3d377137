/**
 * Whether, and where, a job exports OpenTelemetry traces and metrics, read
 * from the standard OpenTelemetry environment variables. Export is off unless
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set, so a job without a collector opens no
 * connection and pays for no exporter.
 *
 * | variable | meaning | default |
 * | --- | --- | --- |
 * | OTEL_EXPORTER_OTLP_ENDPOINT | base http(s) URL; `/v1/traces` and `/v1/metrics` are appended | unset: export off |
 * | OTEL_EXPORTER_OTLP_PROTOCOL | only `http/json` is spoken | http/json |
 * | OTEL_EXPORTER_OTLP_HEADERS | `key=value,...`, values URL-encoded, sent with every export | none |
 * | OTEL_SERVICE_NAME | `service.name` of the resource | `sluice-<job>` |
 * | OTEL_METRIC_EXPORT_INTERVAL | milliseconds between metric exports | 60000 |
 * | OTEL_SDK_DISABLED | `true` turns export off whatever else is set | false |
 *
 * Invalid values stop the command at start with one line per variable, as
 * the job configuration does.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Config as EffectConfig, Option, Redacted } from "effect"
import * as Parse from "./Parse.ts"
import { InvalidConfig, InvalidSetting, RunnerError } from "./RunnerError.ts"

/**
 * Where and how a job exports its telemetry.
 *
 * @since 0.1.0
 * @category models
 */
export interface TelemetryConfig {
  /** Base URL of the OTLP/HTTP receiver, without a trailing slash. */
  readonly endpoint: string
  readonly serviceName: string
  /** Sent with every export; values may be credentials, hence redacted. */
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
  readonly metricExportInterval: Duration.Duration
}

/**
 * The URL an OTLP/HTTP signal is posted to: the endpoint plus `v1/traces` or
 * `v1/metrics`, as the OTLP exporter specification derives it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const signalUrl = (config: TelemetryConfig, signal: "traces" | "metrics"): string =>
  `${config.endpoint}/v1/${signal}`

const endpoint: Parse.Parser<string> = (text) => {
  try {
    const url = new URL(text.trim())
    if ((url.protocol === "http:" || url.protocol === "https:") && url.search === "" && url.hash === "") {
      return { ok: true, value: url.toString().replace(/\/+$/, "") }
    }
  } catch {
    // fall through to the message below
  }
  return { ok: false, expected: "an http:// or https:// URL such as http://otel-collector:4318" }
}

const protocol: Parse.Parser<"http/json"> = (text) =>
  text.trim() === "http/json"
    ? { ok: true, value: "http/json" }
    : { ok: false, expected: "http/json (the only OTLP protocol sluice exports with)" }

const headers: Parse.Parser<Record<string, Redacted.Redacted<string>>> = (text) => {
  const result: Record<string, Redacted.Redacted<string>> = {}
  for (const pair of text.split(",")) {
    if (pair.trim() === "") continue
    const eq = pair.indexOf("=")
    const key = eq > 0 ? pair.slice(0, eq).trim() : ""
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      return { ok: false, expected: "comma-separated key=value pairs" }
    }
    try {
      result[key] = Redacted.make(decodeURIComponent(pair.slice(eq + 1).trim()))
    } catch {
      return { ok: false, expected: "comma-separated key=value pairs with URL-encoded values" }
    }
  }
  return { ok: true, value: result }
}

const interval: Parse.Parser<Duration.Duration> = (text) => {
  const r = Parse.int(1)(text)
  return r.ok ? { ok: true, value: Duration.millis(r.value) } : { ok: false, expected: "milliseconds, an integer >= 1" }
}

const disabled: Parse.Parser<boolean> = (text) => {
  const t = text.trim().toLowerCase()
  return t === "true" || t === "false" || t === ""
    ? { ok: true, value: t === "true" }
    : { ok: false, expected: "true or false" }
}

const read = (name: string): Effect.Effect<Option.Option<string>> =>
  EffectConfig.option(EffectConfig.String(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))

/**
 * Reads the telemetry configuration of `job` (which names the default
 * service, `sluice-<job>`) through the current `ConfigProvider`: `None` when
 * export is off, otherwise where to export; fails with one `RunnerError`
 * listing every invalid variable.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (job: string): Effect.Effect<Option.Option<TelemetryConfig>, RunnerError> =>
  Effect.gen(function* () {
    const invalid: Array<InvalidSetting> = []
    const parse = <A>(name: string, parser: Parse.Parser<A>, secret = false) =>
      Effect.map(read(name), (raw) => {
        if (Option.isNone(raw)) return Option.none<A>()
        const r = parser(raw.value)
        if (r.ok) return Option.some(r.value)
        invalid.push(new InvalidSetting({ name, value: secret ? "<redacted>" : raw.value, expected: r.expected }))
        return Option.none<A>()
      })
    const off = yield* parse("OTEL_SDK_DISABLED", disabled)
    const url = yield* parse("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    yield* parse("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    const extra = yield* parse("OTEL_EXPORTER_OTLP_HEADERS", headers, true)
    const every = yield* parse("OTEL_METRIC_EXPORT_INTERVAL", interval)
    const service = yield* parse("OTEL_SERVICE_NAME", Parse.nonEmpty)
    if (invalid.length > 0) return yield* new RunnerError({ reason: new InvalidConfig({ settings: invalid }) })
    if (Option.getOrElse(off, () => false) || Option.isNone(url)) return Option.none()
    return Option.some({
      endpoint: url.value,
      serviceName: Option.getOrElse(service, () => `sluice-${job}`),
      headers: Option.getOrElse(extra, () => ({})),
      metricExportInterval: Option.getOrElse(every, () => Duration.minutes(1))
    })
  })
