/**
 * The configuration of the CDC commands: the shared settings (see `Config`)
 * plus the topics and names of seed 003.
 *
 * | setting | variable | flag | default |
 * | --- | --- | --- | --- |
 * | rawTopic | RAW_EVENTS_TOPIC | --raw-topic | raw-business-events |
 * | deadLetterTopic | CDC_DLQ_TOPIC | --cdc-dlq-topic | raw-business-events-dlq |
 * | topicPrefix | CDC_TOPIC_PREFIX | --topic-prefix | sluice |
 * | slot | CDC_SLOT | --slot | sluice_cdc |
 * | publication | CDC_PUBLICATION | --publication | sluice_cdc |
 * | groupId | CDC_GROUP_ID | --route-group-id | sluice-cdc-route |
 * | routeFormat | CDC_ROUTE_FORMAT | --route-format | json |
 *
 * With `routeFormat` avro the router writes its topics in Avro with the
 * schemas in the registry at `SCHEMA_REGISTRY_URL` (see `RouteFormat`).
 *
 * The setting names and flags differ from the claims job's (`--dlq-topic`,
 * `--group-id`), since `sluice config` takes the flags of every job at once.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import * as Config from "../../Config.ts"
import * as Flags from "../../Flags.ts"
import * as Parse from "../../Parse.ts"
import type { RunnerError } from "../../RunnerError.ts"

/**
 * How the router writes its topics.
 *
 * @since 0.1.0
 * @category models
 */
export const routeFormats = ["json", "avro"] as const

/**
 * @since 0.1.0
 * @category models
 */
export type RouteFormat = (typeof routeFormats)[number]

/**
 * Every setting of the CDC commands, in the order errors are reported.
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = {
  bootstrapServers: Config.shared.bootstrapServers,
  rawTopic: Config.setting(
    "RAW_EVENTS_TOPIC",
    "raw-topic",
    "Topic the capture writes every change to and the router reads",
    Parse.topic,
    "raw-business-events"
  ),
  cdcDeadLetterTopic: Config.setting(
    "CDC_DLQ_TOPIC",
    "cdc-dlq-topic",
    "Topic of raw records the router cannot read or a rule rejects",
    Parse.topic,
    "raw-business-events-dlq"
  ),
  topicPrefix: Config.setting(
    "CDC_TOPIC_PREFIX",
    "topic-prefix",
    "Debezium topic prefix (source.name) of the capture",
    Parse.nonEmpty,
    "sluice"
  ),
  slot: Config.setting("CDC_SLOT", "slot", "Logical replication slot of the capture", Parse.nonEmpty, "sluice_cdc"),
  publication: Config.setting(
    "CDC_PUBLICATION",
    "publication",
    "Publication of the captured tables",
    Parse.nonEmpty,
    "sluice_cdc"
  ),
  databaseUrl: Config.shared.databaseUrl,
  metricsPort: Config.shared.metricsPort,
  routeGroupId: Config.setting(
    "CDC_GROUP_ID",
    "route-group-id",
    "Consumer group of the router",
    Parse.nonEmpty,
    "sluice-cdc-route"
  ),
  routeFormat: Config.setting(
    "CDC_ROUTE_FORMAT",
    "route-format",
    "Values the router writes: json, or avro with the schema registry at SCHEMA_REGISTRY_URL",
    Parse.oneOf(routeFormats),
    "json"
  ),
  clientId: Config.shared.clientId
} as const

/**
 * The raw configuration flags of the CDC commands, for `load`.
 *
 * @since 0.1.0
 * @category flags
 */
export const settingFlags = Flags.settingFlags(settings)

/**
 * The resolved configuration of the CDC commands.
 *
 * @since 0.1.0
 * @category models
 */
export interface CdcConfig extends Config.Shared {
  readonly rawTopic: string
  readonly deadLetterTopic: string
  readonly topicPrefix: string
  readonly slot: string
  readonly publication: string
  readonly groupId: string
  readonly routeFormat: RouteFormat
}

/**
 * Resolves the CDC configuration from flags, then the environment, then the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load = (overrides: Config.Overrides<typeof settings> = {}): Effect.Effect<CdcConfig, RunnerError> =>
  Effect.map(Config.load(settings, overrides), (v) => ({
    bootstrapServers: Config.get(v.bootstrapServers),
    rawTopic: Config.get(v.rawTopic),
    deadLetterTopic: Config.get(v.cdcDeadLetterTopic),
    topicPrefix: Config.get(v.topicPrefix),
    slot: Config.get(v.slot),
    publication: Config.get(v.publication),
    databaseUrl: v.databaseUrl,
    metricsPort: Config.get(v.metricsPort),
    groupId: Config.get(v.routeGroupId),
    routeFormat: Config.get(v.routeFormat),
    clientId: Config.get(v.clientId)
  }))

/**
 * The CDC settings as plain JSON for display, under `cdc` so that they sit
 * beside the other jobs' in `sluice config` (the shared ones are shown there
 * already).
 *
 * @since 0.1.0
 * @category formatting
 */
export const toDisplay = (config: CdcConfig): Record<string, unknown> => ({
  cdc: {
    rawTopic: config.rawTopic,
    deadLetterTopic: config.deadLetterTopic,
    topicPrefix: config.topicPrefix,
    slot: config.slot,
    publication: config.publication,
    groupId: config.groupId,
    routeFormat: config.routeFormat,
    databaseUrl: Option.match(config.databaseUrl, { onNone: () => null, onSome: Config.displayUrl })
  }
})
