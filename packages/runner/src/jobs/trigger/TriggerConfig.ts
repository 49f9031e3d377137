/**
 * The configuration of the event trigger: the keys of the seed's
 * `application.yml`, read from the file given with `--config`, each
 * overridable by an environment variable and a flag (a flag wins over the
 * variable, which wins over the file, which wins over the default).
 *
 * | file key | variable | flag | default |
 * | --- | --- | --- | --- |
 * | kafka.bootstrap-servers | KAFKA_BOOTSTRAP_SERVERS | --bootstrap-servers | localhost:9092 |
 * | kafka.topic | TRIGGER_INPUT_TOPIC | --topic | user-tracking-events |
 * | kafka.consumer-group-id | TRIGGER_GROUP_ID | --consumer-group-id | sluice-trigger |
 * | kafka.dead-letter-topic | TRIGGER_DLQ_TOPIC | --dead-letter-topic | user-tracking-events-dlq |
 * | kafka.actions-failed-topic | TRIGGER_ACTIONS_FAILED_TOPIC | --actions-failed-topic | trigger-actions-failed |
 * | profile-api.base-url | PROFILE_API_BASE_URL | --profile-api-url | http://localhost:8080 |
 * | profile-api.timeout-ms | PROFILE_API_TIMEOUT_MS | --profile-api-timeout-ms | 5000 |
 * | profile-api.rate-limit-per-second | PROFILE_API_RATE_LIMIT | --profile-api-rate-limit | 500 |
 * | filter.script-path | FILTER_SCRIPT_PATH | --filter-script-path | ./filter.cel |
 * | actions.webhook.url | ACTIONS_WEBHOOK_URL | --webhook-url | none (no webhook action) |
 * | actions.webhook.timeout-ms | ACTIONS_WEBHOOK_TIMEOUT_MS | --webhook-timeout-ms | 3000 |
 * | actions.debug.enabled | ACTIONS_DEBUG_ENABLED | --debug-action | false |
 * | state-ttl-minutes | STATE_TTL_MINUTES | --state-ttl-minutes | 10 |
 * | metrics-port | METRICS_PORT | --metrics-port | 9100 |
 *
 * The seed nests `state-ttl-minutes` under `flink:`; that spelling is read too.
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import { Effect, Config as EffectConfig, Option } from "effect"
import { parse as parseYaml } from "yaml"
import * as Config from "../../Config.ts"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import { RunnerError, Startup } from "../../RunnerError.ts"

const url: Parse.Parser<string> = (text) => {
  try {
    const u = new URL(text.trim())
    return u.protocol === "http:" || u.protocol === "https:"
      ? { ok: true, value: text.trim() }
      : { ok: false, expected: "an http(s) URL" }
  } catch {
    return { ok: false, expected: "an http(s) URL" }
  }
}

const bool: Parse.Parser<boolean> = (text) => {
  const t = text.trim().toLowerCase()
  if (t === "true" || t === "1" || t === "yes") return { ok: true, value: true }
  if (t === "false" || t === "0" || t === "no") return { ok: true, value: false }
  return { ok: false, expected: "true or false" }
}

/**
 * Every setting of the trigger, in the order errors are reported.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = {
  bootstrapServers: Config.shared.bootstrapServers,
  triggerTopic: Config.setting(
    "TRIGGER_INPUT_TOPIC",
    "topic",
    "Topic of user events",
    Parse.topic,
    "user-tracking-events"
  ),
  triggerGroupId: Config.setting(
    "TRIGGER_GROUP_ID",
    "consumer-group-id",
    "Kafka consumer group",
    Parse.nonEmpty,
    "sluice-trigger"
  ),
  triggerDeadLetterTopic: Config.setting(
    "TRIGGER_DLQ_TOPIC",
    "dead-letter-topic",
    "Topic of input records that are not user events",
    Parse.topic,
    "user-tracking-events-dlq"
  ),
  actionsFailedTopic: Config.setting(
    "TRIGGER_ACTIONS_FAILED_TOPIC",
    "actions-failed-topic",
    "Topic of actions that could not be delivered",
    Parse.topic,
    "trigger-actions-failed"
  ),
  profileApiUrl: Config.setting(
    "PROFILE_API_BASE_URL",
    "profile-api-url",
    "Base URL of the Profile API",
    url,
    "http://localhost:8080"
  ),
  profileApiTimeoutMs: Config.setting(
    "PROFILE_API_TIMEOUT_MS",
    "profile-api-timeout-ms",
    "Timeout of one Profile API request, ms",
    Parse.int(1, 600_000),
    5000
  ),
  profileApiRateLimit: Config.setting(
    "PROFILE_API_RATE_LIMIT",
    "profile-api-rate-limit",
    "Most Profile API requests per second",
    Parse.positiveNumber,
    500
  ),
  filterScriptPath: Config.setting(
    "FILTER_SCRIPT_PATH",
    "filter-script-path",
    "File holding the filter's CEL expression",
    Parse.nonEmpty,
    "./filter.cel"
  ),
  webhookUrl: Config.setting("ACTIONS_WEBHOOK_URL", "webhook-url", "URL the webhook action posts to", url),
  webhookTimeoutMs: Config.setting(
    "ACTIONS_WEBHOOK_TIMEOUT_MS",
    "webhook-timeout-ms",
    "Timeout of one webhook attempt, ms",
    Parse.int(1, 600_000),
    3000
  ),
  debugEnabled: Config.setting(
    "ACTIONS_DEBUG_ENABLED",
    "debug-action",
    "Log each passing event as one JSON line",
    bool,
    false
  ),
  stateTtlMinutes: Config.setting(
    "STATE_TTL_MINUTES",
    "state-ttl-minutes",
    "Minutes a user's checkpoint lives after its last event",
    Parse.positiveNumber,
    10
  ),
  metricsPort: Config.shared.metricsPort,
  clientId: Config.shared.clientId
} as const

/**
 * Where each setting is in `application.yml`.
 *
 * @since 0.1.0
 * @category settings
 */
export const filePaths: { readonly [K in keyof typeof settings]: ReadonlyArray<ReadonlyArray<string>> } = {
  bootstrapServers: [["kafka", "bootstrap-servers"]],
  triggerTopic: [["kafka", "topic"]],
  triggerGroupId: [["kafka", "consumer-group-id"]],
  triggerDeadLetterTopic: [["kafka", "dead-letter-topic"]],
  actionsFailedTopic: [["kafka", "actions-failed-topic"]],
  profileApiUrl: [["profile-api", "base-url"]],
  profileApiTimeoutMs: [["profile-api", "timeout-ms"]],
  profileApiRateLimit: [["profile-api", "rate-limit-per-second"]],
  filterScriptPath: [["filter", "script-path"]],
  webhookUrl: [["actions", "webhook", "url"]],
  webhookTimeoutMs: [["actions", "webhook", "timeout-ms"]],
  debugEnabled: [["actions", "debug", "enabled"]],
  stateTtlMinutes: [["state-ttl-minutes"], ["flink", "state-ttl-minutes"]],
  metricsPort: [["metrics-port"]],
  clientId: [["client-id"]]
}

/**
 * The raw configuration flags of the trigger commands, for `load`.
 *
 * @since 0.1.0
 * @category flags
 */
export const settingFlags = Flags.settingFlags(settings)

/**
 * The resolved configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface TriggerConfig {
  readonly bootstrapServers: ReadonlyArray<string>
  readonly clientId: string
  readonly metricsPort: number
  readonly topics: {
    readonly input: string
    readonly deadLetter: string
    readonly actionsFailed: string
  }
  readonly groupId: string
  readonly profileApi: { readonly baseUrl: string; readonly timeoutMs: number; readonly ratePerSecond: number }
  readonly filterScriptPath: string
  readonly actions: {
    readonly webhook: Option.Option<{ readonly url: string; readonly timeoutMs: number }>
    readonly debug: boolean
  }
  readonly stateTtlMinutes: number
}

const at = (doc: unknown, path: ReadonlyArray<string>): unknown => {
  let value = doc
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/**
 * The settings a YAML document gives, as raw text by setting name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromYaml = (text: string): Record<string, string> => {
  const doc: unknown = parseYaml(text)
  const out: Record<string, string> = {}
  for (const [name, paths] of Object.entries(filePaths)) {
    for (const path of paths) {
      const value = at(doc, path)
      if (value === undefined || value === null || typeof value === "object") continue
      out[name] = String(value)
      break
    }
  }
  return out
}

const readConfigFile = (path: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new RunnerError({
        reason: new Startup({ detail: `cannot read ${path}: ${String(cause)}`, settings: "--config" })
      })
  }).pipe(
    Effect.flatMap((text) =>
      Effect.try({
        try: () => fromYaml(text),
        catch: (cause) =>
          new RunnerError({
            reason: new Startup({ detail: `${path} is not valid YAML: ${String(cause)}`, settings: "--config" })
          })
      })
    )
  )

/**
 * Resolves the configuration: flags, then the environment, then the file
 * (`configPath`), then the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (
  overrides: Config.Overrides<typeof settings> = {},
  configPath: Option.Option<string> = Option.none()
): Effect.Effect<TriggerConfig, RunnerError> =>
  Effect.gen(function* () {
    const file = Option.isSome(configPath) ? yield* readConfigFile(configPath.value) : {}
    const merged: Record<string, Option.Option<string>> = {}
    for (const [name, s] of Object.entries(settings)) {
      const flag = overrides[name as keyof typeof settings] ?? Option.none()
      if (Option.isSome(flag)) merged[name] = flag
      else {
        const env = yield* EffectConfig.option(EffectConfig.String(s.env)).pipe(
          Effect.orElseSucceed(() => Option.none<string>())
        )
        // Unset here, the variable (if any) is read by `Config.load`; otherwise the file's value stands in for a flag.
        merged[name] = Option.isSome(env) ? Option.none() : Option.fromNullishOr(file[name])
      }
    }
    const v = yield* Config.load(settings, merged as Config.Overrides<typeof settings>)
    return {
      bootstrapServers: Config.get(v.bootstrapServers),
      clientId: Config.get(v.clientId),
      metricsPort: Config.get(v.metricsPort),
      topics: {
        input: Config.get(v.triggerTopic),
        deadLetter: Config.get(v.triggerDeadLetterTopic),
        actionsFailed: Config.get(v.actionsFailedTopic)
      },
      groupId: Config.get(v.triggerGroupId),
      profileApi: {
        baseUrl: Config.get(v.profileApiUrl),
        timeoutMs: Config.get(v.profileApiTimeoutMs),
        ratePerSecond: Config.get(v.profileApiRateLimit)
      },
      filterScriptPath: Config.get(v.filterScriptPath),
      actions: {
        webhook: Option.map(v.webhookUrl, (u) => ({ url: u, timeoutMs: Config.get(v.webhookTimeoutMs) })),
        debug: Config.get(v.debugEnabled)
      },
      stateTtlMinutes: Config.get(v.stateTtlMinutes)
    }
  })

/**
 * The configuration as plain JSON for display.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toDisplay = (config: TriggerConfig): Record<string, unknown> => ({
  // Under its own key: \`sluice config\` shows every job's settings in one object.
  trigger: { ...config, actions: { webhook: Option.getOrNull(config.actions.webhook), debug: config.actions.debug } }
})
