/**
 * The job configuration: where Kafka and PostgreSQL are, which topics to use,
 * the consumer group and the metrics port. Every setting has an environment
 * variable (the names of the seed documents where they give one) and a CLI
 * flag; a flag wins over the variable, which wins over the default.
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | bootstrapServers | KAFKA_BOOTSTRAP_SERVERS | --bootstrap-servers | localhost:9092 |
 * | topics.input | PAYMENT_EVENTS_TOPIC | --input-topic | payment-events |
 * | topics.enriched | ENRICHED_PAYMENTS_TOPIC | --enriched-topic | enriched-payments |
 * | topics.failed | FAILED_PAYMENTS_TOPIC | --failed-topic | failed-payments |
 * | topics.deadLetter | PAYMENT_EVENTS_DLQ_TOPIC | --dlq-topic | payment-events-dlq |
 * | topics.largeClaims | LARGE_CLAIMS_TOPIC | --large-claims-topic | large-claims |
 * | databaseUrl | DATABASE_URL | --database-url | none (the demo embeds one) |
 * | metricsPort | METRICS_PORT | --metrics-port | 9100 |
 * | groupId | GROUP_ID | --group-id | sluice-claims |
 * | clientId | CLIENT_ID | --client-id | sluice |
 *
 * All values are checked at start; when some are invalid the run fails once,
 * with one line per bad value naming its variable or flag.
 *
 * @since 0.1.0
 */
import { Effect, Config as EffectConfig, Option, Redacted } from "effect"
import * as Parse from "./internal/parse.ts"
import { InvalidConfig, InvalidSetting, RunnerError } from "./RunnerError.ts"

/**
 * One configurable value: its variable, its flag, how to parse it and its default.
 *
 * @since 0.1.0
 * @category models
 */
export interface Setting<A> {
  readonly env: string
  readonly flag: string
  readonly description: string
  readonly parse: Parse.Parser<A>
  readonly default: Option.Option<A>
}

const setting = <A>(
  env: string,
  flag: string,
  description: string,
  parse: Parse.Parser<A>,
  fallback?: A
): Setting<A> => ({
  env,
  flag,
  description,
  parse,
  default: fallback === undefined ? Option.none() : Option.some(fallback)
})

/**
 * Every setting of the job configuration.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = {
  bootstrapServers: setting(
    "KAFKA_BOOTSTRAP_SERVERS",
    "bootstrap-servers",
    "Kafka brokers, comma-separated host:port",
    Parse.hostList,
    ["localhost:9092"] as ReadonlyArray<string>
  ),
  inputTopic: setting("PAYMENT_EVENTS_TOPIC", "input-topic", "Topic of payment events", Parse.topic, "payment-events"),
  enrichedTopic: setting(
    "ENRICHED_PAYMENTS_TOPIC",
    "enriched-topic",
    "Topic of successfully enriched payments",
    Parse.topic,
    "enriched-payments"
  ),
  failedTopic: setting(
    "FAILED_PAYMENTS_TOPIC",
    "failed-topic",
    "Topic of payments that could not be enriched",
    Parse.topic,
    "failed-payments"
  ),
  deadLetterTopic: setting(
    "PAYMENT_EVENTS_DLQ_TOPIC",
    "dlq-topic",
    "Topic of input records that are not payment events",
    Parse.topic,
    "payment-events-dlq"
  ),
  largeClaimsTopic: setting(
    "LARGE_CLAIMS_TOPIC",
    "large-claims-topic",
    "Topic of enriched payments on large claims",
    Parse.topic,
    "large-claims"
  ),
  databaseUrl: setting("DATABASE_URL", "database-url", "PostgreSQL URL of the claims database", Parse.databaseUrl),
  metricsPort: setting("METRICS_PORT", "metrics-port", "Port of the metrics and dashboard server", Parse.port, 9100),
  groupId: setting("GROUP_ID", "group-id", "Kafka consumer group", Parse.nonEmpty, "sluice-claims"),
  clientId: setting("CLIENT_ID", "client-id", "Kafka client id", Parse.nonEmpty, "sluice")
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type Settings = typeof settings

/**
 * The resolved job configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface JobConfig {
  readonly bootstrapServers: ReadonlyArray<string>
  readonly topics: {
    readonly input: string
    readonly enriched: string
    readonly failed: string
    readonly deadLetter: string
    readonly largeClaims: string
  }
  /** Absent when neither the variable nor the flag is set; `sluice demo` then embeds a database. */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly metricsPort: number
  readonly groupId: string
  readonly clientId: string
}

/**
 * Raw flag values by setting name, as the CLI collected them.
 *
 * @since 0.1.0
 * @category models
 */
export type Overrides = { readonly [K in keyof Settings]?: Option.Option<string> }

type Resolved = { -readonly [K in keyof Settings]: Settings[K] extends Setting<infer A> ? Option.Option<A> : never }

const resolveOne = <A>(
  s: Setting<A>,
  flag: Option.Option<string>
): Effect.Effect<Parse.Parsed<Option.Option<A>> & { readonly source: string; readonly raw: string }> =>
  Effect.gen(function* () {
    if (Option.isSome(flag)) {
      const r = s.parse(flag.value)
      return r.ok
        ? { ok: true as const, value: Option.some(r.value), source: `--${s.flag}`, raw: flag.value }
        : { ...r, source: `--${s.flag}`, raw: flag.value }
    }
    // A provider that cannot be read counts as unset; the variable then has its default.
    const env = yield* EffectConfig.option(EffectConfig.String(s.env)).pipe(
      Effect.orElseSucceed(() => Option.none<string>())
    )
    if (Option.isSome(env)) {
      const r = s.parse(env.value)
      return r.ok
        ? { ok: true as const, value: Option.some(r.value), source: s.env, raw: env.value }
        : { ...r, source: s.env, raw: env.value }
    }
    return { ok: true as const, value: s.default, source: "default", raw: "" }
  })

/**
 * Resolves the job configuration from flags, then the environment (through
 * the current `ConfigProvider`), then the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Overrides = {}): Effect.Effect<JobConfig, RunnerError> =>
  Effect.gen(function* () {
    const resolved: Partial<Record<keyof Settings, Option.Option<unknown>>> = {}
    const invalid: Array<InvalidSetting> = []
    for (const key of Object.keys(settings) as Array<keyof Settings>) {
      const s = settings[key] as Setting<unknown>
      const r = yield* resolveOne(s, overrides[key] ?? Option.none())
      if (r.ok) resolved[key] = r.value
      else invalid.push(new InvalidSetting({ name: r.source, value: redactIfSecret(key, r.raw), expected: r.expected }))
    }
    if (invalid.length > 0) return yield* new RunnerError({ reason: new InvalidConfig({ settings: invalid }) })
    const v = resolved as Resolved
    const get = <A>(o: Option.Option<A>): A => Option.getOrThrow(o)
    return {
      bootstrapServers: get(v.bootstrapServers),
      topics: {
        input: get(v.inputTopic),
        enriched: get(v.enrichedTopic),
        failed: get(v.failedTopic),
        deadLetter: get(v.deadLetterTopic),
        largeClaims: get(v.largeClaimsTopic)
      },
      databaseUrl: v.databaseUrl,
      metricsPort: get(v.metricsPort),
      groupId: get(v.groupId),
      clientId: get(v.clientId)
    }
  })

const redactIfSecret = (key: keyof Settings, raw: string): string => (key === "databaseUrl" ? "<redacted>" : raw)

/**
 * The configuration as plain JSON for display; the database URL keeps only
 * its host, port and database, never its credentials.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toDisplay = (config: JobConfig): Record<string, unknown> => ({
  ...config,
  databaseUrl: Option.match(config.databaseUrl, {
    onNone: () => null,
    onSome: (url) => {
      const u = new URL(Redacted.value(url))
      const credentials = u.username !== "" || u.password !== "" ? "<redacted>@" : ""
      return `${u.protocol}//${credentials}${u.host}${u.pathname}`
    }
  })
})
