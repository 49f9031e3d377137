/**
 * The configuration of the claims jobs: the shared settings (see `Config`)
 * plus the claims topics and the consumer group. The topic variables are the
 * names the seed documents give.
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | topics.input | PAYMENT_EVENTS_TOPIC | --input-topic | payment-events |
 * | topics.enriched | ENRICHED_PAYMENTS_TOPIC | --enriched-topic | enriched-payments |
 * | topics.failed | FAILED_PAYMENTS_TOPIC | --failed-topic | failed-payments |
 * | topics.deadLetter | PAYMENT_EVENTS_DLQ_TOPIC | --dlq-topic | payment-events-dlq |
 * | topics.largeClaims | LARGE_CLAIMS_TOPIC | --large-claims-topic | large-claims |
 * | groupId | GROUP_ID | --group-id | sluice-claims |
 * | valueFormat | VALUE_FORMAT | --value-format | json |
 *
 * With `avro`, record values are Avro in the Confluent wire format, with
 * their schemas in the registry at `SCHEMA_REGISTRY_URL` (see `ClaimsAvro`).
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import * as Config from "../../Config.ts"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import type { RunnerError } from "../../RunnerError.ts"

/**
 * The formats of record values.
 *
 * @since 0.1.0
 * @category models
 */
export const valueFormats = ["json", "avro"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type ValueFormat = (typeof valueFormats)[number]

/**
 * Every setting of the claims jobs, in the order errors are reported.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = {
  bootstrapServers: Config.shared.bootstrapServers,
  inputTopic: Config.setting(
    "PAYMENT_EVENTS_TOPIC",
    "input-topic",
    "Topic of payment events",
    Parse.topic,
    "payment-events"
  ),
  enrichedTopic: Config.setting(
    "ENRICHED_PAYMENTS_TOPIC",
    "enriched-topic",
    "Topic of successfully enriched payments",
    Parse.topic,
    "enriched-payments"
  ),
  failedTopic: Config.setting(
    "FAILED_PAYMENTS_TOPIC",
    "failed-topic",
    "Topic of payments that could not be enriched",
    Parse.topic,
    "failed-payments"
  ),
  deadLetterTopic: Config.setting(
    "PAYMENT_EVENTS_DLQ_TOPIC",
    "dlq-topic",
    "Topic of input records that are not payment events",
    Parse.topic,
    "payment-events-dlq"
  ),
  largeClaimsTopic: Config.setting(
    "LARGE_CLAIMS_TOPIC",
    "large-claims-topic",
    "Topic of enriched payments on large claims",
    Parse.topic,
    "large-claims"
  ),
  databaseUrl: Config.shared.databaseUrl,
  metricsPort: Config.shared.metricsPort,
  groupId: Config.setting("GROUP_ID", "group-id", "Kafka consumer group", Parse.nonEmpty, "sluice-claims"),
  valueFormat: Config.setting(
    "VALUE_FORMAT",
    "value-format",
    "Record values: json, or avro with the schema registry at SCHEMA_REGISTRY_URL",
    Parse.oneOf(valueFormats),
    "json"
  ),
  clientId: Config.shared.clientId
} as const

/**
 * The raw configuration flags of the claims commands, for `load`.
 *
 * @since 0.1.0
 * @category flags
 */
export const settingFlags = Flags.settingFlags(settings)

/**
 * The resolved configuration of the claims jobs.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClaimsConfig extends Config.Shared {
  readonly topics: {
    readonly input: string
    readonly enriched: string
    readonly failed: string
    readonly deadLetter: string
    readonly largeClaims: string
  }
  readonly groupId: string
  readonly valueFormat: ValueFormat
}

/**
 * Resolves the claims configuration from flags, then the environment, then the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof settings> = {}): Effect.Effect<ClaimsConfig, RunnerError> =>
  Effect.map(Config.load(settings, overrides), (v) => ({
    bootstrapServers: Config.get(v.bootstrapServers),
    topics: {
      input: Config.get(v.inputTopic),
      enriched: Config.get(v.enrichedTopic),
      failed: Config.get(v.failedTopic),
      deadLetter: Config.get(v.deadLetterTopic),
      largeClaims: Config.get(v.largeClaimsTopic)
    },
    databaseUrl: v.databaseUrl,
    metricsPort: Config.get(v.metricsPort),
    groupId: Config.get(v.groupId),
    valueFormat: Config.get(v.valueFormat),
    clientId: Config.get(v.clientId)
  }))

/**
 * The configuration as plain JSON for display; the database URL keeps only
 * its host, port and database, never its credentials.
 *
 * @since 0.1.0
 * @category formatting
 */
export const toDisplay = (config: ClaimsConfig): Record<string, unknown> => ({
  ...config,
  databaseUrl: Option.match(config.databaseUrl, { onNone: () => null, onSome: Config.displayUrl })
})
