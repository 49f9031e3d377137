/**
 * Configuration machinery shared by every job: a `Setting` names its
 * environment variable and its CLI flag and says how to parse it; `load`
 * resolves a job's settings, a flag winning over the variable, which wins over
 * the default. The settings every job has (where Kafka and PostgreSQL are, the
 * metrics port, the client id) are defined here; a job adds its own (topics,
 * consumer group) in its folder.
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | bootstrapServers | KAFKA_BOOTSTRAP_SERVERS | --bootstrap-servers | localhost:9092 |
 * | databaseUrl | DATABASE_URL | --database-url | none (the demo embeds one) |
 * | metricsPort | METRICS_PORT | --metrics-port | 9100 |
 * | clientId | CLIENT_ID | --client-id | sluice |
 *
 * All values are checked at start; when some are invalid the run fails once,
 * with one line per bad value naming its variable or flag.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Config as EffectConfig, Option, Redacted } from "effect"
import * as Parse from "./Parse.ts"
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
  /** A secret's raw text is never repeated in an error. */
  readonly secret: boolean
}

/**
 * A setting; without `fallback` it is optional (resolved as `Option.none()`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const setting = <A>(
  env: string,
  flag: string,
  description: string,
  parse: Parse.Parser<A>,
  fallback?: A,
  options: { readonly secret?: boolean } = {}
): Setting<A> => ({
  env,
  flag,
  description,
  parse,
  default: fallback === undefined ? Option.none() : Option.some(fallback),
  secret: options.secret ?? false
})

/**
 * A record of settings by name.
 *
 * @since 0.1.0
 * @category models
 */
// biome-ignore lint/suspicious/noExplicitAny: the value type varies per setting; each is recovered by `Resolved`
export type Settings = { readonly [name: string]: Setting<any> }

/**
 * The settings every job has.
 *
 * @since 0.1.0
 * @category settings
 */
export const shared = {
  bootstrapServers: setting(
    "KAFKA_BOOTSTRAP_SERVERS",
    "bootstrap-servers",
    "Kafka brokers, comma-separated host:port",
    Parse.hostList,
    ["localhost:9092"] as ReadonlyArray<string>
  ),
  databaseUrl: setting(
    "DATABASE_URL",
    "database-url",
    "The job's database: a PostgreSQL URL, or duckdb:<path> (duckdb::memory:) for DuckDB",
    Parse.databaseUrl,
    undefined,
    { secret: true }
  ),
  metricsPort: setting("METRICS_PORT", "metrics-port", "Port of the metrics and dashboard server", Parse.port, 9100),
  clientId: setting("CLIENT_ID", "client-id", "Kafka client id", Parse.nonEmpty, "sluice")
} as const

/**
 * The resolved shared settings, as the shared services take them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Shared {
  readonly bootstrapServers: ReadonlyArray<string>
  /** Absent when neither the variable nor the flag is set; `sluice demo` then embeds a database. */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly metricsPort: number
  readonly clientId: string
}

/**
 * Raw flag values by setting name, as the CLI collected them.
 *
 * @since 0.1.0
 * @category models
 */
export type Overrides<S extends Settings> = { readonly [K in keyof S]?: Option.Option<string> }

/**
 * Every setting resolved: its value, or none for an optional one left unset.
 *
 * @since 0.1.0
 * @category models
 */
export type Resolved<S extends Settings> = {
  readonly [K in keyof S]: S[K] extends Setting<infer A> ? Option.Option<A> : never
}

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
 * Resolves `settings` from flags, then the environment (through the current
 * `ConfigProvider`), then the defaults; every bad value is reported in one error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = <S extends Settings>(
  settings: S,
  overrides: Overrides<S> = {}
): Effect.Effect<Resolved<S>, RunnerError> =>
  Effect.gen(function* () {
    const resolved: Record<string, Option.Option<unknown>> = {}
    const invalid: Array<InvalidSetting> = []
    for (const key of Object.keys(settings)) {
      const s = settings[key]!
      const r = yield* resolveOne(s, overrides[key] ?? Option.none())
      if (r.ok) resolved[key] = r.value
      else
        invalid.push(
          new InvalidSetting({ name: r.source, value: s.secret ? "<redacted>" : r.raw, expected: r.expected })
        )
    }
    if (invalid.length > 0) return yield* new RunnerError({ reason: new InvalidConfig({ settings: invalid }) })
    return resolved as Resolved<S>
  })

/**
 * The value of a setting that has a default.
 *
 * @since 0.1.0
 * @category getters
 */
export const get = <A>(value: Option.Option<A>): A => Option.getOrThrow(value)

/**
 * A database URL for display: its host, port and database, never its credentials.
 *
 * @since 0.1.0
 * @category formatting
 */
export const displayUrl = (url: Redacted.Redacted<string>): string => {
  // A DuckDB URL is a file path: nothing secret in it, and no host to show.
  if (Redacted.value(url).startsWith("duckdb:")) return Redacted.value(url)
  const u = new URL(Redacted.value(url))
  const credentials = u.username !== "" || u.password !== "" ? "<redacted>@" : ""
  return `${u.protocol}//${credentials}${u.host}${u.pathname}`
}

const redisUrl: Parse.Parser<Redacted.Redacted<string>> = (text) => {
  try {
    const url = new URL(text)
    if (url.protocol === "redis:" || url.protocol === "rediss:") return { ok: true, value: Redacted.make(text) }
  } catch {
    // fall through to the message below
  }
  return { ok: false, expected: "a redis:// or rediss:// URL" }
}

/**
 * Where the circuit breakers of a job keep their state: in the process
 * (`memory`), or in Redis (`redis`), so that the replicas of one job share one
 * circuit per policy.
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | breakerStore | BREAKER_STORE | --breaker-store | memory |
 * | redisUrl | REDIS_URL | --redis-url | redis://127.0.0.1:6379 |
 *
 * @since 0.1.0
 * @category settings
 */
export const breakerStore = {
  breakerStore: setting(
    "BREAKER_STORE",
    "breaker-store",
    "Circuit breaker state: memory (per process) or redis (shared by the replicas of a job)",
    Parse.oneOf(["memory", "redis"]),
    "memory" as "memory" | "redis"
  ),
  redisUrl: setting(
    "REDIS_URL",
    "redis-url",
    "Redis of the shared circuit breakers",
    redisUrl,
    Redacted.make("redis://127.0.0.1:6379"),
    { secret: true }
  )
} as const

// Milliseconds, as the variables' `_MS` names say, or a duration such as 10s.
const millis =
  (min: number, max: number): Parse.Parser<number> =>
  (text) => {
    const bare = /^\d+$/.test(text.trim())
    const r = bare ? ({ ok: true, value: Number(text.trim()) } as const) : Parse.duration(text)
    const ms = r.ok ? (typeof r.value === "number" ? r.value : Duration.toMillis(r.value)) : Number.NaN
    return Number.isInteger(ms) && ms >= min && ms <= max
      ? { ok: true, value: ms }
      : { ok: false, expected: `milliseconds or a duration such as 10s, from ${min}ms to ${max}ms` }
  }

/**
 * The consumer-group timing of a consuming command, in milliseconds: how long
 * the group waits for a silent member before it rebalances, how often a
 * member says it is alive, and how long members have to rejoin during a
 * rebalance. Unset values keep the Kafka client's defaults (30 s, 3 s, 60 s).
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | sessionTimeout | KAFKA_SESSION_TIMEOUT_MS | --session-timeout | client default (30s) |
 * | heartbeatInterval | KAFKA_HEARTBEAT_INTERVAL_MS | --heartbeat-interval | client default (3s) |
 * | rebalanceTimeout | KAFKA_REBALANCE_TIMEOUT_MS | --rebalance-timeout | client default (60s) |
 * | groupInstanceId | GROUP_INSTANCE_ID (else POD_NAME) | --group-instance-id | none |
 * | fetchMinBytes | KAFKA_FETCH_MIN_BYTES | --fetch-min-bytes | the source's default |
 * | fetchMaxWait | KAFKA_FETCH_MAX_WAIT_MS | --fetch-max-wait | the source's default |
 * | fetchIdleWait | KAFKA_FETCH_IDLE_WAIT_MS | --fetch-idle-wait | the source's default |
 *
 * @since 0.1.0
 * @category settings
 */
export const consumerGroup = {
  sessionTimeout: setting(
    "KAFKA_SESSION_TIMEOUT_MS",
    "session-timeout",
    "Consumer session timeout: a member silent this long leaves the group (e.g. 10s or 10000)",
    millis(6_000, 300_000)
  ),
  heartbeatInterval: setting(
    "KAFKA_HEARTBEAT_INTERVAL_MS",
    "heartbeat-interval",
    "Consumer heartbeat interval (e.g. 1s or 1000)",
    millis(100, 60_000)
  ),
  rebalanceTimeout: setting(
    "KAFKA_REBALANCE_TIMEOUT_MS",
    "rebalance-timeout",
    "Time members have to rejoin during a rebalance (e.g. 30s or 30000)",
    millis(1_000, 600_000)
  ),
  groupInstanceId: setting(
    "GROUP_INSTANCE_ID",
    "group-instance-id",
    "Static group membership id (KIP-345); defaults to POD_NAME when that is set",
    Parse.nonEmpty
  ),
  fetchMinBytes: setting(
    "KAFKA_FETCH_MIN_BYTES",
    "fetch-min-bytes",
    "Bytes a fetch waits for while records flow, at most --fetch-max-wait",
    Parse.int(1, 64 * 1024 * 1024)
  ),
  fetchMaxWait: setting(
    "KAFKA_FETCH_MAX_WAIT_MS",
    "fetch-max-wait",
    "Longest a fetch waits for --fetch-min-bytes while records flow (e.g. 20ms or 20)",
    millis(0, 60_000)
  ),
  fetchIdleWait: setting(
    "KAFKA_FETCH_IDLE_WAIT_MS",
    "fetch-idle-wait",
    "Longest a fetch waits after one that brought nothing; the first record answers it (e.g. 5s)",
    millis(0, 60_000)
  )
} as const
